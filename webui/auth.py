"""Authentication and authorisation: one central, default-deny check per request.

Every endpoint is listed in :data:`ACCESS` with the weakest role that may use it,
or in :data:`PUBLIC`. An endpoint in neither is refused (403), so a new route
cannot slip out of the access layer; ``tests/security/test_access.py`` walks the
whole URL map to prove it.

Who is asking:

- ``Authorization: Bearer <token>``: an API token (``hpsearch token create``);
  a wrong or revoked one is refused with 401 at once;
- else the Flask-Login session cookie of a user who logged in;
- with ``AUTH`` off (a loopback ``hpsearch ui`` without users): everyone is the
  local admin, and the UI says so in a banner.
"""
from __future__ import annotations

from flask import Flask, current_app, g, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user

from hpsearch.accounts import Accounts, LockPolicy, Principal
from hpsearch.exceptions import NotFoundError
from hpsearch.store.models import Role
from webui import security

VIEWER, MEMBER, ADMIN = Role.VIEWER, Role.MEMBER, Role.ADMIN

# Answered without login: the login form, static files, the bundled plotly.js, health.
PUBLIC = frozenset({"static", "pages.plotly_js", "api.health", "auth.login"})

# endpoint -> the weakest role that may call it (every method of the endpoint).
ACCESS: dict[str, str] = {
    "pages.studies": VIEWER, "pages.study": VIEWER, "pages.trial": VIEWER,
    "pages.compare": VIEWER, "pages.compare_trials": VIEWER, "pages.submit": MEMBER,
    "pages.cancel": MEMBER, "pages.manage_study": MEMBER, "pages.trial_notes": MEMBER,
    "api.update": MEMBER, "api.delete": MEMBER, "api.trial_update": MEMBER,
    "api.openapi": VIEWER, "api.studies": VIEWER, "api.study": VIEWER, "api.trials": VIEWER,
    "api.trial": VIEWER, "api.plot": VIEWER, "api.results": VIEWER, "api.trials_export": VIEWER, "api.compare_trials": VIEWER,
    "api.compare_studies": VIEWER,
    "api.create": MEMBER, "api.cancel": MEMBER,
    "auth.logout": VIEWER, "auth.account": VIEWER, "auth.password": VIEWER,
    "auth.token_create": VIEWER, "auth.token_revoke": VIEWER,
    "auth.users": ADMIN, "auth.user_add": ADMIN, "auth.user_remove": ADMIN,
    "auth.user_role": ADMIN,
    "models.export_trial": VIEWER,  # reading a trained model, like reading its trial
    # what a trial printed and drew: readable by whoever may read the study
    "outputs.log_json": VIEWER, "outputs.log_download": VIEWER, "outputs.media_list": VIEWER,
    "outputs.media_file": VIEWER, "outputs.compare_media": VIEWER,
    # Deployments: viewers list and predict; members declare, and undeploy their own
    # (webui/deployments.py checks the creator; admins any).
    "deployments.list_deployments": VIEWER, "deployments.get_deployment": VIEWER,
    "deployments.predict": VIEWER, "deployment_pages.deployments_page": VIEWER,
    "deployments.create_deployment": MEMBER, "deployments.delete_deployment": MEMBER,
    "deployment_pages.deploy_trial": MEMBER,
    "metrics.metrics": VIEWER,  # Prometheus scrapes with a viewer's API token (docs/deployment.md)
}

# Endpoints acting on one study: a member may use them on the studies they own.
OWNED = frozenset({"pages.cancel", "api.cancel", "pages.manage_study", "pages.trial_notes",
                   "api.update", "api.delete", "api.trial_update"})


class SessionUser(UserMixin):
    """What Flask-Login keeps: the id carries the user's random session key, so a
    password change, a role change, a removal or a logout ends every cookie issued
    before (and a cookie of a removed user never matches a later user)."""

    def __init__(self, user):
        self.user_id, self.username, self.role = user.id, user.username, user.role
        self.session_key = user.session_key

    def get_id(self) -> str:
        return f"{self.user_id}:{self.session_key}"


def accounts() -> Accounts:
    acc = current_app.extensions.get("hpsearch_accounts")
    if acc is None:
        policy = LockPolicy(max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                            max_failures_ip=current_app.config["LOGIN_MAX_FAILURES_IP"])
        acc = current_app.extensions["hpsearch_accounts"] = Accounts(
            current_app.extensions["hpsearch_store"], policy)
    return acc


def principal() -> Principal | None:
    """Who makes this request (None: nobody logged in)."""
    return g.get("principal")


def owner_name() -> str | None:
    """The name recorded as a new study's owner (None with authentication off)."""
    p = principal()
    return p.username if p is not None and p.via != "local" else None


