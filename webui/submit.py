"""Submitting a spec: validate server-side, then queue a study."""
from __future__ import annotations

from pathlib import Path

from hpsearch import spec as specmod
from hpsearch.store import StudyStatus
from hpsearch.store.models import Study
from webui.queries import store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def templates() -> dict[str, str]:
    """Per-family starting specs, read from examples/<family>.yaml (no torch import)."""
    if not EXAMPLES.is_dir():
        return {}
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.yaml"))}


def queue(raw: dict | str, *, owner: str | None = None, idempotency_key: str | None = None) -> Study:
    """Validate a spec (dict or YAML/JSON text) and queue it; SpecError lists every problem."""
    data = specmod.parse_text(raw) if isinstance(raw, str) else raw
    # allow_import=False: a web user never names a module:function to import.
    spec = specmod.validate(data, allow_import=False)
    if owner is None:  # the logged-in user (or token holder) owns what they submit
        from webui.auth import owner_name

        owner = owner_name()
    return store().create_study(spec, owner=owner, status=StudyStatus.QUEUED,
                                idempotency_key=idempotency_key)
