"""Accounts: users with roles, argon2id password hashes, API tokens, login lock-out.

No account exists until ``hpsearch user add`` creates one, and the first must be
an admin. Passwords are hashed with argon2id (argon2-cffi: salted, memory-hard,
the parameters of RFC 9106's second recommendation). API tokens are 256-bit
random strings; only their SHA-256 is stored, so a leaked database holds no
usable token, and revoking one takes effect on the next request.

>>> accounts = Accounts(Store("sqlite:///:memory:"))      # doctest: +SKIP
>>> accounts.add_user("ada", "correct horse battery", role="admin")  # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from hpsearch.exceptions import ConflictError, HpsearchError, NotFoundError, StorageError
from hpsearch.store import Store
from hpsearch.store.models import ApiToken, LoginFailure, Role, User, new_session_key, utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024          # argon2 hashes any length; cap the work a request can ask for
TOKEN_PREFIX = "hps_"
LAST_USED_EVERY = timedelta(seconds=60)  # token last-used writes, at most once a minute
MAX_TOKEN_LIFETIME = timedelta(days=3650)


class AccountError(HpsearchError):
    """Bad input for an account operation (CLI exit 2, HTTP 400)."""


class LockedOut(HpsearchError):
    """Too many failed logins for this account or address (HTTP 429)."""

    def __init__(self, until: datetime, what: str = ""):
        self.until = until
        super().__init__(f"too many failed logins{what}; try again after "
                         f"{until.isoformat(timespec='seconds')}Z")


@dataclass(frozen=True)
class Principal:
    """Who makes a request: the user's name and role, and how they proved it."""

    username: str
    role: str
    user_id: int | None = None
    via: str = "session"  # "session", "token", or "local" (authentication off)

    def has(self, role: str) -> bool:
        return Role.rank(self.role) >= Role.rank(role)


@dataclass(frozen=True)
class LockPolicy:
    """An account with ``max_failures`` attempts within ``window`` is locked for ``lock``
    (each attempt is counted before its password is checked, so concurrent guesses cannot
    overrun the limit; a correct one clears the count). An address with ``max_failures_ip``
    failures is throttled: its wrong passwords are answered 429 (and still count against
    the accounts tried), but a correct password for an account that is not locked logs in,
    so a flood from one address (or from behind a shared proxy) locks nobody else out."""

    max_failures: int = 5
    max_failures_ip: int = 20
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, 64 MiB, t=3, p=4, 16-byte salt


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


def check_username(name: str) -> str:
    if not isinstance(name, str) or not USERNAME_RE.match(name):
        raise AccountError(f"username must be 1-100 letters, digits or . _ @ - "
                           f"(starting with a letter or digit), got {name!r}")
    return name


def check_role(role: str) -> str:
    if role not in Role.ALL:
        raise AccountError(f"role must be one of {', '.join(Role.ALL)}, got {role!r}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password must be at most {MAX_PASSWORD} characters")
    return password


