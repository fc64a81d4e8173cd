"""Processes hpsearch starts in sessions of their own, and how they are stopped.

A driver, a serving host or a ``ray start`` node is started with
``start_new_session=True``. Ray's workers leave the child's process group for
groups of their own but stay in its session, so "everything it started" is the
session, found by ``getsid`` in ``/proc`` (Linux), never ``ray stop``, which
would stop every Ray on the machine.
"""
from __future__ import annotations

import os
import signal
import subprocess


def kill_session(leader: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process of the session ``leader`` started (ours alone)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == leader:
                    os.kill(int(entry), sig)
            except (ProcessLookupError, PermissionError):
                pass


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 20.0) -> None:
    """Ask a process started in its own session to stop (``sig``, ``grace`` seconds to
    finish), then SIGKILL what is left of its session."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    kill_session(proc.pid)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
