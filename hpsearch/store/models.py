"""SQLAlchemy models: the single source of the schema (Alembic migrates it).

studies 1-n trials 1-n results; trial_events keeps each trial's status history;
trial_logs (1-1) and trial_media (1-n) hold what a trial printed and drew.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hpsearch.status import DeploymentStatus, StudyStatus, TrialStatus  # noqa: F401 - re-exported


def utcnow() -> datetime:
    """Naive UTC (SQLite has no time zones; every timestamp here is UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=StudyStatus.QUEUED)
    owner: Mapped[str | None] = mapped_column(String(100), index=True)
    trainable: Mapped[str] = mapped_column(String(200))
    searcher: Mapped[str] = mapped_column(String(32))
    scheduler: Mapped[str] = mapped_column(String(32))
    metric: Mapped[str] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(3))
    n_trials: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # Why a finished study ended, in words: its budget ran, its time limit passed, a cancel.
    end_reason: Mapped[str | None] = mapped_column(Text)
    # While it runs on a cluster: what its trials wait for when no node can run one (the
    # driver's pool.NodeWatch); None once one can, and when it ends.
    waiting: Mapped[str | None] = mapped_column(Text)
    searcher_state: Mapped[dict | None] = mapped_column(JSON)
    # service mode: the dispatcher holding the study, until its lease expires
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    # The web UI's study management: Markdown notes, tags, archive (hidden, restorable),
    # and the spec's text as it was submitted (``spec`` is the validated form).
    notes: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list | None] = mapped_column(JSON)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime)
    spec_text: Mapped[str | None] = mapped_column(Text)
    # Cold start: the trial whose weights every trial starts from, as a snapshot (study,
    # trial, checkpoint and its copy, architecture, data) that outlives the source study.
    init_source: Mapped[dict | None] = mapped_column(JSON)
    # warm_start: auto: the studies it picked and why ([{study, id, reason}]).
    warm_start_picked: Mapped[list | None] = mapped_column(JSON)

    trials: Mapped[list["Trial"]] = relationship(back_populates="study", cascade="all, delete-orphan",
                                                 order_by="Trial.number")


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("study_id", "number", name="uq_trials_study_number"),
                      UniqueConstraint("study_id", "ray_trial_id", name="uq_trials_study_ray_id"),
                      Index("ix_trials_study_status", "study_id", "status"),
                      # the best trial, a study's best value and the trials sorted by value:
                      # an index walk, not a sort of every trial (1,000,000 trials: 0.4 s each)
                      Index("ix_trials_study_value", "study_id", "value"),
                      # the timeline's latest trials by start and its count of started trials:
                      # an index walk (100,000 trials on SQLite: 1.2 s of rows scanned, sorted)
                      Index("ix_trials_study_started", "study_id", "started_at", "number"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    ray_trial_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=TrialStatus.RUNNING)
    value: Mapped[float | None] = mapped_column(Float)        # final value of the study's metric
    best_value: Mapped[float | None] = mapped_column(Float)   # best value it reported
    # final value of each objective and constrained metric (multi-objective studies)
    values: Mapped[dict | None] = mapped_column(JSON)
    iterations: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    checkpoint: Mapped[str | None] = mapped_column(Text)
    imported_from: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)  # Markdown, written on the trial page
    # Where the trial (last) ran: the Ray node (id, host name, IP) and the slot, the
    # lowest concurrency slot free on that node when it started (the timeline's lane).
    node_id: Mapped[str | None] = mapped_column(String(64))
    node_host: Mapped[str | None] = mapped_column(String(255))
    node_ip: Mapped[str | None] = mapped_column(String(64))
    slot: Mapped[int | None] = mapped_column(Integer)

    study: Mapped[Study] = relationship(back_populates="trials")


# The trials table sorted by value, NULL values last in either direction, then by number
# (webui/queries.py trials_filtered): one index per direction (each, read backward, serves
# the other direction's back-half pages, hpsearch/store/queries.py page), holding every key
# of the order, so that a page's numbers are an index-only walk past the offset instead of a
# sort of every trial (page 20,000 of a 1,000,000-trial study: 2.8-4.2 s sorted).
Index("ix_trials_study_value_up", Trial.study_id, Trial.value.is_(None), Trial.value, Trial.number)
Index("ix_trials_study_value_down", Trial.study_id, Trial.value.is_(None), Trial.value.desc(),
      Trial.number)


