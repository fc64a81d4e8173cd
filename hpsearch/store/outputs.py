"""Reads of what trials printed and drew (trial_logs, trial_media); the writer writes them."""
from __future__ import annotations

from sqlalchemy import select

from hpsearch.exceptions import NotFoundError
from hpsearch.logtext import BoundedLog
from hpsearch.store.models import TrialLog, TrialMedia, TrialStatus

# A trial whose log may still grow.
LIVE = (TrialStatus.RUNNING, TrialStatus.PENDING, TrialStatus.PAUSED)


def trial_log(store, trial_id: int) -> BoundedLog:
    """The trial's bounded log (empty when it printed nothing yet)."""
    with store.session() as s:
        row = s.get(TrialLog, trial_id)
        if row is None:
            return BoundedLog()
        return BoundedLog(row.head, row.tail, row.total, row.cut)


def trial_media(store, trial_id: int) -> list[TrialMedia]:
    """The trial's media, by name then step."""
    with store.session() as s:
        return list(s.scalars(select(TrialMedia).where(TrialMedia.trial_id == trial_id)
                              .order_by(TrialMedia.name, TrialMedia.step)))


def media_of_trials(store, trial_ids: list[int]) -> list[TrialMedia]:
    with store.session() as s:
        return list(s.scalars(select(TrialMedia).where(TrialMedia.trial_id.in_(trial_ids))
                              .order_by(TrialMedia.trial_id, TrialMedia.name, TrialMedia.step)))


def media_item(store, trial_id: int, media_id: int) -> TrialMedia:
    with store.session() as s:
        row = s.get(TrialMedia, media_id)
        if row is None or row.trial_id != trial_id:
            raise NotFoundError(f"no media {media_id!r} in this trial")
        return row


def log_page(store, study_id: int, number: int, after: int = 0) -> dict:
    """A trial's log after position ``after``, as the API, the web page and the CLI show
    it: ``text`` and its ``end`` (ask again with ``after=end`` for what follows), ``live``
    while the trial may still print, ``cut`` characters dropped between head and tail."""
    t = store.get_trial(study_id, number)
    log = trial_log(store, t.id)
    text, end = log.since(after)
    return {"study_id": study_id, "number": number, "status": t.status, "live": t.status in LIVE,
            "after": after, "end": end, "text": text, "total": log.total, "cut": log.cut,
            "kept": len(log.head) + len(log.tail)}