class Accounts:
    """Users, tokens and login failures in the store's database."""

    def __init__(self, store: Store, policy: LockPolicy | None = None):
        self.store = store
        self.policy = policy or LockPolicy()
        self._dummy_hash: str | None = None

    # -- users ----------------------------------------------------------------------
    def count_users(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(User)) or 0

    def add_user(self, username: str, password: str, role: str | None = None) -> User:
        """Create a user; the first one is an admin (and must be)."""
        check_username(username)
        check_password(password)
        first = self.count_users() == 0
        role = role or (Role.ADMIN if first else Role.MEMBER)
        check_role(role)
        if first and role != Role.ADMIN:
            raise AccountError(f"the first user must be an admin (--role admin), got {role!r}")
        user = User(username=username, password_hash=_hasher().hash(password), role=role)
        from sqlalchemy.exc import IntegrityError

        try:
            with self.store.session(write=True) as s:
                s.add(user)
        except IntegrityError:
            raise ConflictError(f"user {username!r} already exists") from None
        return user

    def get_user(self, username: str) -> User:
        with self.store.session() as s:
            user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFoundError(f"no user {username!r}")
        return user

    def user_by_id(self, user_id: int) -> User | None:
        with self.store.session() as s:
            return s.get(User, user_id)

    def list_users(self) -> list[User]:
        with self.store.session() as s:
            return list(s.scalars(select(User).order_by(User.username)))

    def _admins(self, s) -> int:
        return s.scalar(select(func.count()).select_from(User).where(User.role == Role.ADMIN)) or 0

    def remove_user(self, username: str) -> None:
        """Delete a user and their tokens; the last admin cannot be removed."""
        with self.store.session(write=True) as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            if user.role == Role.ADMIN and self._admins(s) <= 1:
                raise ConflictError(f"{username!r} is the last admin; add another admin first")
            s.delete(user)

    def set_role(self, username: str, role: str) -> None:
        check_role(role)
        with self.store.session(write=True) as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            if user.role == Role.ADMIN and role != Role.ADMIN and self._admins(s) <= 1:
                raise ConflictError(f"{username!r} is the last admin; add another admin first")
            if user.role != role:
                user.role = role
                user.session_key = new_session_key()  # sessions carry no stale role

    def set_password(self, username: str, password: str) -> None:
        """Change a password; every session of that user ends."""
        check_password(password)
        with self.store.session(write=True) as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            user.password_hash = _hasher().hash(password)
            user.session_key = new_session_key()

    def end_sessions(self, user_id: int) -> None:
        """Every session of this user ends (a new random session key)."""
        with self.store.session(write=True) as s:
            s.execute(update(User).where(User.id == user_id)
                      .values(session_key=new_session_key()))

    # -- login ----------------------------------------------------------------------
    def authenticate(self, username: str, password: str, address: str = "") -> User | None:
        """The user if the password matches; None otherwise.

        Raises LockedOut while the account is locked (before any password is checked),
        and for a wrong password from a throttled address. The attempt is counted
        against the account atomically before the password is checked.
        """
        from argon2.exceptions import InvalidHashError, VerificationError

        user_key, ip_key = f"user:{(username or '')[:100]}", f"ip:{(address or '')[:100]}"
        self._admit(user_key)
        user = None
        if USERNAME_RE.match(username or "") and len(password or "") <= MAX_PASSWORD:
            with self.store.session() as s:
                user = s.scalar(select(User).where(User.username == username))
        ph = _hasher()
        try:
            # An unknown user costs a hash too, so timing does not tell who exists.
            ph.verify(user.password_hash if user else self._dummy(), password or "")
            ok = user is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            throttled = self._count_address(ip_key)
            if throttled is not None:
                raise LockedOut(throttled, " from this address")
            return None
        with self.store.session(write=True) as s:
            s.execute(delete(LoginFailure).where(LoginFailure.key == user_key))
            fresh = s.get(User, user.id)
            fresh.last_login_at = utcnow()
            if ph.check_needs_rehash(fresh.password_hash):
                fresh.password_hash = ph.hash(password)
        return user

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = _hasher().hash(secrets.token_hex(16))
        return self._dummy_hash

    def _locked_row(self, s, key: str) -> LoginFailure:
        """The counter row of ``key``, created if absent, locked for this transaction."""
        dialect = self.store.engine.dialect.name
        if dialect in ("postgresql", "sqlite"):
            insert = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"]).insert
            s.execute(insert(LoginFailure).values(key=key, failures=0, window_start=utcnow())
                      .on_conflict_do_nothing(index_elements=["key"]))
        row = s.scalar(select(LoginFailure).where(LoginFailure.key == key).with_for_update())
        if row is None:  # another dialect: plain insert
            row = LoginFailure(key=key, failures=0, window_start=utcnow())
            s.add(row)
        return row

    def _count(self, key: str, limit: int, *, refuse_locked: bool) -> datetime | None:
        """Count one attempt on ``key`` in one write transaction (the row is locked, and
        SQLite's BEGIN IMMEDIATE serialises writers); returns the lock's end once
        ``limit`` is reached. With ``refuse_locked``, a locked key raises LockedOut and
        is not counted."""
        now = utcnow()
        p = self.policy
        with self.store.session(write=True) as s:
            row = self._locked_row(s, key)
            if row.locked_until is not None and row.locked_until > now:
                if refuse_locked:
                    raise LockedOut(row.locked_until)
            elif row.locked_until is not None or now - row.window_start > p.window:
                row.failures, row.window_start, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= limit and row.locked_until is None:
                row.locked_until = now + p.lock
            return row.locked_until if row.failures >= limit else None

    def _admit(self, user_key: str) -> None:
        self._count(user_key, self.policy.max_failures, refuse_locked=True)

    def _count_address(self, ip_key: str) -> datetime | None:
        return self._count(ip_key, self.policy.max_failures_ip, refuse_locked=False)

    def unlock(self, username: str) -> None:
        """Forget an account's failed logins."""
        with self.store.session(write=True) as s:
            s.execute(delete(LoginFailure).where(LoginFailure.key == f"user:{username}"))

    def unlock_address(self, address: str) -> int:
        """Forget an address's failed logins; returns how many counters were cleared."""
        with self.store.session(write=True) as s:
            return s.execute(delete(LoginFailure)
                             .where(LoginFailure.key == f"ip:{address}")).rowcount or 0

    # -- tokens ---------------------------------------------------------------------
    def create_token(self, username: str, name: str = "", *,
                     expires_in: timedelta | None = None) -> tuple[ApiToken, str]:
        """A new token for ``username``: returns its row and the token (shown once).

        ``expires_in``: the token stops working after this long (None: until revoked).
        Who may call this is the caller's check: the web UI needs a logged-in session
        and the password (a token never mints tokens); the CLI needs the database.
        """
        name = (name or "").strip() or "token"
        if len(name) > 100 or not all(c.isprintable() for c in name):
            raise AccountError("token name must be 1-100 printable characters")
        if expires_in is not None and not (timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME):
            raise AccountError(f"a token's lifetime must be 1 to {MAX_TOKEN_LIFETIME.days} days")
        user = self.get_user(username)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(user_id=user.id, name=name, prefix=token[:10], token_hash=hash_token(token),
                       expires_at=utcnow() + expires_in if expires_in is not None else None)
        with self.store.session(write=True) as s:
            s.add(row)
        return row, token

    def list_tokens(self, username: str | None = None) -> list[tuple[ApiToken, str]]:
        """(token row, owner's username), newest first; all users' when ``username`` is None."""
        with self.store.session() as s:
            q = select(ApiToken, User.username).join(User).order_by(ApiToken.id.desc())
            if username is not None:
                q = q.where(User.username == username)
            return [(t, u) for t, u in s.execute(q)]

    def get_token(self, token_id: int) -> tuple[ApiToken, str]:
        with self.store.session() as s:
            row = s.execute(select(ApiToken, User.username).join(User)
                            .where(ApiToken.id == token_id)).first()
        if row is None:
            raise NotFoundError(f"no token {token_id}")
        return row[0], row[1]

    def revoke_token(self, token_id: int) -> ApiToken:
        with self.store.session(write=True) as s:
            row = s.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no token {token_id}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return row

    def user_for_token(self, token: str) -> User | None:
        """The live token's user, or None (unknown, revoked or expired); notes when it was used."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        with self.store.session() as s:
            row = s.execute(select(ApiToken, User).join(User)
                            .where(ApiToken.token_hash == digest)).first()
        if row is None:
            return None
        tok, user = row
        # Compared again in constant time; the index lookup above is on the hash only.
        if tok.revoked_at is not None or not hmac.compare_digest(tok.token_hash, digest):
            return None
        now = utcnow()
        if tok.expires_at is not None and tok.expires_at <= now:
            return None
        if tok.last_used_at is None or now - tok.last_used_at > LAST_USED_EVERY:
            try:
                with self.store.session(write=True) as s:
                    s.execute(update(ApiToken).where(ApiToken.id == tok.id)
                              .values(last_used_at=now))
            except StorageError:  # best effort: a busy database must not refuse the request
                pass
        return user