class StudyFrameRow(Base):
    """A study's scored trials as columns, what its charts read (hpsearch/store/frames.py):
    kept up to date as trials end and when the study ends; ``marker`` says which state of
    the trials it holds, so a reader refreshes a stale one instead of drawing from it."""

    __tablename__ = "study_frames"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          primary_key=True)
    marker: Mapped[str] = mapped_column(String(100))
    trials: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StudyFigureRow(Base):
    """A finished study's chart as built (plotly JSON, zlib-compressed), so that a server
    process that has not drawn it yet serves it without reading the study's trials
    (hpsearch/store/figures.py). ``key`` names the chart, its options and the code that
    built it; ``version`` the study's state it shows: a row for another state is rebuilt."""

    __tablename__ = "study_figures"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"),
                                          primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DispatcherBeat(Base):
    """A live dispatcher: it rewrites its row every few seconds and deletes it when it stops
    (the web UI says when a queued study has no live dispatcher to run it)."""

    __tablename__ = "dispatchers"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    max_studies: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class Result(Base):
    """One reported result: a trial's metrics at one training iteration."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("trial_id", "iteration", name="uq_results_trial_iteration"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No index of its own: the unique (trial_id, iteration) serves every lookup by trial.
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    iteration: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(Float)  # the study's metric, for fast curves
    metrics: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TrialEvent(Base):
    """A trial's status history (shown on the trial page)."""

    __tablename__ = "trial_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    message: Mapped[str | None] = mapped_column(Text)


class TrialLog(Base):
    """What a trial printed (stdout, stderr, Python logging), bounded: the first
    characters (``head``) and the last (``tail``); ``cut`` characters between them
    were dropped. ``total`` counts every character the trial printed, so a reader
    that holds the first ``n`` asks for what follows (see hpsearch/logtext.py)."""

    __tablename__ = "trial_logs"

    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"),
                                          primary_key=True)
    head: Mapped[str] = mapped_column(Text, default="")
    tail: Mapped[str] = mapped_column(Text, default="")
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    cut: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TrialMedia(Base):
    """An image or a plotly figure a trial recorded at a step. The file lives under
    the service's media folder (hpsearch/media.py); this row is its metadata."""

    __tablename__ = "trial_media"
    __table_args__ = (UniqueConstraint("trial_id", "name", "step", name="uq_trial_media_name_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))          # MediaKind: image | plotly
    path: Mapped[str] = mapped_column(String(500))         # relative to the media folder
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Role:
    """Account roles, weakest first: each includes the rights of those before it."""

    VIEWER = "viewer"   # reads every study
    MEMBER = "member"   # + submits studies and cancels its own
    ADMIN = "admin"     # + cancels any study, manages users and their tokens
    ALL = (VIEWER, MEMBER, ADMIN)

    @staticmethod
    def rank(role: str | None) -> int:
        return Role.ALL.index(role) if role in Role.ALL else -1


def new_session_key() -> str:
    """A user's random session binding (256 bits)."""
    return secrets.token_urlsafe(32)


class User(Base):
    """A web/API account (``hpsearch user add``); no default account exists.

    Ids are never reused (SQLite ``AUTOINCREMENT``; PostgreSQL sequences never go back),
    and a session cookie names the user's random ``session_key`` too: a removed user's
    cookie cannot log in as a later user, whatever id that one gets.
    """

    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))    # argon2id, salted
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER)
    # Regenerated on password change, role change and logout: every cookie issued before dies.
    session_key: Mapped[str] = mapped_column(String(64), default=new_session_key)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user",
                                                    cascade="all, delete-orphan")


class ApiToken(Base):
    """An API token: only its SHA-256 is stored; the token is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))               # to recognise it in lists
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)   # None: until revoked

    user: Mapped[User] = relationship(back_populates="tokens")


class LoginFailure(Base):
    """Failed logins per account (``user:NAME``) or per client address (``ip:ADDR``),
    kept in SQL so that a lock-out survives a restart."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)


class Deployment(Base):
    """A trial's model served on Ray Serve (``hpsearch deploy``). The row is the declaration:
    a dispatcher serves every row that is not STOPPING, and brings them back after a restart.
    The source is kept by value (study name, trial, model file), not by foreign key, so that
    deleting the study does not take a running deployment's record with it."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    study_id: Mapped[int | None] = mapped_column(Integer, index=True)
    study_name: Mapped[str] = mapped_column(String(200))
    trial_number: Mapped[int] = mapped_column(Integer)
    family: Mapped[str] = mapped_column(String(200))
    model_path: Mapped[str] = mapped_column(Text)          # the exported TorchScript file
    card: Mapped[dict] = mapped_column(JSON)               # its model card (input shape, ...)
    status: Mapped[str] = mapped_column(String(16), default=DeploymentStatus.PENDING)
    min_replicas: Mapped[int] = mapped_column(Integer, default=1)
    max_replicas: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    # What Ray Serve reports for it (the serving host writes it): replica bounds, target and
    # running replicas; shown in the UI and the API.
    serve_state: Mapped[dict | None] = mapped_column(JSON)
