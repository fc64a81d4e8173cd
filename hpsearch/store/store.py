"""A thin, careful layer over SQLAlchemy (one session scope; errors become StorageError)."""
from __future__ import annotations

import logging
import os
import stat
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import create_engine, event, func, select, text, update
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hpsearch.exceptions import ConfigError, ConflictError, NotFoundError, SpecError, StorageError
from hpsearch.settings import settings
from hpsearch.store.models import (DispatcherBeat, Result, Study, StudyStatus, Trial, TrialEvent,
                                   TrialStatus, utcnow)

log = logging.getLogger("hpsearch.store")

# A dispatcher whose heartbeat is older than this is taken for gone.
DISPATCHER_ALIVE_S = 30.0


def home() -> Path:
    return settings().home


def default_url() -> str:
    return settings().db


def _private_sqlite_file(path: Path) -> None:
    """The database file (and the -wal/-shm files SQLite gives the same mode) readable by
    its owner only: it holds password and token hashes, and other local users (a trial's
    user among them) have no business in it. A new parent folder is 0700."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    # An existing file is never opened here: closing any descriptor of a database file
    # drops every POSIX lock this process holds on it, so the SQLite connections of
    # another Store in this process (a web app, a callback's writer) would lose theirs
    # ("disk I/O error", or worse). Only a file that does not exist yet is created.
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o600))
        except OSError:
            pass  # created meanwhile, or a bad path: SQLite reports it when it opens it
    except OSError:
        return
    else:
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(path, 0o600)
    for suffix in ("-wal", "-shm"):
        extra = Path(f"{path}{suffix}")
        try:
            if extra.exists() and extra.stat().st_uid == os.geteuid():
                extra.chmod(0o600)
        except OSError:
            pass


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers (the web UI) run beside the writer; busy_timeout makes a
    # writer wait for the lock instead of failing with "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _autocommit_driver(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None


def _begin(conn) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


DB_SETTING = "database URL (--db or HPSEARCH_DB)"
# What `postgresql://` means, in order of preference: the drivers hpsearch can use.
POSTGRES_DRIVERS = ("psycopg2", "psycopg")


def engine_url(url: str) -> URL:
    """``url`` as SQLAlchemy should open it, or ConfigError naming the setting.

    ``postgresql://user@host/db`` (and ``postgres://``) name no driver; SQLAlchemy 2.1
    would pick psycopg 3 whether or not it is installed, so the installed one is used.
    """
    import importlib.util

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise ConfigError(f"not a database URL: {_hide_password(url)!r} (expected "
                          "sqlite:///PATH or postgresql://USER@HOST/DB)", DB_SETTING) from None
    if parsed.drivername in ("postgresql", "postgres"):
        driver = next((d for d in POSTGRES_DRIVERS if importlib.util.find_spec(d)), None)
        if driver is None:
            raise ConfigError("no PostgreSQL driver is installed (pip install psycopg2-binary)",
                              DB_SETTING)
        parsed = parsed.set(drivername=f"postgresql+{driver}")
    return parsed


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not parsable: hide what could be a password
        return url.split("@")[-1] if "@" in url else url


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 2,
                pre_ping: bool = True, create: bool = True) -> Engine:
    """``create``: an SQLite file that does not exist is made (else a ConfigError)."""
    target = engine_url(url)
    url = target.render_as_string(hide_password=False)
    if target.get_backend_name() == "sqlite":
        path = target.database
        if path and path != ":memory:" and not path.startswith("file:"):
            if not create and not Path(path).exists():
                raise ConfigError(f"no database at {path} (a typo?); `hpsearch submit` or "
                                  "`hpsearch db upgrade` creates one there", DB_SETTING)
            try:
                _private_sqlite_file(Path(path))
            except OSError as exc:
                raise ConfigError(f"cannot create the folder of {path!r}: {exc.strerror}",
                                  DB_SETTING) from None
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite defers BEGIN, so a transaction that reads and then writes can fail
        # at once with "database is locked" when it upgrades its lock. We emit BEGIN
        # ourselves: IMMEDIATE for writers (they queue on busy_timeout), plain for readers.
        event.listen(engine, "connect", _autocommit_driver)
        event.listen(engine, "begin", _begin)
        return engine
    # A stated connection budget: pool_size + max_overflow per Store (docs/reliability.md).
    # pre-ping replaces a connection the server dropped (restart, pg_terminate_backend)
    # before it is used (a caller that retries a failed transaction anyway, as the writer
    # does, can turn it off and save the round trip); application_name lets an operator
    # count ours in pg_stat_activity.
    return create_engine(url, pool_pre_ping=pre_ping, pool_size=pool_size, max_overflow=max_overflow,
                         pool_recycle=1800, connect_args={"application_name": "hpsearch"})


def check_study_caps(spec, owner: str | None) -> None:
    """SpecError unless the study's name, labels and stored spec fit :mod:`hpsearch.limits`."""
    import json

    from hpsearch import limits
    from hpsearch.exceptions import SpecError

    problems = []
    problem = limits.name_problem(spec.name)
    if problem:
        problems.append(("name", problem))
    labels = {"trainable": spec.trainable, "searcher.type": spec.searcher.type,
              "scheduler.type": spec.scheduler.type, "metric": spec.metric or ""}
    for field, value in labels.items():
        if len(value) > limits.MAX_LABEL:
            problems.append((field, f"must be at most {limits.MAX_LABEL} characters"))
    if owner is not None and len(owner) > limits.MAX_OWNER:
        problems.append(("owner", f"must be at most {limits.MAX_OWNER} characters"))
    size = len(json.dumps(spec.to_dict(), separators=(",", ":")).encode())
    if size > limits.MAX_SPEC_BYTES:
        problems.append(("spec", f"is {size} bytes once parsed; the cap is "
                                 f"{limits.MAX_SPEC_BYTES} (YAML aliases count as expanded)"))
    if problems:
        raise SpecError(problems)


