"""hpsearch: hyperparameter search on Ray Tune, persisted to SQL, compared in a web UI.

    import hpsearch
    study = hpsearch.run("spec.yaml")
    study.best_trial, study.to_dataframe()

The names below load their modules on first use (PEP 562), so ``import hpsearch``
stays cheap: a Ray worker running a trial that calls ``hpsearch.report`` loads
only hpsearch/reporting.py, not the store, the spec model or Ray Tune's searchers.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hpsearch.exceptions import (ConflictError, HpsearchError, NotFoundError, SpecError,
                                 StorageError)

if TYPE_CHECKING:
    from hpsearch.api import (Study, compare, export_model, list_studies, load_study, resume, run,
                              submit)
    from trainables import trainable
    from hpsearch.media_client import log_figure, log_image
    from hpsearch.reporting import report

__version__ = "0.1.0"
_LAZY = {name: "hpsearch.api" for name in ("Study", "compare", "list_studies", "load_study",
                                           "resume", "run", "submit", "export_model")}
_LAZY["trainable"] = "trainables"  # light: a trial's module marks its functions without the store
_LAZY["report"] = "hpsearch.reporting"
_LAZY["log_image"] = _LAZY["log_figure"] = "hpsearch.media_client"
__all__ = ["submit", "run", "resume", "load_study", "list_studies", "compare", "trainable", "report",
           "export_model",
           "log_image", "log_figure",
           "Study", "HpsearchError", "SpecError", "StorageError", "NotFoundError", "ConflictError"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:  # a submodule used as an attribute (hpsearch.store after `import hpsearch`)
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
