"""What each built-in family shows besides its metrics, recorded at chosen epochs.

A family's ``Recipe.media(setup)`` returns ``{name: image array or plotly figure}``;
:func:`record` calls it at the first and last epoch and every ``k``-th
(``$HPSEARCH_MEDIA_EVERY``, see hpsearch/media.py) and sends the result with
``hpsearch.log_image`` / ``log_figure``. Inputs that are not images (user features
whose width is not a square) get no image media. Everything is drawn from fixed
inputs (the first validation rows, noise from a fixed seed), so epochs compare.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from trainables._harness import Setup

MEDIA_SEED = 0
N_SAMPLES = 16        # a 4x4 grid of samples
N_RECON = 8           # inputs beside their reconstructions
N_WRONG = 8           # most confidently misclassified examples
N_WINDOWS = 4         # forecast windows
SCALE = 4             # 8x8 digits drawn at 32x32


def record(s: "Setup", epoch: int) -> None:
    """Record the family's media for ``epoch`` when it is due (a no-op outside a study)."""
    from hpsearch import media_client

    if s.recipe.media is None or not media_client.due(epoch, s.cfg.epochs):
        return
    was_training = s.model.training
    s.model.eval()
    try:
        with torch.no_grad():
            items = s.recipe.media(s)
    finally:
        s.model.train(was_training)
    for name, value in items.items():
        if isinstance(value, dict) or hasattr(value, "to_plotly_json"):  # a figure, or its dict
            media_client.log_figure(name, value, epoch)
        else:
            media_client.log_image(name, value, epoch)


# -- building blocks --------------------------------------------------------------------
def as_images(x: torch.Tensor) -> np.ndarray | None:
    """(n, H, W) in [0, 1] from a batch of images, of rows (sequences) or of flat squares;
    None when the data are not images."""
    a = x.detach().float().cpu().numpy()
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    elif a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side != a.shape[1] or side < 4:
            return None
        a = a.reshape(len(a), side, side)
    elif a.ndim != 3 or a.shape[1] != a.shape[2]:
        return None
    return np.clip(a, 0.0, 1.0)


def grid(images: np.ndarray, cols: int, pad: int = 2) -> np.ndarray:
    """Tiles (n, H, W) into one grayscale image, each drawn SCALE times larger."""
    n, h, w = images.shape
    big = images.repeat(SCALE, 1).repeat(SCALE, 2)
    rows = -(-n // cols)
    H, W = h * SCALE + pad, w * SCALE + pad
    out = np.ones((rows * H + pad, cols * W + pad), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[pad + r * H:pad + r * H + h * SCALE, pad + c * W:pad + c * W + w * SCALE] = big[i]
    return out


def fixed_noise(n: int, size: int, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(MEDIA_SEED)
    return torch.randn(n, size, generator=g).to(device)


def beside(inputs: torch.Tensor, outputs: torch.Tensor) -> dict[str, Any]:
    """Inputs (top row) over their reconstructions (bottom row)."""
    a, b = as_images(inputs), as_images(outputs)
    if a is None or b is None:
        return {}
    return {"reconstructions": grid(np.concatenate([a, b]), cols=len(a))}


def logits_of(model, val, batch: int = 512) -> torch.Tensor:
    return torch.cat([model(val.x[i:i + batch]).float() for i in range(0, len(val.x), batch)])


def classifier(s: "Setup") -> dict[str, Any]:
    """A confusion matrix on the validation split and its most confidently wrong examples.

    The matrix is a plotly figure written as its dict: building a ``go.Figure`` in the trial
    imports plotly and its validators (about 0.5 s of CPU in each new Ray worker, paid in
    the first epoch of its first trial); the store and the web UI read the same JSON."""
    probs = torch.softmax(logits_of(s.model, s.val), 1).cpu()
    y = s.val.y.cpu()
    pred = probs.argmax(1)
    k = probs.shape[1]
    cm = torch.zeros(k, k, dtype=torch.long)
    cm.index_put_((y, pred), torch.ones_like(y), accumulate=True)
    labels = [str(i) for i in range(k)]
    out: dict[str, Any] = {"confusion": {
        "data": [{"type": "heatmap", "z": cm.tolist(), "x": labels, "y": labels,
                  "colorscale": "Blues", "text": cm.tolist(), "texttemplate": "%{text}",
                  "showscale": False}],
        "layout": {"xaxis": {"title": {"text": "predicted"}},
                   "yaxis": {"title": {"text": "true"}, "autorange": "reversed"},
                   "width": 420, "height": 400, "margin": {"l": 50, "r": 10, "t": 30, "b": 50},
                   "title": {"text": "validation confusion matrix"}}}}
    wrong = (pred != y).nonzero().flatten()
    images = as_images(s.val.x[wrong.to(s.val.x.device)]) if len(wrong) else None
    if images is not None:
        conf = probs[wrong, pred[wrong]]
        top = conf.argsort(descending=True)[:N_WRONG].tolist()
        out["misclassified"] = labelled(images[top], [
            (f"{int(y[wrong[j]])}>{int(pred[wrong[j]])}", f"{float(conf[j]):.2f}") for j in top])
    return out


def labelled(images: np.ndarray, captions: list[tuple[str, str]]) -> np.ndarray:
    """One row of tiles with two caption lines under each (true>predicted, confidence)."""
    from PIL import Image, ImageDraw, ImageFont

    tiles = grid(images, cols=len(images))
    tile_w = (tiles.shape[1] - 2) // len(images)
    canvas = Image.new("L", (tiles.shape[1], tiles.shape[0] + 26), 255)
    canvas.paste(Image.fromarray((tiles * 255).astype(np.uint8)), (0, 0))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=11)
    for i, (first, second) in enumerate(captions):
        x = 2 + i * tile_w
        draw.text((x + 1, tiles.shape[0]), first, fill=0, font=font)
        draw.text((x + 1, tiles.shape[0] + 12), second, fill=90, font=font)
    return np.asarray(canvas)


def forecast(s: "Setup") -> dict[str, Any]:
    """The forecast against the truth on the first validation windows."""
    from plotly.subplots import make_subplots

    x, y = s.val.x[:N_WINDOWS], s.val.y[:N_WINDOWS]
    pred = s.model(x).float().cpu().numpy()
    hist, truth = x[..., 0].float().cpu().numpy(), y.float().cpu().numpy()
    fig = make_subplots(rows=2, cols=2, subplot_titles=[f"window {i}" for i in range(len(x))])
    steps = hist.shape[1]
    for i in range(len(x)):
        r, c = divmod(i, 2)
        ahead = list(range(steps, steps + truth.shape[1]))
        fig.add_scatter(x=list(range(steps)), y=hist[i].tolist(), mode="lines", name="history",
                        line=dict(color="#888"), showlegend=i == 0, row=r + 1, col=c + 1)
        fig.add_scatter(x=ahead, y=truth[i].tolist(), mode="markers", name="truth",
                        marker=dict(color="#2e7d32", size=9), showlegend=i == 0, row=r + 1, col=c + 1)
        fig.add_scatter(x=ahead, y=pred[i].tolist(), mode="markers", name="forecast",
                        marker=dict(color="#c62828", symbol="x", size=9), showlegend=i == 0,
                        row=r + 1, col=c + 1)
    fig.update_layout(width=640, height=420, margin=dict(l=30, r=10, t=40, b=30))
    return {"forecast": fig}
