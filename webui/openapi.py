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
    import webui.deployments  # noqa: F401 - likewise

    return apidoc.document(AUTH_DESCRIPTION)
