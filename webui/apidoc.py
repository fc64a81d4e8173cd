"""The OpenAPI document, generated from the views' own pydantic schemas.

A JSON view is declared with :func:`operation` instead of ``bp.get``/``bp.post``:

    @operation(bp, "GET", "/studies/<int:study_id>", response=schemas.StudyDetail,
               errors=(404,), summary="One study with counts and its best trial")
    def study(study_id: int):
        return reply(schemas.StudyDetail, queries.study_detail(study_id))

The decorator registers the Flask route and records the operation; the view checks its
query with :func:`query` and serialises its answer with :func:`reply` through the same
models. :func:`document` builds /api/v1/openapi.json from the records and the models'
JSON Schemas (OpenAPI 3.1 uses JSON Schema 2020-12, which pydantic writes), so the
document cannot drift from what the views accept and return.

Why not flask-openapi3, APIFlask or spectree: each replaces the app or blueprint classes
(or wraps every view) of an app that other features keep adding views to; this module
is the part of them that hpsearch needs (a route table and pydantic's JSON Schema), the
views stay plain Flask views, and the error shapes stay webui/errors.py's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Blueprint, jsonify
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from webui import schemas
from webui.errors import BadParam

#: every documented operation, in declaration order: (method, OpenAPI path) -> Operation
OPERATIONS: dict[tuple[str, str], "Operation"] = {}

ERROR_TEXT = {400: "a bad parameter (named in the message)", 401: "no credentials, or a wrong "
              "or revoked token", 403: "the user's role may not do this", 404: "no such study or "
              "trial", 405: "method not allowed (the Allow header lists the allowed ones)",
              409: "a conflict (named in the message)", 413: "the body is too large",
              415: "the body is not JSON", 422: "an invalid spec: every problem, each naming its field",
              429: "too many requests; try again later", 500: "the operation failed (said in the message)",
              502: "the model server did not answer", 504: "the operation took too long",
              503: "the database is unavailable; try again shortly"}
# Every operation can answer these (the access check, the database, an unknown method).
COMMON_ERRORS = (405, 503)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str                                # OpenAPI form: /studies/{study_id}
    endpoint: str
    summary: str
    response: type[BaseModel] | None         # None: a body described by ``content``
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | tuple | None = None
    errors: tuple[int, ...] = ()
    headers: tuple[dict, ...] = ()           # header parameters
    extra: dict = field(default_factory=dict)  # more responses: {"304": {...}}
    path_enums: dict = field(default_factory=dict)  # path parameter -> allowed values
    public: bool = False                     # no credentials needed (a load balancer's probe)
    content: dict | None = None              # a non-JSON or free-form response body
    body_content: dict = field(default_factory=dict)  # other request media types: {"application/x-npz": {}}


_RULE_ARG = re.compile(r"<(?:(\w+):)?(\w+)>")


def _openapi_path(rule: str) -> str:
    return _RULE_ARG.sub(lambda m: "{" + m.group(2) + "}", rule)


def _path_params(rule: str) -> list[tuple[str, str]]:
    return [(m.group(2), m.group(1) or "string") for m in _RULE_ARG.finditer(rule)]


def operation(bp: Blueprint, method: str, rule: str, *, summary: str,
              response: type[BaseModel] | None, prefix_strip: bool = False, **kw) -> Callable:
    """Register ``rule`` on ``bp`` for ``method`` and record it for the document.

    ``prefix_strip``: ``rule`` is a full URL under /api/v1 (a blueprint without that
    prefix, as webui/outputs.py); the document's path drops it.
    """

    def decorate(fn: Callable) -> Callable:
        path = _openapi_path(rule.removeprefix("/api/v1") if prefix_strip else rule)
        OPERATIONS[(method.lower(), path)] = Operation(
            method=method.lower(), path=path, endpoint=f"{bp.name}.{fn.__name__}", summary=summary,
            response=response, **kw)
        PATH_RULES[path] = rule.removeprefix("/api/v1") if prefix_strip else rule
        bp.route(rule, methods=[method])(fn)
        return fn

    return decorate


PATH_RULES: dict[str, str] = {}


# -- inputs and outputs ------------------------------------------------------------------
def query(model: type[BaseModel], args) -> BaseModel:
    """Check the query string against ``model``: every problem at once, each naming its
    parameter and value (400), never a 500. Repeated values are joined with commas."""
    raw = {name: ",".join(args.getlist(name)) for name in model.model_fields if name in args}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            name = ".".join(str(p) for p in e["loc"]) or "query"
            problems.append(f"{name}: {e['msg']}, got {raw.get(name, e.get('input'))!r}")
        raise BadParam("; ".join(problems)) from None


def reply(model: type[BaseModel], data: Any, status: int = 200):
    """``data`` serialised through ``model``: exactly its declared fields and types.

    A field the model does not declare, or a value of the wrong type, is a bug in the
    view: it raises (a 500 that the schema tests catch), so the document stays true.
    """
    # exclude_unset: an optional field a view does not send (a trial's `columns` outside a
    # page that asked for them) stays absent rather than null.
    body = model.model_validate(data).model_dump(mode="json", exclude_unset=True)
    resp = jsonify(body)
    resp.status_code = status
    return resp


# -- the document ---------------------------------------------------------------------------
def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Error": schemas.Error, "SpecProblems": schemas.SpecProblems}
    for op in OPERATIONS.values():
        for m in (op.response, op.body if isinstance(op.body, type) else None):
            if m is not None:
                found[m.__name__] = m
        if isinstance(op.body, tuple):
            found.update({m.__name__: m for m in op.body})
    return list(found.values())


def _query_params(model: type[BaseModel]) -> list[dict]:
    props = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = props.get("$defs", {})
    out = []
    for name, schema in props.get("properties", {}).items():
        schema = dict(schema)
        description = schema.pop("description", None)
        schema.pop("title", None)
        schema.pop("default", None)
        # Optional[X] is anyOf [X, null]: a query parameter is absent, never null.
        if "anyOf" in schema:
            kept = [s for s in schema.pop("anyOf") if s.get("type") != "null"]
            schema.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        ref = schema.pop("$ref", None)
        if ref:
            schema.update(defs.get(ref.rsplit("/", 1)[-1], {}))
            schema.pop("title", None)
            schema.pop("description", None)
        param = {"name": name, "in": "query", "required": name in props.get("required", []),
                 "schema": schema}
        if description:
            param["description"] = description
        out.append(param)
    return out


def error_schema(code: int) -> dict:
    """Every error is webui/errors.py's one shape; a 422 may also list its fields."""
    return {"anyOf": [_ref("SpecProblems"), _ref("Error")]} if code == 422 else _ref("Error")


