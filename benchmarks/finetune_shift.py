"""Fine-tuning from a digits model vs training from scratch, on shifted digits (issue #18).

Two shifted variants are generated in-package from the bundled 8x8 digits and
written as user ``.npz`` files (so they go through the user-data path):

- ``noisy``: every image plus Gaussian noise (sigma 0.35), clipped to [0, 1];
- ``new classes``: the source model sees digits 0-4 only, the target is digits
  5-9 (labelled 0-4), fine-tuned with ``reset_head`` (a new output layer).

For each seed, the same CNN config is trained on the target from scratch and
from the source checkpoint (``init_checkpoint``: the code path a trial of an
``init_from`` study takes) for ``EPOCHS`` epochs. Reported: the from-scratch
best validation accuracy, and the epochs and wall time each run needs to reach
it (``-`` if never). Run: ``nice -n 10 python -m benchmarks.finetune_shift``.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import RESULTS, machine, machine_line, table

EPOCHS = 15
SEEDS = (0, 1, 2)
CONFIG = {"conv_layers": 2, "channels": 16, "lr": 3e-3, "batch_size": 64, "dropout": 0.1,
          "optimizer": "adam"}


def _variants(folder: Path) -> dict[str, tuple[str, str, bool]]:
    """name -> (source .npz, target .npz, reset_head)."""
    from trainables._data import _digits

    x, y = _digits()
    rng = np.random.default_rng(1234)
    noisy = np.clip(x + rng.normal(0, 0.35, x.shape), 0, 1).astype(np.float32)
    files = {}
    for name, (xs, ys) in {"digits": (x, y), "noisy": (noisy, y),
                           "low": (x[y < 5], y[y < 5]), "high": (x[y >= 5], y[y >= 5] - 5)}.items():
        path = folder / f"{name}.npz"
        np.savez(path, X=(xs * 16).round().astype(np.float32) if name != "noisy" else xs * 16, y=ys)
        files[name] = str(path)
    return {"noisy digits": (files["digits"], files["noisy"], False),
            "new classes (5-9 from 0-4)": (files["low"], files["high"], True)}


def _train(config: dict, checkpoint_dir: str | None = None) -> tuple[list[float], list[float]]:
    """(val accuracy per epoch, wall seconds at the end of each epoch)."""
    from trainables import _harness, cnn

    accs, times = [], []
    t0 = time.perf_counter()

    def report(metrics: dict, _directory: str) -> None:
        accs.append(metrics["val_accuracy"])
        times.append(time.perf_counter() - t0)

    _harness.run(cnn.RECIPE, config, reporter=report, checkpoint_dir=checkpoint_dir)
    return accs, times


def _reach(accs: list[float], times: list[float], target: float) -> tuple[int | None, float | None]:
    for i, a in enumerate(accs):
        if a >= target - 1e-9:
            return i + 1, times[i]
    return None, None


def main(argv: list[str] | None = None) -> list[dict]:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 6 epochs: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    epochs, seeds = (6, (0,)) if args.quick else (EPOCHS, SEEDS)
    m = machine()
    rows, summary, records = [], [], []
    with tempfile.TemporaryDirectory(prefix="hpsearch-finetune-") as tmp:
        folder = Path(tmp)
        for variant, (source_data, target_data, reset) in _variants(folder).items():
            ckpt = folder / f"source-{len(summary)}"
            src_acc, _ = _train({**CONFIG, "dataset": source_data, "epochs": epochs, "seed": 0}, str(ckpt))
            per_seed = []
            for seed in seeds:
                base = {**CONFIG, "dataset": target_data, "epochs": epochs, "seed": seed}
                scratch, t_scratch = _train(base)
                tuned, t_tuned = _train({**base, "init_checkpoint": str(ckpt), "reset_head": reset})
                target = max(scratch)
                e_s, w_s = _reach(scratch, t_scratch, target)
                e_f, w_f = _reach(tuned, t_tuned, target)
                per_seed.append((e_s, w_s, e_f, w_f))
                rows.append([variant, seed, f"{target:.3f}", e_s, f"{w_s:.1f}", e_f if e_f else "-",
                             f"{w_f:.1f}" if w_f else "-", f"{tuned[0]:.3f}", f"{scratch[0]:.3f}",
                             f"{max(tuned):.3f}"])
                print(rows[-1], file=sys.stderr, flush=True)
            reached = [p for p in per_seed if p[2] is not None]
            records.append({"variant": variant, "seeds": len(seeds), "reached": len(reached),
                            "epochs_scratch": statistics.mean(p[0] for p in per_seed),
                            "epochs_finetuned": statistics.mean(p[2] for p in reached) if reached else None})
            summary.append([variant, f"{max(src_acc):.3f}", f"{len(reached)}/{len(seeds)}",
                            statistics.mean(p[0] for p in per_seed),
                            statistics.mean(p[2] for p in reached) if reached else "-",
                            statistics.mean(p[1] for p in per_seed),
                            statistics.mean(p[3] for p in reached) if reached else "-"])
    text = "\n".join([
        "# Fine-tuning from a digits model vs from scratch (#18)", "",
        machine_line(m), "",
        f"CNN {CONFIG}, {epochs} epochs, seeds {list(seeds)}; the source model is trained "
        f"{epochs} epochs (seed 0) on the source data. Target reached = the from-scratch run's best "
        "validation accuracy (same seed). Data generated in-package from the bundled digits and "
        "read as user .npz files. The fine-tuned means are over the seeds that reached the target; "
        "wall times include whatever else the shared machine ran. Produced by "
        f"`benchmarks/finetune_shift.py{' --quick' if args.quick else ''}`.", "",
        "## Summary (means over seeds)", "",
        table(["variant", "source best acc", "fine-tuned reached target", "epochs (scratch)",
               "epochs (fine-tuned)", "wall s (scratch)", "wall s (fine-tuned)"], summary), "",
        "## Per seed", "",
        table(["variant", "seed", "target (scratch best)", "scratch epochs", "scratch s",
               "fine-tuned epochs", "fine-tuned s", "fine-tuned acc after 1 epoch",
               "scratch acc after 1 epoch", "fine-tuned best"], rows), "",
    ])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "finetune_shift.md").write_text(text)
    print(text)
    return records


def targets(records: list[dict]) -> list[tuple[str, float | None, str]]:
    """Per variant: epochs the fine-tuned run needs to reach the from-scratch best, over the
    epochs the from-scratch run needs (below 1: fine-tuning gets there sooner)."""
    out = []
    for r in records:
        if r["epochs_finetuned"] is None:
            out.append((f"{r['variant']}: epochs to the scratch best, fine-tuned / scratch", None,
                        f"MISSED (fine-tuning never reached it, {r['seeds']} seeds)"))
            continue
        ratio = r["epochs_finetuned"] / r["epochs_scratch"]
        out.append((f"{r['variant']}: epochs to the scratch best, fine-tuned / scratch", ratio,
                    f"{'met' if ratio < 1 else 'MISSED'} ({r['epochs_finetuned']:.3g} vs "
                    f"{r['epochs_scratch']:.3g} epochs; reached in {r['reached']}/{r['seeds']} seeds)"))
    return out


if __name__ == "__main__":
    main()
