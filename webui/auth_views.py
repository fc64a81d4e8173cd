"""Login, logout, one's own account and tokens, and (admins) the team's users.

Access to each view is decided centrally in :mod:`webui.auth`; the views here
check only what depends on the data (whose token is revoked).
"""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_login import login_user, logout_user

from hpsearch.accounts import AccountError, LockedOut
from hpsearch.exceptions import ConflictError, NotFoundError
from hpsearch.store.models import Role
from webui import security
from webui.auth import SessionUser, accounts, principal

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no open redirect to another host)."""
    if not target:
        return url_for("pages.studies")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for("pages.studies")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if not current_app.config["AUTH"]:
        return redirect(url_for("pages.studies"))
    nxt = request.values.get("next")
    if request.method == "GET":
        return render_template("login.html", next=nxt, error=None)
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    try:
        user = accounts().authenticate(username, password, request.remote_addr or "")
    except LockedOut as exc:
        return render_template("login.html", next=nxt, error=str(exc)), 429
    if user is None:
        # One message for a wrong name and a wrong password: names are not disclosed.
        return render_template("login.html", next=nxt,
                               error="wrong username or password"), 401
    session.clear()  # no session fixation: a fresh session for the logged-in user
    session.permanent = True
    login_user(SessionUser(user))
    security.new_csrf_token()
    return redirect(_safe_next(nxt), code=303)


@bp.post("/logout")
def logout():
    who = principal()
    if who is not None and who.user_id is not None:
        accounts().end_sessions(who.user_id)  # a copied cookie dies with this one
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), code=303)


@bp.get("/account")
def account():
    who = principal()
    tokens = accounts().list_tokens(who.username) if who.user_id is not None else []
    return render_template("account.html", tokens=tokens, new_token=None)


@bp.post("/account/password")
def password():
    who = principal()
    if who.user_id is None:
        return _back("account", "there is no account while authentication is off", 400)
    acc = accounts()
    try:
        if acc.authenticate(who.username, request.form.get("current", ""),
                            request.remote_addr or "") is None:
            return _back("account", "the current password is wrong", 403)
    except LockedOut as exc:
        return _back("account", str(exc), 429)
    try:
        acc.set_password(who.username, request.form.get("new", ""))
    except AccountError as exc:
        return _back("account", str(exc), 400)
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"), code=303)


@bp.post("/account/tokens")
def token_create():
    """A new token: needs a logged-in session and the password (a token never mints
    tokens, so a stolen token cannot outlive its own revocation through a child)."""
    who = principal()
    if who.user_id is None:
        return _back("account", "tokens need an account (authentication is off)", 400)
    if who.via != "session":
        return _back("account", "tokens are created from a logged-in session, not with a token",
                     403)
    acc = accounts()
    try:
        if acc.authenticate(who.username, request.form.get("password", ""),
                            request.remote_addr or "") is None:
            return _back("account", "password: wrong password", 403)
    except LockedOut as exc:
        return _back("account", str(exc), 429)
    days = (request.form.get("expires_days") or "").strip()
    if days and not (days.isascii() and days.isdigit() and 1 <= int(days) <= 3650):
        return _back("account", f"expires_days: must be 1 to 3650 days, got {days[:20]!r}", 400)
    try:
        row, token = acc.create_token(who.username, request.form.get("name", ""),
                                      expires_in=timedelta(days=int(days)) if days else None)
    except AccountError as exc:
        return _back("account", str(exc), 400)
    # Shown once, in this answer only (never stored in clear, never in a URL).
    return render_template("account.html", tokens=accounts().list_tokens(who.username),
                           new_token={"id": row.id, "name": row.name, "token": token})


@bp.post("/account/tokens/<int:token_id>/revoke")
def token_revoke(token_id: int):
    who = principal()
    try:
        _row, owner = accounts().get_token(token_id)
    except NotFoundError as exc:
        return _back("account", str(exc), 404)
    if owner != who.username and not who.has(Role.ADMIN):
        return _back("account", "you may revoke only your own tokens", 403)
    accounts().revoke_token(token_id)
    return redirect(url_for("auth.users" if owner != who.username else "auth.account"), code=303)


@bp.get("/users")
def users():
    return render_template("users.html", users=accounts().list_users(),
                           tokens=accounts().list_tokens(), roles=Role.ALL)


@bp.post("/users")
def user_add():
    form = request.form
    try:
        accounts().add_user(form.get("username", ""), form.get("password", ""),
                            role=form.get("role") or Role.MEMBER)
    except (AccountError, ConflictError) as exc:
        return _back("users", str(exc), 400)
    return redirect(url_for("auth.users"), code=303)


@bp.post("/users/<username>/remove")
def user_remove(username: str):
    try:
        accounts().remove_user(username)
    except (NotFoundError, ConflictError) as exc:
        return _back("users", str(exc), 409 if isinstance(exc, ConflictError) else 404)
    return redirect(url_for("auth.users"), code=303)


@bp.post("/users/<username>/role")
def user_role(username: str):
    try:
        accounts().set_role(username, request.form.get("role", ""))
    except (AccountError, NotFoundError, ConflictError) as exc:
        return _back("users", str(exc), 400)
    return redirect(url_for("auth.users"), code=303)


def _back(page: str, message: str, status: int):
    """Re-render a page with an error message (and the right 4xx status)."""
    flash(message, "error")
    if page == "users":
        return render_template("users.html", users=accounts().list_users(),
                               tokens=accounts().list_tokens(), roles=Role.ALL), status
    who = principal()
    tokens = accounts().list_tokens(who.username) if who.user_id is not None else []
    return render_template("account.html", tokens=tokens, new_token=None), status
