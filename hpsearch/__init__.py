"""hpsearch: hyperparameter search on Ray Tune, persisted to SQL, compared in a web UI.

    import hpsearch
    study = hpsearch.run("spec.yaml")
    study.best_trial, study.to_dataframe()
"""
from hpsearch.api import (Study, compare, list_studies, load_study, resume, run, submit,
                          trainable)
from hpsearch.exceptions import (ConflictError, HpsearchError, NotFoundError, SpecError,
                                 StorageError)
from hpsearch.reporting import report

__version__ = "0.1.0"
__all__ = ["submit", "run", "resume", "load_study", "list_studies", "compare", "trainable", "report", "Study",
           "HpsearchError",
           "SpecError", "StorageError", "NotFoundError", "ConflictError"]