def _load_user(user_id: str):
    import hmac

    uid, _, key = (user_id or "").partition(":")
    if not uid.isdigit() or not key:
        return None
    user = accounts().user_by_id(int(uid))
    if user is None or not user.session_key \
            or not hmac.compare_digest(user.session_key.encode(), key.encode()):
        return None
    return SessionUser(user)


def _deny(status: int, message: str):
    """401/403 as JSON under /api, a login redirect or an error page elsewhere."""
    from webui.errors import error_response

    if request.path.startswith("/api/"):
        resp = error_response(status, message)
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="hpsearch"'
        return resp
    if status == 401 and request.method == "GET":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    from flask import render_template

    return render_template("error.html", status=status, message=message), status


def _authenticate() -> Principal | None:
    if not current_app.config["AUTH"]:
        return Principal("local", ADMIN, None, via="local")
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            g.auth_error = "the Authorization header must be 'Bearer <token>'"
            return None
        user = accounts().user_for_token(token.strip())
        if user is None:
            g.auth_error = "the API token is unknown or revoked"
            return None
        return Principal(user.username, user.role, user.id, via="token")
    if current_user.is_authenticated:
        return Principal(current_user.username, current_user.role, current_user.user_id)
    return None


def _check_request():
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: 404 or 405 follows, with nothing to reveal
    auth = current_app.config["AUTH"]
    if not auth:
        problem = security.host_problem()
        if problem:
            return _deny(400, problem)
    g.principal = who = _authenticate()
    unsafe = request.method in security.UNSAFE_METHODS
    if g.get("auth_error"):
        return _deny(401, g.auth_error)
    if endpoint in PUBLIC:
        return _csrf() if unsafe else None
    required = ACCESS.get(endpoint)
    if required is None:
        return _deny(403, f"endpoint {endpoint!r} has no access rule (webui/auth.py ACCESS)")
    if who is None:
        return _deny(401, "log in first (or send 'Authorization: Bearer <token>')")
    if not who.has(required):
        return _deny(403, f"{who.username!r} ({who.role}) may not do this; it needs the "
                          f"{required} role")
    if unsafe and who.via != "token":
        refused = _csrf()
        if refused is not None:
            return refused
    if endpoint in OWNED and not who.has(ADMIN):
        return _check_owner(who)
    return None


def _csrf():
    problem = security.origin_problem() or security.csrf_problem()
    if problem is None:
        return None
    # With authentication off there is no session to ride, only drive-by requests from
    # other sites to stop: browsers send Origin on every cross-site POST, and the check
    # above refused those. So API clients (the CLI) need no token on a local UI.
    if not current_app.config["AUTH"] and request.path.startswith("/api/") \
            and not security.origin_problem():
        return None
    return _deny(403, problem)


def _check_owner(who: Principal):
    study_id = (request.view_args or {}).get("study_id")
    try:
        study = current_app.extensions["hpsearch_store"].get_study(int(study_id))
    except (NotFoundError, TypeError, ValueError):
        return None  # the view answers 404
    if study.owner != who.username:
        return _deny(403, f"study {study.id} belongs to {study.owner or 'nobody'!r}; only its "
                          "owner or an admin may change it")
    return None


def _context():
    return {"principal": principal(), "auth_enabled": current_app.config["AUTH"],
            "Role": Role}


def init_app(app: Flask) -> None:
    """Sessions, the central check and the template helpers."""
    import secrets
    from datetime import timedelta

    app.config.setdefault("AUTH", False)
    app.config.setdefault("LOGIN_MAX_FAILURES", 5)
    app.config.setdefault("LOGIN_MAX_FAILURES_IP", 20)
    # Reverse proxies in front of the app (HPSEARCH_TRUSTED_PROXIES): the client address is
    # the one the outermost trusted proxy saw, read from X-Forwarded-For; with 0 (direct
    # exposure) the header is ignored, so a client cannot pick the address it is counted as.
    proxies = int(app.config.setdefault("TRUSTED_PROXIES", 0))
    if proxies > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    # A login lasts 12 hours (Flask's default would be 31 days).
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config.get("SESSION_HOURS", 12))
    if not app.config.get("SECRET_KEY"):
        if app.config["AUTH"] and not app.config.get("TESTING"):
            raise RuntimeError("AUTH needs a SECRET_KEY (HPSEARCH_SECRET_KEY)")
        # Auth off: the session holds only the CSRF token; a key per process will do.
        app.config["SECRET_KEY"] = secrets.token_urlsafe(48)
    manager = LoginManager()
    manager.user_loader(_load_user)
    manager.init_app(app)
    security.init_app(app)
    app.before_request(_check_request)
    app.context_processor(_context)
