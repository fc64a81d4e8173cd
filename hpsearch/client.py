"""A small client of a running hpsearch service's JSON API (``/api/v1``).

    >>> from hpsearch.client import Client
    >>> c = Client("http://127.0.0.1:8080")                 # doctest: +SKIP
    >>> study = c.submit("spec.yaml")                       # doctest: +SKIP
    >>> study.id, study.status                              # doctest: +SKIP
    >>> study.wait(timeout=600)                             # doctest: +SKIP

The server comes from the argument, else ``$HPSEARCH_SERVER``, else the config
file (``$HPSEARCH_HOME/config.yaml``, then ``~/.config/hpsearch/config.yaml``,
keys ``server`` and ``token``). The token (``$HPSEARCH_TOKEN`` or the config
file) is sent as ``Authorization: Bearer <token>``. Every POST carries an
``Idempotency-Key`` and is retried with the same key when the connection fails,
so a retried submit never queues a study twice.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from hpsearch.exceptions import HpsearchError, SpecError
from hpsearch.settings import settings
from hpsearch.status import StudyStatus

RETRY_STATUS = (502, 503, 504)


class ServerError(HpsearchError):
    """The service answered with an error; ``status`` is the HTTP status.

    ``exit_code`` is what the CLI exits with: 2 for a bad request (400, 422), 1 otherwise.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
        self.exit_code = 2 if status in (400, 422) else 1


class ServerUnreachable(ServerError):
    """No answer from the server (refused, timed out, name not found)."""


class ServerSpecError(SpecError):
    """The server refused the spec (422); ``problems`` are its field messages."""

    exit_code = 2


# -- configuration ----------------------------------------------------------------------
def config_paths() -> list[Path]:
    from hpsearch.store.store import home

    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [home() / "config.yaml", Path(xdg) / "hpsearch" / "config.yaml"]


def read_config() -> dict:
    """The first config file found (``{}`` when there is none)."""
    import yaml

    for path in config_paths():
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise HpsearchError(f"config file {path} is not valid YAML: {exc}") from None
            if not isinstance(data, dict):
                raise HpsearchError(f"config file {path} must be a mapping (server:, token:)")
            unknown = sorted(set(data) - {"server", "token"})
            if unknown:
                raise HpsearchError(f"config file {path}: unknown key {unknown[0]!r} "
                                    "(valid: server, token)")
            return data
    return {}


def resolve_server(server: str | None = None) -> str | None:
    """``server``, else ``$HPSEARCH_SERVER``, else the config file's ``server``; or None."""
    return server or settings().server or read_config().get("server") or None


def resolve_token(token: str | None = None) -> str | None:
    return token or settings().token or read_config().get("token") or None


def _check_url(server: str) -> str:
    parsed = urllib.parse.urlsplit(server)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ServerError(f"server must be an http:// or https:// URL, got {server!r}", 400)
    return server.rstrip("/")


