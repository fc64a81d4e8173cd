"""A hand-written OpenAPI 3 document of /api/v1."""
from __future__ import annotations


def _plot_names() -> list[str]:
    from hpsearch.plots import PLOTS

    return list(PLOTS)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = {"400": _json(_ref("Error"), "bad parameter"), "404": _json(_ref("Error"), "unknown study")}
_ID = {"name": "study_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _q(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_PAGE = [_q("page", {"type": "integer", "minimum": 1}, "page number, from 1"),
         _q("per_page", {"type": "integer", "minimum": 1, "maximum": 200}, "rows per page")]


# Filters on a study's parameters (NAME is one of its space's names); a bad one is a 400
# naming the argument.
_PARAM_FILTERS = [
    _q("param.NAME.min", {"type": "number"}, "trials whose numeric param NAME is >= this"),
    _q("param.NAME.max", {"type": "number"}, "trials whose numeric param NAME is <= this"),
    _q("param.NAME", {"type": "array", "items": {"type": "string"}},
       "trials whose choice/grid param NAME is one of these values (repeat the argument)"),
]


_AUTH_DESCRIPTION = (
    "With accounts (served mode), every endpoint but /health needs a signed-in user: an API "
    "token (`hpsearch token create`, or the web UI's account page) sent as `Authorization: "
    "Bearer <token>`, or the web UI's session cookie, in which case a state-changing request "
    "must come from the UI's own origin (Origin header). Without accounts (`hpsearch ui` on "
    "loopback) no credentials are needed. Roles: viewer reads; member also submits and "
    "cancels their own studies; admin cancels any.")
_DENIED = {"401": _json(_ref("Error"), "no credentials, or a wrong or revoked token"),
           "403": _json(_ref("Error"), "the user's role may not do this")}


