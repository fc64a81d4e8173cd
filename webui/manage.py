"""Study management from the web UI and the API: notes, tags, archive, delete, and the spec
as it was submitted (clone it into the editor).

Changes are checked at the door: every problem at once, each naming its field and value
(:class:`BadParam`, a 400), nothing written. Who may: the study's owner or an admin
(``webui/auth.py`` OWNED).
"""
from __future__ import annotations

import re
from typing import Any, Callable

import yaml

from hpsearch.store.models import Study, utcnow
from webui.errors import BadParam
from webui.markdown import MAX_NOTES
from webui.queries import store

TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
MAX_TAGS = 20


def parse_tags(raw: Any) -> list[str]:
    """Tags from a list, or from text separated by commas or spaces; BadParam lists the bad ones."""
    if isinstance(raw, str):
        raw = [t for t in re.split(r"[,\s]+", raw) if t]
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise BadParam(f"tags must be a list of words, got {raw!r}")
    bad = [t for t in raw if not TAG.match(t)]
    problems = [f"tag {t!r} must be 1-40 letters, digits, '_', '.' or '-' (starting with a "
                "letter or digit)" for t in bad]
    tags = list(dict.fromkeys(raw))
    if len(tags) > MAX_TAGS:
        problems.append(f"tags: at most {MAX_TAGS}, got {len(tags)}")
    if problems:
        raise BadParam("; ".join(problems))
    return tags


def parse_notes(raw: Any, field: str = "notes") -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadParam(f"{field} must be text (Markdown), got {type(raw).__name__}")
    if len(raw) > MAX_NOTES:
        raise BadParam(f"{field} must be at most {MAX_NOTES:,} characters, got {len(raw):,}")
    return raw.replace("\r\n", "\n").strip() or None


def parse_changes(body: Any) -> dict:
    """The study columns a PATCH body sets: ``notes``, ``tags``, ``archived`` (every problem
    named at once)."""
    if not isinstance(body, dict) or not body:
        raise BadParam('the body must be a JSON object with any of "notes", "tags", "archived"')
    problems, out = [], {}
    unknown = sorted(set(body) - set(CHANGES))
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}; fields: {', '.join(CHANGES)}")
    for key, parse in CHANGES.items():
        if key in body:
            try:
                out.update(parse(body[key]))
            except BadParam as exc:
                problems.append(str(exc))
    if problems:
        raise BadParam("; ".join(problems))
    return out


def _archived(raw: Any) -> dict:
    if not isinstance(raw, bool):
        raise BadParam(f"archived must be true or false, got {raw!r}")
    return {"archived_at": utcnow() if raw else None}


CHANGES: dict[str, Callable[[Any], dict]] = {
    "notes": lambda v: {"notes": parse_notes(v)},
    "tags": lambda v: {"tags": parse_tags(v)},
    "archived": _archived,
}


def apply(study_id: int, changes: dict) -> None:
    if changes:
        store().annotate_study(study_id, **changes)


def delete(study_id: int) -> None:
    """Delete a study with its trials, results and events (a live one is refused: cancel first)."""
    from hpsearch.status import StudyStatus

    study = store().get_study(study_id)
    if study.status in StudyStatus.LIVE:
        raise BadParam(f"study {study.id} is {study.status}: cancel it before deleting it")
    store().delete_study(study_id)


def spec_yaml(study: Study) -> str:
    """The spec as it was submitted (its text), else the stored spec as YAML."""
    if study.spec_text:
        return study.spec_text
    return yaml.safe_dump(study.spec, sort_keys=False, allow_unicode=True)


def clone_text(study: Study) -> str:
    """The study's spec for the submit editor, renamed ``NAME-copy`` (names are unique)."""
    text = spec_yaml(study)
    new = f"{study.name}-copy"
    renamed, n = re.subn(r"(?m)^name:[^\n]*$", "name: " + yaml.safe_dump(new).strip().removesuffix("\n..."),
                         text, count=1)
    return renamed if n else f"name: {new}\n" + text
