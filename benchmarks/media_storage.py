"""Media storage per trial, for each built-in family (what a study of N trials adds).

Each case trains the family's template config (its fixed values: 5 epochs) on its
default dataset, collects what the family records through the trial-side client
(``hpsearch.media_client``, as in a study) and stores it with the service's own
encoder (``hpsearch.media.save``: the PNG / plotly JSON files a study keeps), then
sums the files. Epochs recorded: first, last and every ``HPSEARCH_MEDIA_EVERY``-th
(default 5), so 5 epochs record 2 of each item and 20 epochs 5::

    .venv/bin/python -m benchmarks.media_storage            # ~1 min on 2 cores
"""
from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from pathlib import Path

import trainables
from hpsearch import media, media_client
from trainables import _harness

RESULTS = Path(__file__).resolve().parent / "results"
CASES = {"cnn": ("cnn", {}), "rnn (digits_rows)": ("rnn", {}), "rnn (sine)": ("rnn", {"dataset": "sine"}),
         "autoencoder": ("autoencoder", {}), "vae": ("vae", {}), "gan": ("gan", {})}


def measure(family: str, extra: dict, epochs: int) -> dict:
    recipe = importlib.import_module(trainables.BUILTIN[family]).RECIPE
    template = trainables.get_trainable(family).template
    config = {**template["fixed"], "seed": 0, **extra, "epochs": epochs}
    sent: list[dict] = []
    limits = media.MediaLimits.from_env()
    media_client.start_trial(sent.append, limits.items, limits.bytes, limits.every)
    try:
        _harness.run(recipe, config)
    finally:
        media_client.end_trial()
    metas = [media.save(1, "trial", item) for item in sent]
    return {"items": len(metas), "names": sorted({m["name"] for m in metas}),
            "bytes": sum(m["bytes"] for m in metas),
            "sent": sum(len(i.get("data") or i.get("png") or i.get("json") or b"") for i in sent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 20])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HPSEARCH_MEDIA_DIR"] = tmp
        for label, (family, extra) in CASES.items():
            for epochs in args.epochs:
                t = time.perf_counter()
                r = measure(family, extra, epochs)
                rows.append((label, epochs, r, time.perf_counter() - t))
                print(f"{label:18} {epochs:3} epochs: {r['items']:3} items {r['bytes'] / 1024:7.1f} KiB "
                      f"({', '.join(r['names'])})", flush=True)
    lines = ["# Media storage per trial", "",
             "`python -m benchmarks.media_storage` (" + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
             + f", HPSEARCH_MEDIA_EVERY={media.MediaLimits.from_env().every}). Files the service keeps "
             "(re-encoded PNG, plotly JSON) for one trial of each family's template config; "
             "SQL adds one small metadata row per item.", "",
             "| family | epochs | items | media | stored per trial | sent by the trial |", "|---|---|---|---|---|---|"]
    for label, epochs, r, _ in rows:
        lines.append(f"| {label} | {epochs} | {r['items']} | {', '.join(r['names'])} | "
                     f"{r['bytes'] / 1024:.1f} KiB | {r['sent'] / 1024:.1f} KiB |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "media_storage.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
