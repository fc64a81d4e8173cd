"""Fixtures for the security tests: an app with login on, three users and their tokens.

Passwords are hashed with argon2id as in production (about 0.1 s per hash), so
the users are created once per test and logins are few.
"""
from __future__ import annotations

import re

import pytest

from hpsearch.accounts import Accounts
from hpsearch.store import Store
from tests.webui.conftest import CsrfClient, make_spec

PASSWORD = "correct horse battery staple"
SECRET = "k" * 48


@pytest.fixture
def sec_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'sec.db'}"


@pytest.fixture
def sec_store(sec_url):
    store = Store(sec_url)
    yield store
    store.dispose()


@pytest.fixture
def accounts(sec_store) -> Accounts:
    return Accounts(sec_store)


@pytest.fixture
def people(accounts, sec_store) -> dict:
    """ada (admin), max (member) and vic (viewer), a token each, and a study each for ada/max."""
    out = {}
    for name, role in [("ada", "admin"), ("max", "member"), ("vic", "viewer")]:
        accounts.add_user(name, PASSWORD, role=role)
        row, token = accounts.create_token(name, f"{name}-token")
        out[name] = {"token": token, "token_id": row.id, "role": role}
    out["ada_study"] = sec_store.create_study(make_spec("ada-study"), owner="ada").id
    out["max_study"] = sec_store.create_study(make_spec("max-study"), owner="max").id
    return out


@pytest.fixture
def sec_app(sec_url, sec_store):
    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": sec_url, "AUTH": True,
                      "SECRET_KEY": SECRET})
    app.test_client_class = CsrfClient
    return app


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def login(client, username: str, password: str = PASSWORD):
    """Log in through the real form (GET for the CSRF token, then POST)."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, csrf=False)


@pytest.fixture
def local_app(sec_url, sec_store):
    """The zero-config laptop UI: authentication off (loopback only)."""
    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": sec_url})
    app.test_client_class = CsrfClient
    return app


def assert_no_inline_script(html: str, where: str) -> None:
    """The CSP runs no inline script: only src= scripts and JSON data blocks, no on*= handlers;
    and every POST form carries the CSRF token."""
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, (where, tag)
    assert not re.search(r"\son[a-z]+\s*=", html), where
    for form in re.findall(r"<form\b[^>]*method=\"post\".*?</form>", html, flags=re.S | re.I):
        assert 'name="csrf_token"' in form, (where, form[:200])
