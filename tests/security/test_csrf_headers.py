"""CSRF on every state-changing request, Origin/Host checks, CSP and cookie flags."""
from __future__ import annotations

import re

from tests.security.conftest import PASSWORD, assert_no_inline_script, bearer, login
from tests.webui.conftest import make_spec


def test_session_requests_without_the_csrf_token_are_refused(sec_app, people):
    client = sec_app.test_client()
    assert login(client, "max").status_code == 303
    url = f"/api/v1/studies/{people['max_study']}/cancel"
    r = client.post(url, csrf=False)
    assert r.status_code == 403 and "CSRF token is missing" in r.json["message"]
    r = client.post(url, headers={"X-CSRFToken": "forged"})
    assert r.status_code == 403 and "CSRF token is wrong" in r.json["message"]
    r = client.post("/submit", data={"spec": "name: x"}, csrf=False)
    assert r.status_code == 403
    r = client.post("/logout", csrf=False)
    assert r.status_code == 403
    # same request, from another site's page, even with the token
    r = client.post(url, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json["message"]
    r = client.post(url, headers={"Referer": "https://evil.example/page"})
    assert r.status_code == 403
    assert sec_app.extensions["hpsearch_store"].get_study(people["max_study"]).status == "QUEUED"
    r = client.post(url, headers={"Origin": "http://localhost"})
    assert r.status_code == 200 and r.json["status"] == "CANCELLED"


def test_bearer_requests_need_no_csrf_token(sec_app, people):
    r = sec_app.test_client().post(f"/api/v1/studies/{people['max_study']}/cancel",
                                   headers=bearer(people["max"]["token"]), csrf=False)
    assert r.status_code == 200


def test_the_login_form_needs_its_csrf_token(sec_app, people):
    r = sec_app.test_client().post("/login", data={"username": "ada", "password": "x" * 12},
                                   csrf=False)
    assert r.status_code == 403


def test_with_auth_off_forms_still_need_the_token_and_foreign_hosts_are_refused(local_app,
                                                                                sec_store):
    client = local_app.test_client()
    sid = sec_store.create_study(make_spec("local")).id
    r = client.post(f"/studies/{sid}/cancel", csrf=False)
    assert r.status_code == 403
    r = client.post(f"/api/v1/studies/{sid}/cancel", csrf=False,
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1
    r = client.get("/", headers={"Host": "evil.example:8080"})
    assert r.status_code == 400 and b"loopback" in r.data
    # a local API client (the CLI) sends no Origin and needs no token
    r = client.post(f"/api/v1/studies/{sid}/cancel", csrf=False)
    assert r.status_code == 200


def test_every_answer_carries_the_security_headers(sec_app, people):
    client = sec_app.test_client()
    login(client, "ada")
    for url in ["/", f"/studies/{people['ada_study']}", "/api/v1/studies", "/login",
                "/studies/99999", "/account", "/users", "/submit"]:
        r = client.get(url)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0], url
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["X-Frame-Options"] == "DENY", url
        if r.mimetype == "text/html":
            assert_no_inline_script(r.get_data(as_text=True), url)


def test_session_cookie_flags(sec_app, people):
    r = login(sec_app.test_client(), "ada")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    sec_app.config["SESSION_COOKIE_SECURE"] = True
    r = login(sec_app.test_client(), "ada")
    assert "Secure" in r.headers["Set-Cookie"]
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_request_bodies_are_capped(sec_app, people):
    r = sec_app.test_client().post("/api/v1/studies", data=b"x" * (2 * 1024 * 1024),
                                   content_type="application/json",
                                   headers=bearer(people["max"]["token"]))
    assert r.status_code == 413


def test_login_redirects_only_within_the_site(sec_app, people):
    client = sec_app.test_client()
    page = client.get("/login?next=//evil.example/x").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/login", csrf=False, data={"username": "ada", "password": PASSWORD,
                                                "csrf_token": token, "next": "//evil.example/x"})
    assert r.status_code == 303 and r.headers["Location"] == "/"