def document(auth_description: str = "") -> dict:
    """The OpenAPI 3.1 document of every operation declared with :func:`operation`."""
    _, defs = models_json_schema([(m, "serialization") for m in _models()],
                                 ref_template="#/components/schemas/{model}")
    components = dict(defs.get("$defs", {}))
    paths: dict[str, dict] = {}
    for op in OPERATIONS.values():
        params = []
        for name, conv in _path_params(PATH_RULES[op.path]):
            schema: dict = {"type": "integer", "minimum": 0} if conv == "int" else {"type": "string"}
            if name in op.path_enums:
                values = op.path_enums[name]
                schema = {"type": "string", "enum": list(values() if callable(values) else values)}
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
        if op.query is not None:
            params += _query_params(op.query)
        params += list(op.headers)
        ok = (_json(_ref(op.response.__name__), op.summary) if op.response is not None
              else {"description": op.summary, "content": op.content or {}})
        responses: dict[str, Any] = {str(op.status): ok, **op.extra}
        for code in sorted(set(op.errors) | set(COMMON_ERRORS)):
            responses[str(code)] = _json(error_schema(code), ERROR_TEXT[code])
        entry: dict[str, Any] = {"summary": op.summary, "operationId": op.endpoint.replace(".", "_"),
                                 "parameters": params, "responses": responses}
        if op.body is not None:
            bodies = op.body if isinstance(op.body, tuple) else (op.body,)
            schema = ({"oneOf": [_ref(b.__name__) for b in bodies]} if len(bodies) > 1
                      else _ref(bodies[0].__name__))
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": schema}, **op.body_content}}
        if op.public:
            entry["security"] = []
        else:
            for code in (401, 403):
                entry["responses"].setdefault(str(code), _json(_ref("Error"), ERROR_TEXT[code]))
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "hpsearch API", "version": "1",
                 "description": "Studies, trials and charts of hpsearch. " + auth_description},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer",
                           "description": "an API token (stored hashed; revocable at once)"},
            "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                           "description": "the web UI's session after /login"}}},
        "security": [{"bearerAuth": []}, {"cookieAuth": []}],
    }


def undocumented(app) -> list[str]:
    """/api/v1 routes of ``app`` that no operation documents (a test keeps this empty)."""
    documented = {(op.endpoint, op.method) for op in OPERATIONS.values()}
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (rule.endpoint, method.lower()) not in documented:
                out.append(f"{method} {rule.rule}")
    return out


__all__ = ["OPERATIONS", "Operation", "document", "operation", "query", "reply", "undocumented"]