# -- the client -------------------------------------------------------------------------
class Client:
    """Talks to one hpsearch service. Raises ServerError / ServerSpecError on failure."""

    def __init__(self, server: str | None = None, token: str | None = None, *,
                 timeout: float = 30.0, retries: int = 3, backoff: float = 0.5):
        resolved = resolve_server(server)
        if not resolved:
            raise ServerError("no server given: use --server URL, $HPSEARCH_SERVER or a "
                              "config file with `server:`", 400)
        self.server = _check_url(resolved)
        self.token = resolve_token(token)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def __repr__(self) -> str:
        return f"<Client {self.server}>"

    # -- HTTP -------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *,
                idempotency_key: str | None = None) -> Any:
        """One JSON request; POSTs get an Idempotency-Key and are retried with it."""
        url = f"{self.server}/api/v1{path}"
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, default=str).encode()
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        attempt = 0
        while True:
            attempt += 1
            req = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    raw = resp.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                if exc.code in RETRY_STATUS and attempt <= self.retries:
                    self._sleep(attempt)
                    continue
                raise self._error(exc) from None
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    socket.timeout, TimeoutError) as exc:
                if attempt <= self.retries:
                    self._sleep(attempt)
                    continue
                reason = getattr(exc, "reason", None) or exc
                raise ServerUnreachable(f"cannot reach the hpsearch server at {self.server}: "
                                        f"{reason}") from None

    def _sleep(self, attempt: int) -> None:
        time.sleep(min(self.backoff * 2 ** (attempt - 1), 5.0))

    def _error(self, exc: urllib.error.HTTPError) -> Exception:
        try:
            body = json.loads(exc.read() or b"{}")
        except (ValueError, OSError):
            body = {}
        if not isinstance(body, dict):
            body = {}
        if exc.code == 422 and body.get("fields"):
            return ServerSpecError([(f.get("field", "spec"), f.get("message", ""))
                                    for f in body["fields"]])
        message = body.get("message") or exc.reason or "error"
        if exc.code in (401, 403):
            hint = " (set HPSEARCH_TOKEN or `token:` in the config file)" if not self.token else ""
            return ServerError(f"{self.server} refused the request ({exc.code}): {message}{hint}",
                               exc.code)
        return ServerError(f"{self.server} answered {exc.code}: {message}", exc.code)

    # -- studies ----------------------------------------------------------------------
    def submit(self, spec: dict | str | Path) -> "RemoteStudy":
        """Queue a spec (a dict, a YAML/JSON file path or text); returns at once."""
        body = _spec_body(spec)
        d = self.request("POST", "/studies", body)
        return RemoteStudy(self, d["id"], d)

    def study(self, ref: int | str) -> "RemoteStudy":
        study_id = self.study_id(ref)
        return RemoteStudy(self, study_id, self.request("GET", f"/studies/{study_id}"))

    def study_id(self, ref: int | str) -> int:
        """An id from an id or a study name (names are looked up on the server)."""
        if isinstance(ref, int) or (str(ref).isascii() and str(ref).isdigit()):
            return int(ref)
        q = urllib.parse.urlencode({"q": ref, "per_page": 200})
        for item in self.request("GET", f"/studies?{q}")["items"]:
            if item["name"] == ref:
                return item["id"]
        raise ServerError(f"no study {ref!r} on {self.server}", 404)

    def cancel(self, ref: int | str) -> dict:
        return self.request("POST", f"/studies/{self.study_id(ref)}/cancel")

    def trials(self, study_id: int, *, sort: str = "number", per_page: int = 200) -> list[dict]:
        q = urllib.parse.urlencode({"sort": sort, "per_page": per_page})
        return self.request("GET", f"/studies/{study_id}/trials?{q}")["items"]


def _spec_body(spec: dict | str | Path) -> dict:
    if isinstance(spec, dict):
        return spec
    from hpsearch.spec import _read

    # A path or YAML text is read here, so a missing file is named on this machine.
    return _read(spec)


class RemoteStudy:
    """A handle on a study of a service: ``id``, ``status``, ``wait()``, ``cancel()``."""

    def __init__(self, client: Client, study_id: int, data: dict | None = None):
        self.client = client
        self.id = study_id
        self._data = data or {}

    def __repr__(self) -> str:
        return f"<RemoteStudy {self.id} {self._data.get('name')!r} {self._data.get('status')}>"

    def refresh(self) -> dict:
        self._data = self.client.request("GET", f"/studies/{self.id}")
        return self._data

    @property
    def data(self) -> dict:
        """The study as the API last described it (``refresh()`` re-reads it)."""
        return self._data or self.refresh()

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def status(self) -> str:
        return self.refresh()["status"]

    @property
    def best_value(self) -> float | None:
        return self.refresh().get("best_value")

    @property
    def trials(self) -> list[dict]:
        return self.client.trials(self.id)

    def cancel(self) -> dict:
        return self.client.cancel(self.id)

    def wait(self, timeout: float | None = None, *, poll: float = 2.0,
             on_change=None) -> "RemoteStudy":
        """Block until the study is COMPLETED, FAILED or CANCELLED; TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            d = self.refresh()
            state = (d["status"], d.get("trials_done"), d.get("best_value"), d.get("waiting"))
            if on_change is not None and state != last:
                on_change(d)
            last = state
            if d["status"] in StudyStatus.FINISHED:
                return self
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"study {self.id} is still {d['status']} after {timeout} s")
            time.sleep(poll)
