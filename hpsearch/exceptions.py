"""One error hierarchy for hpsearch.

Every error a user can cause derives from :class:`HpsearchError`; the CLI turns
them into one line and exit code 2, the web API into a JSON 4xx.
"""
from __future__ import annotations

from typing import Iterable


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name a misspelt ``name`` most likely meant, for a message's "did you
    mean": one that ``name`` begins or that begins with it (``grace`` for ``grace_period``,
    ``DB_URL`` for ``DB``; the closest in length), else a close spelling, else None."""
    import difflib

    known = list(known)
    near = sorted((k for k in known if len(name) >= 3 and (k.startswith(name) or
                                                           name.startswith(k))),
                  key=lambda k: abs(len(k) - len(name))) or \
        difflib.get_close_matches(name, known, n=1, cutoff=0.75)
    return near[0] if near else None


class HpsearchError(Exception):
    """Base class of every error hpsearch raises on purpose."""


class SpecError(HpsearchError):
    """A search spec is invalid.

    ``problems`` holds ``(field, message)`` pairs, one per problem, so that a
    form can show each message beside its field.
    """

    def __init__(self, problems: list[tuple[str, str]] | str, field: str | None = None):
        if isinstance(problems, str):
            problems = [(field or "spec", problems)]
        self.problems = list(problems)
        super().__init__("; ".join(f"{f}: {m}" for f, m in self.problems))

    def to_dict(self) -> dict:
        return {
            "error": "invalid spec",
            "message": str(self),
            "fields": [{"field": f, "message": m} for f, m in self.problems],
        }


class ConfigError(HpsearchError):
    """A setting (an ``HPSEARCH_*`` variable or its option) cannot be used: one line that
    names the setting (CLI exit 2)."""

    exit_code = 2

    def __init__(self, message: str, setting: str):
        self.setting = setting
        super().__init__(f"{setting}: {message}")


class StorageError(HpsearchError):
    """The database failed or its schema does not match this version."""


class NotFoundError(HpsearchError):
    """A study, trial or user does not exist."""


class ConflictError(HpsearchError):
    """The request conflicts with the current state (name taken, study finished...)."""
