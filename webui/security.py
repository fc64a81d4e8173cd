"""Browser-facing defences: CSRF tokens, Origin and Host checks, security headers.

CSRF uses a synchronizer token: a random value kept in the signed session cookie,
sent back by forms as the hidden field ``csrf_token`` and by scripts as the
``X-CSRFToken`` header (read from ``<meta name="csrf-token">``). Requests that
authenticate with ``Authorization: Bearer`` are exempt: a browser never attaches
that header by itself, and a cross-site page cannot add it without a CORS
preflight, which this app never grants.
"""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, current_app, request, session

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
_SESSION_KEY = "_csrf"

# plotly.js injects <style> elements and style attributes, hence 'unsafe-inline' for
# styles only; no script runs unless it is a file this app serves.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get(_SESSION_KEY)
    if not token:
        token = session[_SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def new_csrf_token() -> None:
    """A fresh token (after login, so that a token seen before login is worthless)."""
    session[_SESSION_KEY] = secrets.token_urlsafe(32)


def csrf_problem() -> str | None:
    """Why this unsafe request fails the CSRF check, or None when it passes."""
    expected = session.get(_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.mimetype in ("application/x-www-form-urlencoded",
                                             "multipart/form-data"):
        sent = request.form.get(CSRF_FIELD)
    if not expected or not sent:
        return "the CSRF token is missing; reload the page and try again"
    if not hmac.compare_digest(str(sent), str(expected)):
        return "the CSRF token is wrong or expired; reload the page and try again"
    return None


def origin_problem() -> str | None:
    """A cross-origin unsafe request (by its Origin or Referer header), or None."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if not referer:
            return None  # not from a browser page (or stripped): the CSRF token decides
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin == "null":
        return "requests from an opaque origin are refused"
    trusted = current_app.config.get("TRUSTED_ORIGINS") or ()
    netloc = urlsplit(origin).netloc
    # Compare host:port only: behind a TLS proxy the app sees http, the browser https.
    if netloc.lower() == request.host.lower() or origin in trusted:
        return None
    return f"cross-origin request from {origin!r} refused"


def host_problem() -> str | None:
    """With authentication off, only loopback host names are answered: a page on
    another site cannot reach this UI through DNS rebinding."""
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    host = host.strip("[]").lower()
    from webui.serve import is_loopback

    allowed = current_app.config.get("ALLOWED_HOSTS") or ()
    if is_loopback(host) or host in allowed:
        return None
    return (f"host {host!r} refused: with authentication off this UI answers only on "
            "loopback names (localhost, 127.0.0.1)")


def set_headers(response):
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if "Cache-Control" not in h:
        h["Cache-Control"] = "no-store"  # pages and answers hold the team's data
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.after_request(set_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
