"""``hpsearch.log_image`` / ``hpsearch.log_figure``: media a trial records, sent like its log.

    import hpsearch

    def train(config):
        for epoch in range(10):
            ...
            hpsearch.log_image("samples", grid, step=epoch)          # HxW, HxWxC or CxHxW
            hpsearch.log_figure("forecast", plotly_figure, step=epoch)
            hpsearch.report({"loss": loss})

The trial side only packs the data (an array as compressed 8-bit pixels, a
matplotlib figure as PNG, a plotly figure as JSON) and hands it to the study's
sink without waiting; the driver decodes and re-encodes it, writes the file under
the service's media folder and its metadata to SQL (hpsearch/media.py). Each trial
may record at most ``media_items`` items and ``media_bytes`` bytes (spec-independent
service limits, hpsearch/media.py); past that, items are dropped and the trial's
log says so once. Outside a study nothing is recorded and the functions return False.
"""
from __future__ import annotations

import json
import logging
import re
import zlib
from typing import Any, Callable

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- /]{0,99}$")
MAX_SIDE = 4096
log = logging.getLogger("hpsearch.media")


class _Budget:
    def __init__(self, send: Callable[[dict], object], items: int, nbytes: int, every: int):
        self.send, self.items, self.nbytes, self.every = send, items, nbytes, max(1, every)
        self.used_items = self.used_bytes = 0
        self.warned = False

    def take(self, item: dict, size: int) -> bool:
        if self.used_items + 1 > self.items or self.used_bytes + size > self.nbytes:
            if not self.warned:
                self.warned = True
                log.warning("media limit reached (%d items, %d bytes per trial): %r at step %s "
                            "and later media are not recorded", self.items, self.nbytes,
                            item["name"], item["step"])
            return False
        self.used_items += 1
        self.used_bytes += size
        self.send(item)
        return True


_current: _Budget | None = None


def start_trial(send: Callable[[dict], object], items: int, nbytes: int, every: int = 5) -> None:
    global _current
    _current = _Budget(send, items, nbytes, every)


def due(epoch: int, epochs: int) -> bool:
    """Whether a family records its media at ``epoch`` (1-based) of ``epochs``: the
    first, the last and every ``every``-th (``$HPSEARCH_MEDIA_EVERY``); never outside a study."""
    if _current is None or _current.items <= 0:
        return False
    return epoch == 1 or epoch == epochs or epoch % _current.every == 0


def end_trial() -> None:
    global _current
    _current = None


def _check(name: Any, step: Any) -> tuple[str, int]:
    problems = []
    if not isinstance(name, str) or not NAME.match(name):
        problems.append(f"name must be 1-100 letters, digits, spaces or _ . - / "
                        f"(starting with a letter or digit), got {name!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        try:
            import numpy as np

            ok = isinstance(step, np.integer) and step >= 0
        except ImportError:
            ok = False
        if not ok:
            problems.append(f"step must be a whole number >= 0, got {step!r}")
    if problems:
        raise ValueError("; ".join(problems))
    return name, int(step)


def pack_image(image: Any) -> dict:
    """An array (HxW, HxWxC or CxHxW; floats in [0, 1] or 8-bit) or a matplotlib figure,
    as the payload the sink carries."""
    if hasattr(image, "savefig"):  # a matplotlib figure
        import io

        buf = io.BytesIO()
        image.savefig(buf, format="png", dpi=80)
        return {"kind": "image", "png": buf.getvalue()}
    import numpy as np

    if hasattr(image, "detach"):  # a torch tensor
        image = image.detach().cpu().numpy()
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # CxHxW (PyTorch's layout) -> HxWxC
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)) \
            or min(a.shape[:2]) < 1 or max(a.shape[:2]) > MAX_SIDE:
        raise ValueError(f"an image must be HxW, HxWx3/4 or 3/4xHxW with sides of 1 to "
                         f"{MAX_SIDE} pixels, got shape {tuple(a.shape)}")
    if a.dtype != np.uint8:
        a = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return {"kind": "image", "shape": list(a.shape),
            "data": zlib.compress(np.ascontiguousarray(a).tobytes(), 6)}


def pack_figure(figure: Any) -> dict:
    """A plotly figure (or its dict) as JSON text."""
    if hasattr(figure, "to_json"):
        text = figure.to_json()
    elif isinstance(figure, dict):
        text = json.dumps(figure)
    else:
        raise ValueError(f"a figure must be a plotly Figure or its dict, got {type(figure).__name__}")
    return {"kind": "plotly", "json": text}


def _payload_size(item: dict) -> int:
    return len(item.get("data") or item.get("png") or item.get("json") or b"")


def _record(name: Any, step: Any, pack: Callable[[Any], dict], obj: Any) -> bool:
    name, step = _check(name, step)
    if _current is None:
        return False
    item = {**pack(obj), "name": name, "step": step}
    return _current.take(item, _payload_size(item))


def log_image(name: str, image: Any, step: int) -> bool:
    """Record an image (array or matplotlib figure) at ``step``; True when sent."""
    return _record(name, step, pack_image, image)


def log_figure(name: str, figure: Any, step: int) -> bool:
    """Record a plotly figure at ``step``; True when sent."""
    return _record(name, step, pack_figure, figure)
