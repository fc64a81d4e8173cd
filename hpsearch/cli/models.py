"""`hpsearch export`: a trial's model as a file with its model card."""
from __future__ import annotations

import argparse


def cmd_export(args) -> int:
    """Write a trial's model (default: the study's best trial) and its model card to --out.

    Formats: torchscript (model.pt), onnx (model.onnx, checked with onnxruntime),
    state_dict (state_dict.pt). The card (model_card.json and model_card.md)
    states the family, hyperparameters, metrics, data shape and preprocessing,
    source study and trial, compression and checksums.
    """
    from hpsearch.export import check_format, export_trial
    from hpsearch.store import Store
    from hpsearch.transfer import parse_trial

    check_format(args.format)
    trial = parse_trial(args.trial, "--trial")
    card = export_trial(Store(args.db), args.study, trial, fmt=args.format, out=args.out)
    ver = card["verification"]
    print(f"{args.out}/{card['file']}: {card['family']} from {card['source']['study']!r} trial "
          f"{card['source']['trial']}, sha256 {card['sha256'][:16]}..., max |diff| "
          f"{ver['max_abs_diff']:.2g} vs PyTorch ({ver['runtime']})")
    return 0


def add_commands(add) -> None:
    """Register the subcommands with the CLI's ``add(name, fn)`` helper."""
    p: argparse.ArgumentParser = add("export", cmd_export)
    p.add_argument("study", help="study name or id")
    p.add_argument("--trial", default="best", help="trial number, or best (default)")
    p.add_argument("--format", default="torchscript",
                   help="torchscript (default), onnx or state_dict")
    p.add_argument("--out", required=True, help="folder to write the model and its card into")
