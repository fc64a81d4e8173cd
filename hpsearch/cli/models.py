"""`hpsearch export`, `deploy`, `undeploy`, `deployments`: a trial's model as a file or a service."""
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
    from hpsearch.cli.commands import reading_store
    from hpsearch.transfer import parse_trial

    check_format(args.format)
    trial = parse_trial(args.trial, "--trial")
    card = export_trial(reading_store(args.db), args.study, trial, fmt=args.format, out=args.out)
    ver = card["verification"]
    print(f"{args.out}/{card['file']}: {card['family']} from {card['source']['study']!r} trial "
          f"{card['source']['trial']}, sha256 {card['sha256'][:16]}..., max |diff| "
          f"{ver['max_abs_diff']:.2g} vs PyTorch ({ver['runtime']})")
    return 0


def cmd_deploy(args) -> int:
    """Serve a trial's model (default: the study's best) on Ray Serve, behind the hpsearch API.

    Writes the deployment's row; a running dispatcher (`hpsearch dispatcher` or `hpsearch
    serve`) serves it and brings it back after a restart. Predictions:
    POST /api/v1/deployments/NAME/predict with {"inputs": [...]} or an .npz body.
    --wait S waits up to S seconds for it to be RUNNING (exit 1 if it is not).
    """
    import getpass
    import time

    from hpsearch import deployments as dep
    from hpsearch.cli.commands import reading_store
    from hpsearch.transfer import parse_trial

    store = reading_store(args.db)
    row = dep.declare(store, args.study, parse_trial(args.trial, "--trial"), name=args.name,
                      replicas=args.replicas, autoscale=args.autoscale,
                      created_by=args.owner or getpass.getuser())
    print(f"deployment {row.name!r}: {row.study_name} trial {row.trial_number}, replicas "
          f"{row.min_replicas}" + (f"-{row.max_replicas} (autoscale)" if row.max_replicas > row.min_replicas
                                   else "") + f"; predict: POST /api/v1/deployments/{row.name}/predict")
    deadline = time.monotonic() + (args.wait or 0)
    while args.wait:
        row = dep.get(store, row.name)
        if row.status == "RUNNING" or time.monotonic() > deadline:
            print(f"status: {row.status}" + (f" ({row.error})" if row.error else ""))
            return 0 if row.status == "RUNNING" else 1
        time.sleep(1)
    return 0


def cmd_undeploy(args) -> int:
    """Stop serving a deployment (the dispatcher removes it from Ray Serve, then its row)."""
    from hpsearch import deployments as dep
    from hpsearch.cli.commands import reading_store

    row = dep.request_stop(reading_store(args.db), args.name)
    print(f"deployment {row.name!r}: stopping")
    return 0


def cmd_deployments(args) -> int:
    """List deployments: status, model, replicas, creator."""
    from hpsearch import deployments as dep
    from hpsearch.cli.format import table
    from hpsearch.cli.commands import reading_store

    rows = [[r.name, r.status, f"{r.study_name} #{r.trial_number}", r.family,
             f"{r.min_replicas}" if r.min_replicas == r.max_replicas else f"{r.min_replicas}-{r.max_replicas}",
             r.created_by or "-", r.error or ""] for r in dep.all_(reading_store(args.db))]
    print(table(["name", "status", "trial", "family", "replicas", "by", "error"], rows))
    return 0


def add_commands(add) -> None:
    """Register the subcommands with the CLI's ``add(name, fn)`` helper."""
    p: argparse.ArgumentParser = add("export", cmd_export)
    p.add_argument("study", help="study name or id")
    p.add_argument("--trial", default="best", help="trial number, or best (default)")
    p.add_argument("--format", default="torchscript",
                   help="torchscript (default), onnx or state_dict")
    p.add_argument("--out", required=True, help="folder to write the model and its card into")

    p = add("deploy", cmd_deploy)
    p.add_argument("study", help="study name or id")
    p.add_argument("--trial", default="best", help="trial number, or best (default)")
    p.add_argument("--name", help="deployment name (default: STUDY-tN)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--replicas", type=int, default=None, help="a fixed number of replicas (1)")
    group.add_argument("--autoscale", default=None, metavar="MIN-MAX",
                       help="scale between MIN and MAX replicas with the load")
    p.add_argument("--owner", default=None, help="record this account as the creator "
                                                  "(default: your login name)")
    p.add_argument("--wait", type=float, default=0, metavar="S",
                   help="wait up to S seconds for it to be served")

    p = add("undeploy", cmd_undeploy)
    p.add_argument("name", help="deployment name")

    add("deployments", cmd_deployments)
