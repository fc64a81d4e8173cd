"""A hand-written OpenAPI 3 document of /api/v1."""
from __future__ import annotations


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


def document() -> dict:
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
                "responses": {"200": _json(_ref("Study"), "the study"), "404": _ERR["404"]}}},
            "/studies/{study_id}/trials": {"get": {
                "summary": "A page of a study's trials",
                "parameters": [_ID] + _PAGE + [
                    _q("status", {"type": "string"}, "trial status"),
                    _q("sort", {"type": "string"}, "number, value, status, iterations, started, "
                                                   "finished; prefix - for descending")],
                "responses": {"200": _json(_ref("TrialPage"), "trials"), **_ERR}}},
            "/studies/{study_id}/trials/{number}": {"get": {
                "summary": "One trial with its results and status history",
                "parameters": [_ID, {"name": "number", "in": "path", "required": True,
                                     "schema": {"type": "integer"}}],
                "responses": {"200": _json(_ref("Trial"), "the trial"), "404": _ERR["404"]}}},
            "/studies/{study_id}/plots/{name}": {"get": {
                "summary": "A chart as plotly figure JSON",
                "parameters": [_ID, {"name": "name", "in": "path", "required": True,
                                     "schema": {"type": "string", "enum": [
                                         "history", "parallel", "importance", "slice",
                                         "contour", "curves"]}}],
                "responses": {"200": _json({"type": "object"}, "figure JSON"), "404": _ERR["404"]}}},
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
                    ("trials_done", "integer"), ("best_value", "number"),
                    ("created_at", "string"), ("started_at", "string"),
                    ("finished_at", "string")]}},
            "Trial": {"type": "object", "properties": {
                "number": {"type": "integer"}, "status": {"type": "string"},
                "params": {"type": "object"}, "value": {"type": "number", "nullable": True},
                "iterations": {"type": "integer"}, "error": {"type": "string", "nullable": True},
                "events": {"type": "array", "items": {"type": "object"}},
                "results": {"type": "array", "items": {"type": "object"}}}},
            "StudyPage": {"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Study")}, "total": {"type": "integer"},
                "page": {"type": "integer"}, "per_page": {"type": "integer"}}},
            "TrialPage": {"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Trial")}, "total": {"type": "integer"},
                "page": {"type": "integer"}, "per_page": {"type": "integer"},
                "pages": {"type": "integer"}}},
        }},
    }
