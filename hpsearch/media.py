"""Trial media on the service side: decode, re-encode, store, read back, delete.

What a trial sends (hpsearch/media_client.py) is never stored or served as sent:
an image is decoded (Pillow, with a pixel limit) and written as a fresh PNG; a
plotly figure is parsed and validated by plotly and written as plotly's own JSON.
Files live under the media folder, ``$HPSEARCH_MEDIA_DIR`` (default
``$HPSEARCH_HOME/media``), which every web replica and every driver must share
(docs/deployment.md); SQL holds their metadata (``trial_media``). A study's media
are deleted with the study (:func:`remove_study_media`).
"""
from __future__ import annotations

import io
import os
import re
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

MAX_PIXELS = 4096 * 4096
MAX_FIGURE_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class MediaLimits:
    """Per trial: items and bytes recorded at most; ``every``: the families record at
    their first and last epoch and every ``every``-th between."""

    items: int = 48
    bytes: int = 4 * 1024 * 1024
    every: int = 5

    @classmethod
    def from_env(cls) -> "MediaLimits":
        """``HPSEARCH_MEDIA_MAX_ITEMS``, ``HPSEARCH_MEDIA_MAX_BYTES``, ``HPSEARCH_MEDIA_EVERY``
        (read and checked by hpsearch/settings.py)."""
        from hpsearch.settings import settings

        s = settings()
        return cls(items=s.media_max_items, bytes=s.media_max_bytes, every=s.media_every)


@dataclass(frozen=True)
class Encoded:
    data: bytes
    ext: str
    content_type: str
    width: int | None = None
    height: int | None = None


def media_root() -> Path:
    from hpsearch.settings import settings

    return settings().media_dir


def _encode_image(item: dict) -> Encoded:
    from PIL import Image

    if "png" in item:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # a decompression bomb is refused, not decoded
        with Image.open(io.BytesIO(item["png"])) as im:
            if im.format != "PNG":
                raise ValueError(f"expected a PNG, got {im.format}")
            im.load()
            img = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    else:
        shape = [int(x) for x in item["shape"]]
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (3, 4)) \
                or min(shape[:2]) < 1 or shape[0] * shape[1] > MAX_PIXELS:
            raise ValueError(f"bad image shape {shape}")
        size = shape[0] * shape[1] * (shape[2] if len(shape) == 3 else 1)
        raw = zlib.decompressobj().decompress(item["data"], size + 1)  # bounded: no zlib bomb
        if len(raw) != size:
            raise ValueError(f"image data holds {len(raw)} bytes, its shape {shape} needs {size}")
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[shape[2] if len(shape) == 3 else 1]
        img = Image.frombytes(mode, (shape[1], shape[0]), raw)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return Encoded(out.getvalue(), "png", "image/png", img.width, img.height)


def _encode_plotly(item: dict) -> Encoded:
    import plotly.io as pio

    text = item["json"]
    if len(text) > MAX_FIGURE_BYTES:
        raise ValueError(f"the figure's JSON is {len(text)} bytes, at most {MAX_FIGURE_BYTES}")
    fig = pio.from_json(text, skip_invalid=False)  # plotly's validators: unknown keys refused
    return Encoded(fig.to_json().encode(), "json", "application/json")


# kind -> its encoder (a new kind of media adds an entry here)
ENCODERS: dict[str, Callable[[dict], Encoded]] = {"image": _encode_image, "plotly": _encode_plotly}
CONTENT_TYPES = {"png": "image/png", "json": "application/json"}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:80] or "media"


def save(study_id: int, ray_id: str, item: dict) -> dict:
    """Re-encode ``item`` and write its file; the metadata for the ``media`` writer op.
    Raises ValueError for an item that does not decode."""
    kind = item.get("kind")
    encode = ENCODERS.get(kind)
    if encode is None:
        raise ValueError(f"unknown media kind {kind!r}; kinds: {', '.join(ENCODERS)}")
    enc = encode(item)
    rel = Path(f"study-{int(study_id)}") / _slug(ray_id) / \
        f"{_slug(item['name'])}-{int(item['step'])}.{enc.ext}"
    path = media_root() / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(enc.data)
    os.replace(tmp, path)
    return {"name": item["name"], "step": int(item["step"]), "kind": kind, "path": rel.as_posix(),
            "bytes": len(enc.data), "width": enc.width, "height": enc.height}


def resolve(rel: str) -> Path:
    """The file of a stored relative path (never outside the media folder)."""
    root = media_root().resolve()
    path = (root / rel).resolve()
    if root not in path.parents:
        raise ValueError(f"media path {rel!r} is outside the media folder")
    return path


def remove_study_media(study_id: int) -> None:
    shutil.rmtree(media_root() / f"study-{int(study_id)}", ignore_errors=True)


def load(kind: str, rel: str):
    """A stored item as the Python API returns it: a numpy array (HxWxC uint8) or a
    plotly Figure."""
    data = resolve(rel).read_bytes()
    if kind == "plotly":
        import plotly.io as pio

        return pio.from_json(data.decode())
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA" if "A" in im.getbands() else "RGB"))

