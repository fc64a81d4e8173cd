"""The web UI: Flask views over the store and the plot functions.

>>> app = create_app({"DATABASE_URL": "sqlite:///hpsearch.db"})   # doctest: +SKIP

It never imports Ray, torch, skopt or DEAP: only ``hpsearch.store``,
``hpsearch.plots`` and ``hpsearch.spec`` (which loads a trainable's metadata
lazily, when a submitted spec names one).
"""
from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from hpsearch.store import Store, default_url


class SafeJSONProvider(DefaultJSONProvider):
    """Request bodies nested too deep for Python's parser are bad JSON (a 400), not a
    RecursionError (a 500)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("the JSON is nested too deeply") from None


def create_app(config: dict | None = None) -> Flask:
    """Build an app; ``config`` overrides ``DATABASE_URL`` and Flask's settings."""
    app = Flask(__name__)
    app.json = SafeJSONProvider(app)
    app.config.update(DATABASE_URL=None, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=1024 * 1024)
    if config:
        app.config.update(config)
    app.config["DATABASE_URL"] = app.config["DATABASE_URL"] or default_url()
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    if not app.testing:
        warm_templates(app)
    return app


def warm_templates(app: Flask) -> None:
    """Compile the pages' templates in a background thread as the server starts: Jinja
    compiles each at its first use, and the study page's three (study, base, macros) took
    0.64 s of the first study page's request in a fresh server at load 10 (its SQL 0.5 s)."""
    import logging
    import threading

    env = app.jinja_env  # made here, not raced for by the thread and a first request

    def compile_all() -> None:
        for name in env.list_templates(filter_func=lambda n: n.endswith(".html")):
            try:
                env.get_template(name)
            except Exception as exc:  # noqa: BLE001 - its first use reports it properly
                logging.getLogger(__name__).warning("template %s: %s", name, exc)

    threading.Thread(target=compile_all, name="hpsearch-templates", daemon=True).start()


def register_extensions(app: Flask) -> None:
    # One Store (one engine and pool) per app.
    app.extensions["hpsearch_store"] = Store(app.config["DATABASE_URL"])
    # Chart JSON per (study, last update, chart): a 10,000-trial study's charts are built once.
    from webui.cache import ChartCache

    app.extensions["hpsearch_charts"] = ChartCache()
    if not app.testing:
        # scikit-learn (the importance chart) takes ~1 s to import: do it while idle, not
        # in the first request that draws the chart.
        from hpsearch.plots import warm_up

        warm_up()
    # Login, API tokens, the central access check, CSRF and security headers.
    from webui import auth

    auth.init_app(app)
    # After auth: its security headers keep the cache headers set here.
    from webui import assets

    assets.init_app(app)


def register_blueprints(app: Flask) -> None:
    from webui.api import bp as api_bp
    from webui.pages import bp as pages_bp

    app.register_blueprint(pages_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    from webui.models import bp as models_bp

    app.register_blueprint(models_bp, url_prefix="/api/v1")  # trained models (export, deploy)
    from webui.deployments import bp as deployments_bp, pages as deployment_pages

    app.register_blueprint(deployments_bp, url_prefix="/api/v1")
    app.register_blueprint(deployment_pages)
    from webui.metrics import bp as metrics_bp

    app.register_blueprint(metrics_bp)  # Prometheus /metrics
    from webui.outputs import bp as outputs_bp

    app.register_blueprint(outputs_bp)  # trial logs and media
    from webui.auth_views import bp as auth_bp

    app.register_blueprint(auth_bp)


def register_errorhandlers(app: Flask) -> None:
    from webui.errors import register

    register(app)
