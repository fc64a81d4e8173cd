"""Errors shown to members name the field and the reason, not the server's layout (finding 9):
no data roots, symlink targets, /proc/PID paths, process ids or install paths."""
from __future__ import annotations

import os
import re
import sys
import sysconfig
import time

from hpsearch.status import TrialStatus
from tests.security.test_specs import BASE, member, roots  # noqa: F401 - fixtures

_PROC_PID = re.compile(r"/proc/\d+")


def _leaks(text: str, roots_dir) -> list[str]:
    found = [p for p in (str(roots_dir), str(roots_dir.parent), sys.prefix,
                         sysconfig.get_paths()["purelib"]) if p in text]
    found += _PROC_PID.findall(text)
    if re.search(rf"\b{os.getpid()}\b", text):
        found.append(f"pid {os.getpid()}")
    return found


def test_dataset_errors_do_not_show_the_servers_paths(member, roots):  # noqa: F811
    client, headers = member
    for path in ("/proc/self/environ", "escape.csv", "/etc/passwd.csv", "../x.csv"):
        r = client.post("/api/v1/studies", json={**BASE, "trainable": "autoencoder",
                                                 "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
                                                 "dataset": path}, headers=headers)
        assert r.status_code == 422, r.json
        field = {f["field"]: f["message"] for f in r.json["fields"]}["dataset"]
        assert path in field  # the member's own value and the reason...
        assert not _leaks(field, roots), field  # ...not where things are on the server
        assert not _leaks(r.json["message"], roots), r.json["message"]


def test_trial_errors_shown_in_the_ui_and_api_hide_install_paths_and_pids(member, roots):  # noqa: F811
    client, headers = member
    app_store = client.application.extensions["hpsearch_store"]
    from hpsearch.spec import validate

    study = app_store.create_study(validate({**BASE, "name": "err-paths", "trainable": "autoencoder",
                                             "space": {"lr": {"loguniform": [1e-4, 1e-1]}}},
                                            allow_import=False))
    site = sysconfig.get_paths()["purelib"]
    error = (f'Traceback (most recent call last):\n  File "{site}/torch/nn/modules/module.py", '
             f"line 1, in _call_impl\nFileNotFoundError: [Errno 2] No such file or directory: "
             f"'{roots}/train.csv' (read via /proc/{os.getpid()}/fd/7, pid {os.getpid()})")
    t = time.time()
    app_store.apply([("trial", study.id, "r0", 0, {"lr": 0.01}, TrialStatus.RUNNING, t),
                     ("status", study.id, "r0", TrialStatus.ERROR, {"error": error}, t)])
    api = client.get(f"/api/v1/studies/{study.id}/trials/0", headers=headers)
    assert api.status_code == 200
    shown = api.json["error"]
    assert "FileNotFoundError" in shown and "train.csv" in shown  # the reason stays
    assert not _leaks(shown, roots), shown