def scoped_idempotency_key(owner: str | None, key: str) -> str:
    """The stored form of a client's Idempotency-Key: bound to its user, fixed length."""
    import hashlib

    return hashlib.sha256(f"{owner or ''}\x00{key}".encode()).hexdigest()


class Store:
    """Studies, trials and results in one SQL database.

    >>> store = Store("sqlite:///:memory:")   # doctest: +SKIP
    """

    def __init__(self, url: str | None = None, *, upgrade: bool | None = None, pool_size: int = 5,
                 max_overflow: int = 2, pre_ping: bool = True, check_schema: bool = True,
                 create: bool = True):
        """``create=False``: a missing SQLite file is a ConfigError, not a new database."""
        self.url = url or default_url()
        try:
            self.engine = make_engine(self.url, pool_size=pool_size, max_overflow=max_overflow,
                                      pre_ping=pre_ping, create=create)
        except ConfigError:
            raise
        except (SQLAlchemyError, ValueError, ImportError) as exc:  # e.g. an unknown dialect
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"cannot use {self.safe_url!r}: {reason}", DB_SETTING) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.engine.execution_options(sqlite_immediate=True),
                                            expire_on_commit=False)
        if check_schema:  # off only for a second Store on a URL this process just checked
            self._check_schema(upgrade)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden (for messages and logs)."""
        return _hide_password(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    # -- schema ------------------------------------------------------------------
    def _check_schema(self, upgrade: bool | None) -> None:
        from hpsearch.store import migrate

        delay = 0.1
        for attempt in range(5):
            try:
                current = migrate.current_revision(self.engine)
                break
            except OperationalError as exc:
                # A dropped connection (server restart, pg_terminate_backend) is retried
                # with backoff; a wrong address or credentials fail after the last try.
                if attempt == 4 or "refused" in str(exc) or "authentication" in str(exc):
                    raise StorageError(f"cannot reach database {self.safe_url}: "
                                       f"{exc.__class__.__name__}: "
                                       f"{str(exc).splitlines()[0]}") from None
                time.sleep(delay)
                delay *= 2
            except SQLAlchemyError as exc:
                raise StorageError(f"cannot reach database {self.safe_url}: "
                                   f"{exc.__class__.__name__}: "
                                   f"{str(exc).splitlines()[0]}") from None
        head = migrate.head_revision()
        if current == head:
            return
        # An empty database, or the embedded SQLite one, upgrades itself.
        if upgrade or (upgrade is None and (current is None or self.is_sqlite)):
            if current is None and migrate.has_foreign_tables(self.engine):
                raise StorageError(f"database {self.safe_url} holds tables that are not hpsearch's")
            migrate.upgrade(self.engine)
            return
        raise StorageError(f"database schema is at {current}, this hpsearch needs {head}: "
                           f"run `hpsearch db upgrade --db {self.safe_url}`")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- sessions -----------------------------------------------------------------
    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """One transaction: commit on success, roll back and raise StorageError on failure."""
        s = (self._write_sessions if write else self._sessions)()
        try:
            yield s
            s.commit()
        except IntegrityError:
            s.rollback()
            raise
        except SQLAlchemyError as exc:
            s.rollback()
            raise StorageError(f"database error: {exc.__class__.__name__}: "
                               f"{str(exc).splitlines()[0]}") from exc
        finally:
            try:
                s.close()
            except SQLAlchemyError:  # the connection died with the transaction: nothing to close
                pass

    # -- studies ------------------------------------------------------------------
    def create_study(self, spec, *, owner: str | None = None, status: str = StudyStatus.QUEUED,
                     idempotency_key: str | None = None, init_source: dict | None = None) -> Study:
        """Insert a study for a validated spec; a taken name raises ConflictError.

        With ``idempotency_key``, a retried create (same owner, same spec) returns the
        first study; the key is scoped to ``owner`` (another user's same key is another
        key), and reusing it with another spec is a SpecError naming ``Idempotency-Key``
        (422). The caps of :mod:`hpsearch.limits` are checked here too, on the spec as it
        will be stored (a 400-byte YAML alias bomb is megabytes once parsed): SpecError,
        nothing written.
        """
        check_study_caps(spec, owner)
        body = spec.to_dict()
        key = scoped_idempotency_key(owner, idempotency_key) if idempotency_key else None
        if key:
            found = self._idempotent(key, body)
            if found is not None:
                return found
        study = Study(name=spec.name, status=status, owner=owner, trainable=spec.trainable,
                      searcher=spec.searcher.type, scheduler=spec.scheduler.type,
                      metric=spec.metric, mode=spec.mode, n_trials=spec.budget.trials,
                      spec=body, spec_hash=spec.fingerprint(), idempotency_key=key,
                      init_source=init_source,
                      started_at=utcnow() if status == StudyStatus.RUNNING else None)
        try:
            with self.session(write=True) as s:
                s.add(study)
        except IntegrityError:
            if key:
                found = self._idempotent(key, body)
                if found is not None:
                    return found
            raise ConflictError(f"a study named {spec.name!r} already exists") from None
        return study

    def _idempotent(self, key: str, body: dict) -> Study | None:
        """The study created with ``key`` before, if any; SpecError when its spec differs."""
        import json

        with self.session() as s:
            found = s.scalar(select(Study).where(Study.idempotency_key == key))
        if found is None:
            return None
        if json.dumps(found.spec, sort_keys=True) != json.dumps(body, sort_keys=True):
            raise SpecError("this key was already used with another spec (study "
                            f"{found.id}); send a new key for a new request", "Idempotency-Key")
        return found

    def get_study(self, ref: str | int) -> Study:
        """A study by id (int or digits) or by name; NotFoundError if absent."""
        with self.session() as s:
            study = None
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit()):
                # An id beyond a 64-bit key names no study (SQLite raises OverflowError on it).
                if 0 < int(ref) < 2**63:
                    study = s.get(Study, int(ref))
            if study is None and isinstance(ref, str):
                study = s.scalar(select(Study).where(Study.name == ref))
            if study is None:
                raise NotFoundError(f"no study {ref!r}")
            return study

    def list_studies(self, *, status: str | None = None, owner: str | None = None,
                     limit: int | None = None) -> list[Study]:
        from hpsearch.store.queries import studies_query

        with self.session() as s:
            q = studies_query(status=status, owner=owner).order_by(Study.id.desc())
            if limit:
                q = q.limit(limit)
            return list(s.scalars(q))

    def set_study_status(self, study_id: int, status: str, *, error: str | None = None,
                         end_reason: str | None = None) -> None:
        """``end_reason``: why a finished study ended, in words (``Study.end_reason``)."""
        # What the trials waited for is the running driver's to say (pool.NodeWatch).
        values: dict[str, Any] = {"status": status, "waiting": None}
        if status == StudyStatus.RUNNING:
            values["started_at"] = utcnow()
            values["finished_at"] = None
            values["end_reason"] = None
        if status in StudyStatus.FINISHED:
            values["finished_at"] = utcnow()
        if error is not None:
            values["error"] = error
        if end_reason is not None:
            values["end_reason"] = end_reason
        with self.session(write=True) as s:
            s.execute(update(Study).where(Study.id == study_id).values(**values))
        if status in StudyStatus.FINISHED:
            self.refresh_frame(study_id)

    def set_waiting(self, study_id: int, waiting: str | None) -> None:
        """What the running study's trials wait for (``Study.waiting``), or None."""
        with self.session(write=True) as s:
            s.execute(update(Study).where(Study.id == study_id,
                                          Study.status == StudyStatus.RUNNING)
                      .values(waiting=waiting))

    def refresh_frame(self, study_id: int) -> None:
        """Bring the study's chart frame up to date (hpsearch/store/frames.py): when it ends,
        so that its charts never rebuild it at first view. A failure only costs that view."""
        from hpsearch.store import frames

        try:
            frames.refresh(self, study_id)
        except Exception as exc:  # noqa: BLE001 - the study's end must not fail over a chart
            log.warning("chart frame of study %s not refreshed: %s", study_id, exc)

    def request_cancel(self, study_id: int) -> str:
        """Cancel a queued study now, or ask the driver of a running one to stop."""
        with self.session(write=True) as s:
            study = s.get(Study, study_id)
            if study is None:
                raise NotFoundError(f"no study {study_id!r}")
            if study.status in StudyStatus.FINISHED:
                raise ConflictError(f"study {study.name!r} is already {study.status}")
            study.cancel_requested = True
            if study.status in StudyStatus.CANCEL_AT_ONCE:
                queued = study.status == StudyStatus.QUEUED
                study.end_reason = ("cancelled before it started" if queued
                                    else "cancelled while interrupted, instead of a resume")
                study.status = StudyStatus.CANCELLED
                study.finished_at = utcnow()
            return study.status

    def cancel_requested(self, study_id: int) -> bool:
        with self.session() as s:
            return bool(s.scalar(select(Study.cancel_requested).where(Study.id == study_id)))

    def set_warm_start_picked(self, study_id: int, picked: list[dict]) -> None:
        """Record which earlier studies ``warm_start: auto`` picked, and why."""
        with self.session(write=True) as s:
            s.execute(update(Study).where(Study.id == study_id).values(warm_start_picked=picked))

    def save_searcher_state(self, study_id: int, state: dict) -> None:
        with self.session(write=True) as s:
            s.execute(update(Study).where(Study.id == study_id).values(searcher_state=state))

    def annotate_study(self, study_id: int, **values) -> None:
        """Set a study's notes, tags, archived_at or spec_text (the web UI's study management)."""
        allowed = {"notes", "tags", "archived_at", "spec_text"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not a study annotation: {', '.join(sorted(unknown))}")
        with self.session(write=True) as s:
            if not s.execute(update(Study).where(Study.id == study_id).values(**values)).rowcount:
                raise NotFoundError(f"no study {study_id!r}")

    def set_trial_notes(self, study_id: int, number: int, notes: str | None) -> None:
        with self.session(write=True) as s:
            if not s.execute(update(Trial).where(Trial.study_id == study_id, Trial.number == number)
                             .values(notes=notes)).rowcount:
                raise NotFoundError(f"no trial {number} in study {study_id}")

    def delete_study(self, study_id: int) -> None:
        with self.session(write=True) as s:
            study = s.get(Study, study_id)
            if study is None:
                raise NotFoundError(f"no study {study_id!r}")
            s.delete(study)
        from hpsearch.media import remove_study_media
        from hpsearch.store import frames

        frames.forget(study_id)  # its study_frames row went with it (ON DELETE CASCADE)

        remove_study_media(study_id)  # the files; their rows went with the trials

    # -- trials -------------------------------------------------------------------
    def trials(self, study_id: int, *, status: str | None = None) -> list[Trial]:
        with self.session() as s:
            q = select(Trial).where(Trial.study_id == study_id).order_by(Trial.number)
            if status:
                q = q.where(Trial.status == status)
            return list(s.scalars(q))

    def get_trial(self, study_id: int, number: int) -> Trial:
        with self.session() as s:
            trial = s.scalar(select(Trial).where(Trial.study_id == study_id, Trial.number == number))
            if trial is None:
                raise NotFoundError(f"no trial {number!r} in study {study_id!r}")
            return trial

    def results(self, trial_id: int) -> list[Result]:
        with self.session() as s:
            return list(s.scalars(select(Result).where(Result.trial_id == trial_id)
                                  .order_by(Result.iteration)))

    def trial_events(self, trial_id: int) -> list[TrialEvent]:
        with self.session() as s:
            return list(s.scalars(select(TrialEvent).where(TrialEvent.trial_id == trial_id)
                                  .order_by(TrialEvent.id)))

    def count_results(self, study_id: int) -> int:
        with self.session() as s:
            return s.scalar(select(func.count(Result.id)).join(Trial)
                            .where(Trial.study_id == study_id)) or 0

    def next_trial_number(self, study_id: int) -> int:
        with self.session() as s:
            n = s.scalar(select(func.max(Trial.number)).where(Trial.study_id == study_id))
            return 0 if n is None else n + 1

    def interrupt_unfinished(self, study_id: int, message: str) -> int:
        """Mark LIVE trials (RUNNING/PENDING/PAUSED) left by a dead driver as INTERRUPTED."""
        with self.session(write=True) as s:
            ids = list(s.scalars(select(Trial.id).where(Trial.study_id == study_id,
                                                        Trial.status.in_(TrialStatus.LIVE))))
            if ids:
                s.execute(update(Trial).where(Trial.id.in_(ids))
                          .values(status=TrialStatus.INTERRUPTED, finished_at=utcnow()))
                s.add_all(TrialEvent(trial_id=i, status=TrialStatus.INTERRUPTED, message=message)
                          for i in ids)
            return len(ids)

    def reap_stale_trials(self, grace_s: float, study_id: int | None = None) -> int:
        """Mark RUNNING trials with no heartbeat for ``grace_s`` seconds as INTERRUPTED.

        A live driver refreshes its running trials' heartbeats every few seconds
        (HPSEARCH_HEARTBEAT_S), so only trials whose driver vanished are reaped;
        ``hpsearch resume`` (or a dispatcher's takeover) runs them again. A driver
        that was only paused and reports late may still finish them.
        """
        cutoff = utcnow() - timedelta(seconds=grace_s)
        with self.session(write=True) as s:
            q = select(Trial.id).where(Trial.status == TrialStatus.RUNNING,
                                       func.coalesce(Trial.heartbeat_at, Trial.started_at) < cutoff)
            if study_id is not None:
                q = q.where(Trial.study_id == study_id)
            ids = list(s.scalars(q))
            if ids:
                s.execute(update(Trial).where(Trial.id.in_(ids),
                                              Trial.status == TrialStatus.RUNNING)
                          .values(status=TrialStatus.INTERRUPTED, finished_at=utcnow()))
                s.add_all(TrialEvent(trial_id=i, status=TrialStatus.INTERRUPTED,
                                     message=f"no heartbeat for {grace_s:g}s: its driver is gone")
                          for i in ids)
            return len(ids)

    def import_trials(self, study_id: int, rows: list[dict]) -> int:
        """Record warm-start trials (params, value, source study) as IMPORTED."""
        start = self.next_trial_number(study_id)
        with self.session(write=True) as s:
            for i, row in enumerate(rows):
                s.add(Trial(study_id=study_id, number=start + i, params=row["params"],
                            status=TrialStatus.IMPORTED, value=row["value"], values=row.get("values"),
                            best_value=row["value"], imported_from=row["source"],
                            finished_at=utcnow()))
        return len(rows)

    def finished_trials(self, study_names: list[str]) -> list[tuple[str, dict, float]]:
        """(study name, params, value) of completed trials of the named studies."""
        with self.session() as s:
            rows = s.execute(select(Study.name, Trial.params, Trial.value).join(Trial)
                             .where(Study.name.in_(study_names),
                                    Trial.status.in_([TrialStatus.COMPLETED]),
                                    Trial.value.is_not(None)).order_by(Study.id, Trial.number))
            return [tuple(r) for r in rows]

    # -- batched writes from the Tune callback --------------------------------------
    def apply(self, ops: list[tuple], known: dict | None = None) -> dict:
        """Apply a batch of writer operations in one transaction (see writer.py).

        ``known``: trial ids learned from earlier batches; returns those this one learned.
        """
        from hpsearch.store.writer import apply_ops

        with self.session(write=True) as s:
            learned = apply_ops(s, ops, self.engine.dialect.name, known)
        return learned

    def ping(self) -> None:
        with self.session() as s:
            s.execute(text("SELECT 1"))

    # -- dispatchers ----------------------------------------------------------------
    def dispatcher_heartbeat(self, name: str, host: str, pid: int, max_studies: int) -> None:
        """A dispatcher says it lives (its row is written, or its time refreshed)."""
        now = utcnow()
        with self.session(write=True) as s:
            row = s.get(DispatcherBeat, name)
            if row is None:
                s.add(DispatcherBeat(name=name, host=host, pid=pid, max_studies=max_studies,
                                     started_at=now, heartbeat_at=now))
            else:
                row.heartbeat_at = now

    def dispatcher_stopped(self, name: str) -> None:
        with self.session(write=True) as s:
            s.execute(DispatcherBeat.__table__.delete().where(DispatcherBeat.name == name))

    def live_dispatchers(self, within_s: float = DISPATCHER_ALIVE_S) -> list[DispatcherBeat]:
        """Dispatchers that heartbeat within the last ``within_s`` seconds."""
        cutoff = utcnow() - timedelta(seconds=within_s)
        with self.session() as s:
            return list(s.scalars(select(DispatcherBeat).where(DispatcherBeat.heartbeat_at >= cutoff)
                                  .order_by(DispatcherBeat.name)))
