"""/api/v1/openapi.json: generated from the views' declarations and schemas (webui/apidoc.py,
webui/schemas.py), with how to authenticate."""
from __future__ import annotations

AUTH_DESCRIPTION = (
    "With accounts (served mode), every endpoint but /health needs a signed-in user: an API "
    "token (`hpsearch token create`, or the web UI's account page) sent as `Authorization: "
    "Bearer <token>`, or the web UI's session cookie, in which case a state-changing request "
    "must come from the UI's own origin (Origin header). Without accounts (`hpsearch ui` on "
    "loopback) no credentials are needed. Roles: viewer reads; member also submits and "
    "cancels their own studies; admin cancels any.")


def document() -> dict:
    from webui import apidoc
    import webui.outputs  # noqa: F401 - its operations are declared on import
    from webui.deployments import openapi_paths as deployment_paths

    doc = apidoc.document(AUTH_DESCRIPTION)
    # Deployments (webui/deployments.py) still describe themselves by hand; declared with
    # apidoc.operation they would be checked like the rest (schemathesis runs over them too).
    for path, ops in deployment_paths().items():
        for op in ops.values():
            if "422" in op.get("responses", {}):
                op["responses"]["422"] = {"description": apidoc.ERROR_TEXT[422], "content": {
                    "application/json": {"schema": apidoc.error_schema(422)}}}
            for code in ("401", "403"):
                op.setdefault("responses", {}).setdefault(code, {
                    "description": apidoc.ERROR_TEXT[int(code)], "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}})
        doc["paths"].setdefault(path, {}).update(ops)
    return doc
