"""Study and trial statuses, and their groups: defined here once, imported everywhere.

The values are the strings stored in SQL, so a status read from the database
compares equal to its member (``"COMPLETED" == TrialStatus.COMPLETED``) and a
group test works on either (``row.status in TrialStatus.SCORED``).

How imported (warm-start) trials count is decided here, by the groups they are
in: an IMPORTED trial is FINISHED (it never changes again) but neither DONE nor
SCORED. It was measured in another study, so it never becomes this study's best
trial, never counts toward the budget (``trials_done``), and is not drawn in
this study's charts; it is listed among the trials and counted under its own
status (``counts["IMPORTED"]``). See docs/architecture.md, "The read model".

    >>> TrialStatus.COMPLETED in TrialStatus.SCORED
    True
    >>> TrialStatus("IMPORTED").is_scored()
    False
"""
from __future__ import annotations

from enum import StrEnum


class StudyStatus(StrEnum):
    """Where a study is in its life."""

    QUEUED = "QUEUED"             # waiting for a dispatcher
    RUNNING = "RUNNING"           # a driver runs it
    COMPLETED = "COMPLETED"       # its search ended and some trial scored
    FAILED = "FAILED"             # every trial failed, or the driver could not run it
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"   # the driver died; `hpsearch resume` continues it

    def is_finished(self) -> bool:
        return self in StudyStatus.FINISHED


class TrialStatus(StrEnum):
    """Where a trial is in its life."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"                 # paused by a scheduler (ASHA/PBT), will resume
    COMPLETED = "COMPLETED"
    EARLY_STOPPED = "EARLY_STOPPED"   # stopped by a scheduler; its last value counts
    ERROR = "ERROR"
    INTERRUPTED = "INTERRUPTED"       # its process vanished; re-run or resumed on resume
    IMPORTED = "IMPORTED"             # told to the searcher from an earlier study (warm start)

    def is_scored(self) -> bool:
        return self in TrialStatus.SCORED

    def is_done(self) -> bool:
        return self in TrialStatus.DONE

    def is_finished(self) -> bool:
        return self in TrialStatus.FINISHED


class DeploymentStatus(StrEnum):
    """A served model's state (``hpsearch deploy``)."""

    PENDING = "PENDING"     # declared; a dispatcher will serve it
    RUNNING = "RUNNING"     # Ray Serve answers for it
    FAILED = "FAILED"       # serving it failed (``error`` says why); a dispatcher retries
    STOPPING = "STOPPING"   # undeploy requested; the serving host deletes the row, then the app


# -- groups: tuples of members, set on the classes (an Enum body cannot name its members) --
S, T = StudyStatus, TrialStatus
#: never changes again (a resume refuses these; `wait()` returns on these)
S.FINISHED = (S.COMPLETED, S.FAILED, S.CANCELLED)
#: a driver owns it now or will: neither finished nor waiting for a resume
S.LIVE = (S.QUEUED, S.RUNNING)
#: cancelling it needs no driver: it is marked CANCELLED at once
S.CANCEL_AT_ONCE = (S.QUEUED, S.INTERRUPTED)
#: every status, in life order (filters, choices, metrics)
S.ALL = tuple(S)

#: its value counts toward the study's best, its charts and its curves
T.SCORED = (T.COMPLETED, T.EARLY_STOPPED)
#: this study ran it to its end: counts toward the budget (`trials_done`)
T.DONE = (T.COMPLETED, T.EARLY_STOPPED, T.ERROR)
#: never changes again (a late write for it is dropped)
T.FINISHED = (T.COMPLETED, T.EARLY_STOPPED, T.ERROR, T.IMPORTED)
#: a driver owns it now; a dead driver's are marked INTERRUPTED
T.LIVE = (T.PENDING, T.RUNNING, T.PAUSED)
#: every status, in life order (filters, choices)
T.ALL = tuple(T)
del S, T


D = DeploymentStatus
#: a dispatcher keeps these served (and serves them again after a restart)
D.DECLARED = (D.PENDING, D.RUNNING, D.FAILED)
D.ALL = tuple(D)
del D

__all__ = ["DeploymentStatus", "StudyStatus", "TrialStatus"]