def document() -> dict:
    from webui.models import openapi_paths

    doc = _paths_and_schemas()
    doc["paths"].update(openapi_paths())
    from webui.outputs import openapi_paths as output_paths

    doc["paths"].update(output_paths())  # trial logs and media (webui/outputs.py)

    from webui.deployments import openapi_paths as deployment_paths

    doc["paths"].update(deployment_paths())
    doc["components"]["securitySchemes"] = {
        "bearerAuth": {"type": "http", "scheme": "bearer",
                       "description": "an API token (stored hashed; revocable at once)"},
        "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                       "description": "the web UI's session after /login"},
    }
    doc["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    doc["info"]["description"] += " " + _AUTH_DESCRIPTION
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if path == "/health":
                op["security"] = []  # public: a load balancer's probe
            else:
                op["responses"] = {**_DENIED, **op["responses"]}
    return doc


def _paths_and_schemas() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "hpsearch API", "version": "1",
                 "description": "Studies, trials and charts of hpsearch."},
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/health": {"get": {"summary": "Liveness and database check",
                                "responses": {"200": _json({"type": "object"}, "ok"),
                                              "503": _json(_ref("Error"), "database down")}}},
            "/studies": {
                "get": {"summary": "List studies",
                        "parameters": _PAGE + [
                            _q("status", {"type": "string"}, "study status"),
                            _q("trainable", {"type": "string"}, "model family"),
                            _q("searcher", {"type": "string"}, "searcher type"),
                            _q("q", {"type": "string"}, "name contains"),
                            _q("tag", {"type": "string"}, "studies with this tag"),
                            _q("archived", {"type": "string", "enum": ["0", "1", "all"]},
                               "0 (default): active studies; 1: archived ones; all"),
                            _q("sort", {"type": "string"}, "id, name, status, created, trainable, "
                                                           "searcher; prefix - for descending")],
                        "responses": {"200": _json(_ref("StudyPage"), "a page of studies"),
                                      "400": _ERR["400"]}},
                "post": {"summary": "Queue a study from a spec",
                         "parameters": [{"name": "Idempotency-Key", "in": "header",
                                         "required": False, "schema": {"type": "string",
                                                                       "maxLength": 100}}],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"oneOf": [{"type": "object", "description": "a spec"},
                                                  {"type": "object", "required": ["spec_yaml"],
                                                   "properties": {"spec_yaml": {"type": "string"}}}]}}}},
                         "responses": {"201": _json(_ref("Study"), "queued"),
                                       "400": _ERR["400"],
                                       "409": _json(_ref("Error"), "name taken"),
                                       "422": _json(_ref("SpecError"), "invalid spec")}}},
            "/studies/{study_id}": {"get": {
                "summary": "One study with counts and its best trial", "parameters": [_ID],
                "responses": {"200": _json(_ref("Study"), "the study"), "404": _ERR["404"]}},
                "patch": {
                "summary": "Set a study's notes (Markdown), tags or archived flag (owner or admin)",
                "parameters": [_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {
                        "notes": {"type": "string", "nullable": True, "maxLength": 20000},
                        "tags": {"type": "array", "maxItems": 20, "items": {
                            "type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"}},
                        "archived": {"type": "boolean", "description": "archived studies are "
                                     "left out of /studies unless archived=1 or all"}}}}}},
                "responses": {"200": _json(_ref("Study"), "the study"), **_ERR}},
                "delete": {
                "summary": "Delete a finished study with its trials and results (owner or admin)",
                "parameters": [_ID],
                "responses": {"200": _json({"type": "object"}, "deleted"), **_ERR}}},
            "/studies/{study_id}/trials": {"get": {
                "summary": "A page of a study's trials",
                "parameters": [_ID] + _PAGE + [
                    _q("status", {"type": "string"}, "trial status"),
                    _q("sort", {"type": "string"}, "number, value, status, iterations, started, "
                                                   "finished, or param.NAME (a parameter's value); "
                                                   "prefix - for descending"),
                    _q("cols", {"type": "array", "items": {"type": "string"}},
                       "extra columns in each item's columns: duration, or metric.NAME (the "
                       "trial's last reported NAME)")] + _PARAM_FILTERS,
                "responses": {"200": _json(_ref("TrialPage"), "trials"), **_ERR}}},
            "/studies/{study_id}/trials/{number}": {"get": {
                "summary": "One trial with its results and status history",
                "parameters": [_ID, {"name": "number", "in": "path", "required": True,
                                     "schema": {"type": "integer"}}],
                "responses": {"200": _json(_ref("Trial"), "the trial"), "404": _ERR["404"]}},
                "patch": {
                "summary": "Set a trial's notes (Markdown; owner of the study or admin)",
                "parameters": [_ID, {"name": "number", "in": "path", "required": True,
                                     "schema": {"type": "integer"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["notes"], "properties": {
                        "notes": {"type": "string", "nullable": True, "maxLength": 20000}}}}}},
                "responses": {"200": _json(_ref("Trial"), "the trial"), **_ERR}}},
            "/studies/{study_id}/trials/export": {"get": {
                "summary": "Every trial under the table's filters and sort, as CSV or JSON",
                "description": "The columns of the Python API's Study.to_dataframe(): number, "
                               "status, the metric, best_<metric>, iterations, duration_s, "
                               "imported_from, param_NAME. At most 100,000 trials.",
                "parameters": [_ID, _q("format", {"type": "string", "enum": ["csv", "json"]},
                                       "csv (default) or json"),
                               _q("status", {"type": "string"}, "trial status"),
                               _q("sort", {"type": "string"}, "as for /trials")] + _PARAM_FILTERS,
                "responses": {"200": {"description": "the rows", "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}},
                    **_ERR}}},
            "/studies/{study_id}/results": {"get": {
                "summary": "Results reported after a result id, oldest first (incremental: "
                           "pass the answer's last_id as the next after)",
                "description": "Without after: no results, only last_id to start from. At most "
                               "2,000 results per call (more: true when there are others).",
                "parameters": [_ID, _q("after", {"type": "integer", "minimum": 0},
                                       "the last result id already seen")],
                "responses": {"200": _json({"type": "object", "properties": {
                    "results": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "integer"}, "trial": {"type": "integer"},
                        "iteration": {"type": "integer"}, "value": {"type": "number", "nullable": True},
                        "metrics": {"type": "object"}}}},
                    "last_id": {"type": "integer"}, "more": {"type": "boolean"}}},
                    "new results"), **_ERR}}},
            "/studies/{study_id}/plots/{name}": {"get": {
                "summary": "A chart as plotly figure JSON (built once per study update, then cached)",
                "description": "Large studies are sampled (at most 2,000 markers, 1,000 "
                               "parallel-coordinate lines, 50 learning curves of 200 points); "
                               "the figure's subtitle says so. Log-scaled parameters get log axes.",
                "parameters": [_ID, {"name": "name", "in": "path", "required": True,
                                     "schema": {"type": "string", "enum": sorted(_plot_names())}},
                               _q("metric", {"type": "string"}, "history, curves and edf: any "
                                                                "metric the trials report "
                                                                "instead of the objective"),
                               _q("x", {"type": "string"}, "contour only: the x parameter "
                                                           "(give y too)"),
                               _q("y", {"type": "string"}, "contour only: the y parameter")],
                "responses": {"200": _json(_ref("Figure"), "figure JSON, with an ETag"),
                              "304": {"description": "not modified (If-None-Match matched)"},
                              **_ERR}}},
            "/compare": {"get": {
                "summary": "Studies side by side: summaries with trials and time to best, "
                           "their best trials, a params diff, best-so-far curves overlaid",
                "parameters": [_q("ids", {"type": "string"},
                                  "1 to 10 study ids, comma-separated (or repeated)")],
                "responses": {"200": _json(_ref("StudyComparison"), "the studies"), **_ERR}}},
            "/studies/{study_id}/compare": {"get": {
                "summary": "Chosen trials of one study side by side, learning curves overlaid",
                "parameters": [_ID, _q("trials", {"type": "string"},
                                       "2 to 20 trial numbers, comma-separated (or repeated)")],
                "responses": {"200": _json(_ref("TrialComparison"), "the trials"), **_ERR}}},
            "/studies/{study_id}/cancel": {"post": {
                "summary": "Cancel a queued study or stop a running one", "parameters": [_ID],
                "responses": {"200": _json({"type": "object"}, "cancelled or requested"),
                              "404": _ERR["404"],
                              "409": _json(_ref("Error"), "already finished")}}},
            "/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI")}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error", "message", "status"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                                     "status": {"type": "integer"}}},
            "SpecError": {"type": "object", "properties": {
                "error": {"type": "string"}, "message": {"type": "string"},
                "fields": {"type": "array", "items": {"type": "object", "properties": {
                    "field": {"type": "string"}, "message": {"type": "string"}}}}}},
            "Study": {"type": "object", "properties": {
                k: {"type": t} for k, t in [
                    ("id", "integer"), ("name", "string"), ("status", "string"),
                    ("trainable", "string"), ("searcher", "string"), ("scheduler", "string"),
                    ("metric", "string"), ("mode", "string"), ("n_trials", "integer"),
                    ("trials_done", "integer"), ("trials_total", "integer"),
                    ("trials_imported", "integer"),
                    ("best_value", "number"), ("owner", "string"), ("counts", "object"),
                    ("cancel_requested", "boolean"), ("error", "string"),
                    ("created_at", "string"), ("started_at", "string"),
                    ("finished_at", "string"), ("duration_s", "number"),
                    ("trials_to_best", "integer"), ("time_to_best_s", "number"),
                    ("init_source", "object"), ("warm_start_picked", "array")]}},
            "Trial": {"type": "object", "properties": {
                "number": {"type": "integer"}, "status": {"type": "string"},
                "params": {"type": "object"}, "value": {"type": "number", "nullable": True},
                "iterations": {"type": "integer"}, "error": {"type": "string", "nullable": True},
                "best_value": {"type": "number", "nullable": True},
                "started_at": {"type": "string", "nullable": True},
                "finished_at": {"type": "string", "nullable": True},
                "events": {"type": "array", "items": {"type": "object"},
                           "description": "status history (one trial only)"},
                "results": {"type": "array", "items": {"type": "object"},
                            "description": "every reported result (one trial only)"},
                "last_metrics": {"type": "object", "description": "one trial only"},
                "checkpoint": _ref("Checkpoint")}},
            "StudyPage": {"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Study")}, "total": {"type": "integer"},
                "page": {"type": "integer"}, "per_page": {"type": "integer"}}},
            "Figure": {"type": "object", "properties": {
                "data": {"type": "array", "items": {"type": "object"}},
                "layout": {"type": "object"}}},
            "StudyComparison": {"type": "object", "properties": {
                "studies": {"type": "array", "items": _ref("Study")},
                "best_trials": {"type": "array", "items": _ref("Trial")},
                "params": {"type": "array", "items": {"type": "object"}},
                "figure": _ref("Figure")}},
            "TrialComparison": {"type": "object", "properties": {
                "study_id": {"type": "integer"}, "trials": {"type": "array", "items": _ref("Trial")},
                "params": {"type": "array", "items": {"type": "object", "properties": {
                    "param": {"type": "string"}, "values": {"type": "array", "items": {}},
                    "differs": {"type": "boolean"}}}},
                "figure": _ref("Figure")}},
            "Checkpoint": {"type": "object", "nullable": True, "properties": {
                "path": {"type": "string"}, "index": {"type": "integer", "nullable": True},
                "iteration": {"type": "integer"}, "on_this_host": {"type": "boolean"},
                "size_bytes": {"type": "integer", "nullable": True},
                "files": {"type": "integer", "nullable": True},
                "modified_at": {"type": "string", "nullable": True}}},
            "TrialPage": {"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Trial")}, "total": {"type": "integer"},
                "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "pages": {"type": "integer"},
                "params": {"type": "object", "description": "the param filters applied"}}},
        }},
    }
