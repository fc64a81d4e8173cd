"""Dataset paths in specs from the network must stay inside the configured data roots.

``HPSEARCH_DATA_ROOTS`` lists the roots (separated by ``os.pathsep``); the default
is ``$HPSEARCH_HOME/data``. A spec from the web UI or the API (validated with
``allow_import=False``) may name a file only under a root: its path is
percent-decoded first, then refused if it holds ``..``, starts with ``~``, or
resolves (symlinks followed) outside every root. A relative path is read from
the first root. Specs run from the local CLI are the user's own and are not
limited (they may already run the user's own code).

>>> resolve_dataset("train.csv#label", [Path("/srv/data")])   # doctest: +SKIP
'/srv/data/train.csv#label'
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from hpsearch.exceptions import SpecError


def data_roots() -> list[Path]:
    """The configured roots, absolute (``HPSEARCH_DATA_ROOTS``, else ``$HPSEARCH_HOME/data``)."""
    from hpsearch.settings import settings

    return list(settings().data_roots)


def check_data_roots() -> None:
    """ConfigError naming ``HPSEARCH_DATA_ROOTS`` when a root it lists is not a readable
    folder (the service checks at start; the default root may not exist yet)."""
    from hpsearch.exceptions import ConfigError
    from hpsearch.settings import settings

    if settings().data_roots_set:
        for root in settings().data_roots:
            if not root.is_dir():
                raise ConfigError(f"{str(root)!r} is not a folder", "HPSEARCH_DATA_ROOTS")
            if not os.access(root, os.R_OK | os.X_OK):
                raise ConfigError(f"{str(root)!r} is not readable", "HPSEARCH_DATA_ROOTS")


def looks_like_path(value: str) -> bool:
    """A dataset value naming a file (built-in set names such as ``digits`` do not)."""
    part = value.split("#", 1)[0]
    return any(c in part for c in "/\\%~") or part.startswith(".") \
        or part.lower().endswith((".npz", ".csv"))


def _decode(value: str) -> str:
    # Decode until stable, so %252e%252e (encoded twice) is seen as .. too.
    for _ in range(5):
        decoded = unquote(value)
        if decoded == value:
            return value
        value = decoded
    raise SpecError(f"too many levels of %-encoding in {value!r}", "dataset")


def resolve_dataset(value: str, roots: list[Path] | None = None) -> str:
    """``value`` as an absolute path inside a data root (``#column`` kept), or SpecError."""
    roots = data_roots() if roots is None else roots
    path_part, sep, column = value.partition("#")
    decoded = _decode(path_part)
    # The server's layout (the roots, where a link leads) is not shown: the operator knows
    # the roots, a member names files relative to them.
    where = " (a path relative to the data roots, HPSEARCH_DATA_ROOTS)"
    if "\x00" in decoded:
        raise SpecError(f"a NUL character in the path {value!r}", "dataset")
    parts = Path(decoded.replace("\\", "/")).parts
    if ".." in parts:
        raise SpecError(f"'..' is not allowed in a dataset path, got {value!r}{where}", "dataset")
    if decoded.startswith("~"):
        raise SpecError(f"'~' is not allowed in a dataset path, got {value!r}{where}", "dataset")
    if not roots:
        raise SpecError("no data roots are configured (HPSEARCH_DATA_ROOTS)", "dataset")
    candidate = Path(decoded) if Path(decoded).is_absolute() else roots[0] / decoded
    real = candidate.resolve()  # follows every symlink on the way
    for root in roots:
        if real.is_relative_to(root.resolve()):
            return str(real) + (sep + column if sep else "")
    if candidate.absolute() != real:
        raise SpecError(f"{value!r} leads through a symbolic link outside the data roots{where}",
                        "dataset")
    raise SpecError(f"{value!r} is outside the data roots{where}", "dataset")
