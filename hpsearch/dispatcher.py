"""The dispatcher: claims queued studies from SQL and runs each in its own driver process.

    hpsearch dispatcher --db postgresql://... --ray-address HOST:PORT --max-studies 2

Claims are atomic: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, and a
``BEGIN IMMEDIATE`` write transaction (a single writer) on SQLite, so two
dispatchers never claim the same study. A claimed study holds a lease that the
dispatcher renews while its driver process lives; when a dispatcher dies, another
takes the study over once the lease has expired and resumes it
(``hpsearch resume``), keeping every finished trial.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update

from hpsearch.store import Store, StudyStatus
from hpsearch.store.models import Study, utcnow

log = logging.getLogger("hpsearch.dispatcher")


@dataclass
class Claim:
    study_id: int
    name: str
    takeover: bool  # True: the study ran under a dispatcher whose lease expired


class Dispatcher:
    def __init__(self, store: Store, *, ray_address: str | None = None, max_studies: int = 2,
                 lease_s: float = 30.0, name: str | None = None):
        self.store = store
        self.ray_address = ray_address
        self.max_studies = max_studies
        self.lease_s = lease_s
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.running: dict[int, subprocess.Popen] = {}

    # -- claiming ------------------------------------------------------------------
    def claim(self) -> Claim | None:
        """Atomically take one queued study, or one whose lease expired."""
        now = utcnow()
        with self.store.session(write=True) as s:
            q = (select(Study).where(or_(
                    Study.status == StudyStatus.QUEUED,
                    (Study.status == StudyStatus.RUNNING) & Study.lease_owner.is_not(None)
                    & (Study.lease_expires_at < now)))
                 .order_by(Study.id).limit(1).with_for_update(skip_locked=True))
            study = s.scalar(q)
            if study is None:
                return None
            takeover = study.status == StudyStatus.RUNNING
            study.status = StudyStatus.RUNNING
            study.lease_owner = self.name
            study.lease_expires_at = now + timedelta(seconds=self.lease_s)
            if not takeover:
                study.started_at = now
            return Claim(study.id, study.name, takeover)

    def renew(self) -> None:
        if not self.running:
            return
        with self.store.session(write=True) as s:
            s.execute(update(Study).where(Study.id.in_(list(self.running)),
                                          Study.lease_owner == self.name)
                      .values(lease_expires_at=utcnow() + timedelta(seconds=self.lease_s)))

    # -- running -------------------------------------------------------------------
    def start(self, claim: Claim) -> None:
        cmd = [sys.executable, "-m", "hpsearch.dispatcher", "--study", str(claim.study_id)]
        if claim.takeover:
            cmd.append("--resume")
        env = {**os.environ, "HPSEARCH_DB": self.store.url}
        if self.ray_address:
            env["HPSEARCH_RAY_ADDRESS"] = self.ray_address
        log.info("running study %s (%s)%s", claim.study_id, claim.name,
                 " after taking it over" if claim.takeover else "")
        self.running[claim.study_id] = subprocess.Popen(cmd, env=env, start_new_session=True)

    def reap(self) -> None:
        for study_id, proc in list(self.running.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del self.running[study_id]
            study = self.store.get_study(study_id)
            if study.status == StudyStatus.RUNNING:  # the driver died without a verdict
                self.store.interrupt_unfinished(study_id, "the study's driver process exited")
                self.store.set_study_status(study_id, StudyStatus.FAILED,
                                            error=f"the driver process exited with code {rc}")
            with self.store.session(write=True) as s:
                s.execute(update(Study).where(Study.id == study_id, Study.lease_owner == self.name)
                          .values(lease_owner=None, lease_expires_at=None))

    def step(self) -> None:
        self.reap()
        while len(self.running) < self.max_studies:
            claim = self.claim()
            if claim is None:
                break
            self.start(claim)
        self.renew()

    def run(self, *, poll_s: float = 1.0, until_idle: bool = False) -> None:
        """Loop: reap finished drivers, claim and start new ones, renew leases."""
        while True:
            self.step()
            if until_idle and not self.running:
                return
            time.sleep(poll_s)


def run_one(study_id: int, resume: bool) -> int:
    """The driver process of one study (started by the dispatcher)."""
    from hpsearch.orchestration import resume_study, run_study
    from hpsearch.spec import validate

    store = Store()
    ray_address = os.environ.get("HPSEARCH_RAY_ADDRESS")
    study = store.get_study(study_id)
    if resume:
        row = resume_study(study_id, store=store, ray_address=ray_address, progress=False,
                           allow_import=False)
    else:
        spec = validate(study.spec, allow_import=False, check_data=False)
        row = run_study(spec, store=store, study_id=study_id, ray_address=ray_address,
                        progress=False, allow_import=False)
    return 0 if row.status in StudyStatus.FINISHED else 1


if __name__ == "__main__":  # the per-study driver process
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--study", type=int, required=True)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    sys.exit(run_one(a.study, a.resume))
