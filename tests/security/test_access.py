"""Every route of the URL map checks the caller's role; only an explicit allow-list is open."""
from __future__ import annotations

import pytest

from hpsearch.store.models import Role
from tests.security.conftest import assert_no_inline_script, bearer, login
from webui.auth import ACCESS, PUBLIC

EXPECTED_PUBLIC = {"static", "pages.plotly_js", "api.health", "auth.login"}


def _url(rule, people) -> str:
    values = {}
    for arg in rule.arguments:
        conv = type(rule._converters[arg]).__name__
        if arg == "study_id":
            values[arg] = people["max_study"]
        elif arg == "token_id":
            values[arg] = people["vic"]["token_id"]
        elif arg == "username":
            values[arg] = "vic"
        elif arg == "name":
            values[arg] = "history"
        elif arg == "filename":
            values[arg] = "style.css"
        elif conv == "IntegerConverter":
            values[arg] = 0
        else:
            values[arg] = "x"
    url = rule.rule
    for arg, value in values.items():
        url = url.replace(f"<{arg}>", str(value))
        for conv in ("int", "path", "string"):
            url = url.replace(f"<{conv}:{arg}>", str(value))
    return url


def _routes(app, people):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, _url(rule, people)


def test_the_allow_list_is_explicit_and_every_endpoint_has_a_rule(sec_app):
    assert PUBLIC == EXPECTED_PUBLIC
    endpoints = {r.endpoint for r in sec_app.url_map.iter_rules()}
    assert endpoints - PUBLIC - set(ACCESS) == set()


def test_anonymous_requests_are_refused_on_every_route(sec_app, people):
    client = sec_app.test_client()
    checked = 0
    for endpoint, method, url in _routes(sec_app, people):
        if endpoint in PUBLIC:
            continue
        r = client.open(url, method=method, json={} if method == "POST" else None)
        where = f"{method} {url} ({endpoint})"
        if url.startswith("/api/"):
            assert r.status_code == 401, where
            assert r.is_json and r.json["status"] == 401, where
        elif method == "GET":
            assert r.status_code == 302 and "/login" in r.headers["Location"], where
        else:
            assert r.status_code == 401, where
        checked += 1
    assert checked >= 25


def test_wrong_role_is_refused_on_every_route(sec_app, people):
    """A viewer on member routes and a member on admin routes: 403 everywhere."""
    client = sec_app.test_client()
    weaker = {Role.MEMBER: "vic", Role.ADMIN: "max"}
    checked = 0
    for endpoint, method, url in _routes(sec_app, people):
        needed = ACCESS.get(endpoint)
        if needed not in weaker:
            continue
        r = client.open(url, method=method, json={} if method == "POST" else None,
                        headers=bearer(people[weaker[needed]]["token"]))
        assert r.status_code == 403, f"{method} {url} ({endpoint}) as {weaker[needed]}"
        checked += 1
    assert checked >= 8


def test_the_right_role_gets_through(sec_app, people):
    client = sec_app.test_client()
    for endpoint, method, url in _routes(sec_app, people):
        if ACCESS.get(endpoint) != Role.VIEWER or method != "GET":
            continue
        r = client.get(url, headers=bearer(people["vic"]["token"]))
        assert r.status_code not in (401, 403), f"GET {url} ({endpoint})"
        if r.mimetype == "text/html":
            assert_no_inline_script(r.get_data(as_text=True), url)


def test_a_route_missing_from_the_table_is_refused(sec_app, people):
    @sec_app.get("/new-feature")
    def new_feature():  # noqa: ANN202 - a route someone forgot to list
        return "secret"

    client = sec_app.test_client()
    for who in ("ada", "vic"):
        r = client.get("/new-feature", headers=bearer(people[who]["token"]))
        assert r.status_code == 403 and b"no access rule" in r.data


def test_members_cancel_only_their_own_studies(sec_app, people):
    client = sec_app.test_client()
    max_token = bearer(people["max"]["token"])
    r = client.post(f"/api/v1/studies/{people['ada_study']}/cancel", headers=max_token)
    assert r.status_code == 403 and "belongs to 'ada'" in r.json["message"]
    r = client.post(f"/api/v1/studies/{people['max_study']}/cancel", headers=max_token)
    assert r.status_code == 200 and r.json["status"] == "CANCELLED"
    r = client.post(f"/api/v1/studies/{people['ada_study']}/cancel",
                    headers=bearer(people["ada"]["token"]))
    assert r.status_code == 200  # an admin cancels any study
    # the page form too, through a session
    login(client, "max")
    other = sec_app.extensions["hpsearch_store"].create_study(
        __import__("tests.webui.conftest", fromlist=["make_spec"]).make_spec("vic-study"),
        owner="vic")
    assert client.post(f"/studies/{other.id}/cancel").status_code == 403


def test_submitted_studies_belong_to_the_submitter(sec_app, people):
    client = sec_app.test_client()
    spec = {"name": "owned", "trainable": "cnn", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
            "budget": {"trials": 2}}
    r = client.post("/api/v1/studies", json=spec, headers=bearer(people["max"]["token"]))
    assert r.status_code == 201 and r.json["owner"] == "max"
    r = client.post("/api/v1/studies", json={**spec, "name": "by-viewer"},
                    headers=bearer(people["vic"]["token"]))
    assert r.status_code == 403


@pytest.mark.parametrize("header", ["Bearer hps_not-a-real-token", "Basic YWRhOnB3", "Bearer "])
def test_bad_authorization_headers_get_401(sec_app, people, header):
    r = sec_app.test_client().get("/api/v1/studies", headers={"Authorization": header})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
