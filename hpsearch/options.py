"""Option schemas: how a plug-in declares what a spec may set, and how problems read.

Every searcher, scheduler and model family declares its options as a small
pydantic model deriving from :class:`Options`, in a light module next to its
registry entry (``searchers/_options.py``, ``hpsearch/schedulers.py``,
``trainables/_options.py``). The spec validator, the trainables' config parser,
the docs and the web form all read these declarations; adding an option is one
line in one class::

    class Bayesian(Options):
        n_initial_points: Int = Field(10, ge=1, le=MAX_TRIALS)

This module imports pydantic only: validating a spec never imports torch, Ray,
scikit-optimize or DEAP.
"""
from __future__ import annotations

import math
import re
from typing import Annotated, Any, Iterable, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from hpsearch.exceptions import nearest

# A spec's largest budget; also the cap on options counted in trials.
MAX_TRIALS = 100_000


def _plain(value: Any) -> Any:
    """numpy scalars (searchers and YAML hand them over) as plain Python values."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def _to_int(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)  # 32.0 from a searcher or a JSON client is 32
    return value


def _to_bool(value: Any) -> Any:
    value = _plain(value)
    if type(value) is int and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _to_float(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, bool):
        return value  # strict float refuses it: True is not a learning rate
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


# Field types for options: strict (no strings for numbers, no booleans for numbers),
# but numpy scalars, 32.0 for an integer and 0/1 for a boolean are accepted.
Int = Annotated[int, BeforeValidator(_to_int)]
Float = Annotated[float, BeforeValidator(_to_float)]
Bool = Annotated[bool, BeforeValidator(_to_bool)]


class Options(BaseModel):
    """Base of every option schema: unknown names are errors, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False,
                              allow_inf_nan=False)

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.model_fields)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {k: f.get_default(call_default_factory=True) for k, f in cls.model_fields.items()}


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def field_path(loc: tuple | list, prefix: str = "") -> str:
    """A field's path as users write it (``budget.trials``, ``space.lr``); a key that is
    blank or holds dots, spaces or other odd characters is quoted (``space.['a b']``)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(str(part)):
            out += f".[{str(part)!r}]" if out else f"[{str(part)!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "spec"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def unknown_name(words: str, name: Any, valid: Iterable[str] | None) -> str:
    """``words`` for an unknown ``name``, then the known name it is near (a typo), then every
    known name: ``unknown field (did you mean 'cpu'?); valid: workers, cpu, ...``."""
    if valid is None:
        return words
    valid = list(valid)
    near = nearest(str(name), valid)
    return (words + (f" (did you mean {near!r}?)" if near else "")
            + f"; valid: {', '.join(valid) or 'none'}")


def fields_at(model: type[BaseModel], path: tuple) -> list[str] | None:
    """The field names of the model found at ``path`` (keys and list indexes) under
    ``model``, or None where the path leaves the models (a free-form mapping)."""
    for key in path:
        if isinstance(key, int):
            continue  # an item of a list: the fields of the list's item model
        field = model.model_fields.get(key)
        model = _model_in(field.annotation) if field is not None else None
        if model is None:
            return None
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next(filter(None, map(_model_in, get_args(annotation))), None)


def problems_of(exc: ValidationError, prefix: str = "", *, unknown: str = "unknown field",
                valid: list[str] | None = None,
                model: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    """``(field, message)`` for each error pydantic found, each naming the value.

    ``unknown`` words an unknown key (``unknown option for searcher 'bayesian'``;
    ``{key}`` in it becomes the key); the known names follow it, the nearest first when it
    looks like a typo: ``valid``, or those of ``model`` at the key's place.
    """
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        field = field_path(loc, prefix)
        if err["type"] == "extra_forbidden":
            names = valid if valid is not None or model is None else fields_at(model, loc[:-1])
            key = loc[-1] if loc else ""
            out.append((field, unknown_name(unknown.replace("{key}", repr(key)), key, names)))
        elif err["type"] == "missing":
            out.append((field, "required field is missing"))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            out.append((field, f"{msg}, got {_short(err.get('input'))}"))
    return out


def check(schema: type[Options], data: Any, prefix: str, *, what: str) -> tuple[dict, list]:
    """Validate ``data`` against ``schema``: (options with defaults, problems).

    ``what`` names the owner in messages (``searcher 'bayesian'``).
    """
    if not isinstance(data, dict):
        return {}, [(prefix, f"must be a mapping of options, got {_short(data)}")]
    try:
        model = schema.model_validate(data)
    except ValidationError as exc:
        return {}, problems_of(exc, prefix, unknown=f"unknown option for {what}",
                               valid=schema.names())
    return {**schema.defaults(), **model.model_dump(exclude_unset=True)}, []
