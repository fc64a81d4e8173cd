"""Tiny trainables that print, log and draw (importable by Ray workers)."""
from __future__ import annotations

import logging
import os
import sys
import time

import hpsearch

log = logging.getLogger("user.trainable")


def chatty(config: dict) -> None:
    """Prints to stdout and stderr, logs, prints its environment; optionally floods the
    log (``flood`` characters) and fails at the end (``fail``)."""
    print(f"hello from stdout x={config['x']:.3f}")
    print("a line on stderr", file=sys.stderr)
    log.info("an info record from logging")
    print("ENV " + " ".join(f"{k}={v}" for k, v in sorted(os.environ.items())))
    flood = int(config.get("flood", 0))
    for i in range(flood // 100):
        print(f"{i:09d} " + "x" * 89)
    print("the last line before the end")
    if config.get("fail"):
        raise RuntimeError("chatty failed on purpose")
    hpsearch.report({"loss": config["x"] ** 2})


def slow_printer(config: dict) -> None:
    """Prints a numbered line every ``every_s`` seconds: ``lines`` lines, then on until the
    file ``release`` exists (at most 2 minutes), then ``released``."""
    release = config.get("release")
    deadline = time.monotonic() + 120
    i = 0
    while i < int(config.get("lines", 20)) or (
            release and not os.path.exists(release) and time.monotonic() < deadline):
        print(f"tick {i}", flush=True)
        time.sleep(float(config.get("every_s", 0.5)))
        i += 1
    print("released")
    hpsearch.report({"loss": config["x"]})


def drawing(config: dict) -> None:
    """Records an array image, a matplotlib figure and a plotly figure at two steps."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    for step in (1, 2):
        grad = np.linspace(0, 1, 32 * 48, dtype=np.float32).reshape(32, 48)
        hpsearch.log_image("gradient", np.stack([grad, grad * config["x"], 1 - grad], -1), step)
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1, 2], [0, step, config["x"]])
        hpsearch.log_image("matplotlib", fig, step)
        plt.close(fig)
        hpsearch.log_figure("curve", go.Figure(go.Scatter(y=[1, step, config["x"]])), step)
        hpsearch.report({"loss": config["x"] / step})
