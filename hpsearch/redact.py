"""Errors shown to team members name the field and the reason, not the server's layout.

:func:`redact` replaces the paths of this installation (the Python prefix and its
site-packages, hpsearch's own folder, ``HPSEARCH_HOME``, the data roots, the temp
folder, the service user's home) with short placeholders, and process ids in
``/proc/PID/...`` or ``pid N`` with ``PID``. The web UI and the API pass every error
message, trial error and trial event through it; the driver logs and the CLI keep
the full text for the operator.

>>> redact("File \\"/usr/lib/python3.11/site-packages/x.py\\" ... /proc/4242/environ")  # doctest: +SKIP
'File "<python>/x.py" ... /proc/PID/environ'
"""
from __future__ import annotations

import functools
import os
import re
import sys
import sysconfig
import tempfile
from pathlib import Path

_PID = re.compile(r"(/proc/)\d+\b|\b(pid )\d+\b")


def _places() -> tuple[tuple[str, str], ...]:
    from hpsearch.settings import settings

    s = settings()
    return _places_for(s.data_roots, s.home, os.environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _places_for(_roots, _home, _user_home) -> tuple[tuple[str, str], ...]:
    """(path, placeholder), longest path first, so that the most specific one wins
    (cached per configuration: the arguments are the variables the paths come from)."""
    from hpsearch.data_roots import data_roots
    from hpsearch.store.store import home

    places: dict[str, str] = {}

    def add(path, label: str) -> None:
        if not path:
            return
        for p in {str(Path(path)), str(Path(path).resolve())}:
            if len(p) > 1:
                places.setdefault(p, label)

    for root in data_roots():
        add(root, "<data root>")
    add(home(), "<hpsearch home>")
    for key in ("purelib", "platlib", "stdlib", "platstdlib"):
        add(sysconfig.get_paths().get(key), "<python>")
    add(sys.prefix, "<python>")
    add(sys.base_prefix, "<python>")
    add(Path(__file__).resolve().parents[1], "<hpsearch>")
    add(tempfile.gettempdir(), "<tmp>")
    add(os.path.expanduser("~"), "<home>")
    return tuple(sorted(places.items(), key=lambda kv: -len(kv[0])))


def redact(text: str | None) -> str | None:
    """``text`` without this server's paths and process ids (None stays None)."""
    if not text:
        return text
    for path, label in _places() if "/" in text else ():
        text = text.replace(path, label)
    return _PID.sub(lambda m: (m.group(1) or m.group(2)) + "PID", text)
