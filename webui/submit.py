"""Submitting a spec: validate server-side, then queue a study."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from hpsearch import spec as specmod
from hpsearch.exceptions import SpecError
from hpsearch.store import StudyStatus
from hpsearch.store.models import Study
from webui.queries import store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def templates() -> dict[str, str]:
    """Starting specs: each registered family's template (its registry entry, no torch
    import; examples/<family>.yaml holds the same), then any other examples/*.yaml."""
    import trainables

    out = {}
    for name in trainables.names():
        if name in trainables.BUILTIN:
            info = trainables.describe(name)
            out[name] = f"# {info.description}\n" + yaml.safe_dump(info.template, sort_keys=False)
    if EXAMPLES.is_dir():
        out |= {p.stem: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.yaml"))
                if p.stem not in out}
    return out


def queue(raw: dict | str, *, owner: str | None = None, idempotency_key: str | None = None) -> Study:
    """Validate a spec (dict or YAML/JSON text) and queue it; SpecError lists every problem."""
    refuse_outside_the_boundary()
    data = specmod.parse_text(raw) if isinstance(raw, str) else raw
    # allow_import=False: a web user never names a module:function to import.
    spec = specmod.validate(data, allow_import=False)
    from hpsearch import teachers

    teachers.check(spec, store())  # a teacher that does not fit is a field error, as any
    if owner is None:  # the logged-in user (or token holder) owns what they submit
        from webui.auth import owner_name

        owner = owner_name()
    from hpsearch.cold_start import resolve

    st = store()
    row = st.create_study(spec, owner=owner, status=StudyStatus.QUEUED,
                          idempotency_key=idempotency_key, init_source=resolve(spec, st))
    if row.spec_text is None:  # the spec as submitted, shown on the study page and cloned
        text = raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
        st.annotate_study(row.id, spec_text=text)
    return row


def refuse_outside_the_boundary() -> None:
    """403 for a member's study where trials would run as the service's own user."""
    from flask import current_app
    from werkzeug.exceptions import Forbidden

    from webui.auth import principal

    if current_app.config.get("MEMBER_STUDIES", "local") != "refused":
        return
    who = principal()
    if who is not None and who.has("admin"):
        return
    raise Forbidden("members' studies are refused here: trials would run as the service's own "
                    "OS user, which holds the database and the session key. The operator sets "
                    "HPSEARCH_TRIAL_USER (docs/security.md), or HPSEARCH_SINGLE_USER=1 for a "
                    "deployment only they use")


def read_upload(file) -> str | None:
    """The text of an uploaded spec file (None when no file was chosen); SpecError if not text."""
    if file is None or not file.filename:
        return None
    data = file.read(specmod.MAX_SPEC_BYTES + 1)
    if len(data) > specmod.MAX_SPEC_BYTES:
        raise SpecError(f"larger than {specmod.MAX_SPEC_BYTES} bytes", "spec_file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{file.filename!r} is not UTF-8 text (a YAML or JSON spec)",
                        "spec_file") from None

_PART = re.compile(r"[^.\[\]]+|\[\d+\]")
_AT_LINE = re.compile(r"at line (\d+)")


def located(text: str, problems: list[tuple[str, str]]) -> list[dict]:
    """Each problem with the editor line of its field (``budget.trials`` -> its key's line)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    except yaml.YAMLError:
        root = None
    out = []
    for field, message in problems:
        line = _line(root, field)
        if line is None and (m := _AT_LINE.search(message)):
            line = int(m.group(1))
        out.append({"field": field, "message": message, "line": line})
    return out


def _line(node, field: str) -> int | None:
    line = None
    for part in _PART.findall(field):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and part.startswith("["):
            i = int(part[1:-1])
            if i >= len(node.value):
                break
            node = node.value[i]
            line = node.start_mark.line + 1
        else:
            break
    return line
