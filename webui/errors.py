"""Errors: JSON from one helper under /api, a small HTML page elsewhere."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from hpsearch.exceptions import ConflictError, HpsearchError, NotFoundError, SpecError, StorageError
from hpsearch.redact import redact

log = logging.getLogger("hpsearch.webui")


class BadParam(HpsearchError):
    """A query parameter is malformed (answered with 400)."""


def error_response(status: int, message: str, **extra):
    """The one shape of every JSON error: ``{"error": ..., "message": ..., "status": ...}``
    (the message without the server's paths or process ids)."""
    body = {"error": _reason(status), "message": redact(message), "status": status, **extra}
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


def public_spec_error(exc: SpecError) -> SpecError:
    """The same problems, each message without the server's paths or process ids."""
    return SpecError([(field, redact(message)) for field, message in exc.problems])


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _answer(status: int, message: str):
    if _wants_json():
        return error_response(status, message)
    return render_template("error.html", status=status, message=redact(message)), status


def register(app: Flask) -> None:
    @app.errorhandler(NotFoundError)
    def _not_found(exc):
        return _answer(404, str(exc))

    @app.errorhandler(BadParam)
    def _bad_param(exc):
        return _answer(400, str(exc))

    @app.errorhandler(ConflictError)
    def _conflict(exc):
        return _answer(409, str(exc))

    @app.errorhandler(SpecError)
    def _spec(exc):
        if _wants_json():
            resp = jsonify({**public_spec_error(exc).to_dict(), "status": 422})
            resp.status_code = 422
            return resp
        return _answer(422, str(exc))

    @app.errorhandler(StorageError)
    def _storage(exc):
        log.error("storage error: %s", exc)
        return _answer(503, "the database is unavailable; try again shortly")

    @app.errorhandler(HTTPException)
    def _http(exc):
        from flask import make_response

        resp = make_response(_answer(exc.code or 500, exc.description or exc.name))
        if getattr(exc, "valid_methods", None):  # a 405 says what is allowed (RFC 9110)
            resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc):
        log.exception("unhandled error on %s", request.path)
        return _answer(500, "internal error")
