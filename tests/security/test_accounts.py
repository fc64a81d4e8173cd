"""Accounts: hashed passwords, the first user an admin, lock-out, tokens, the CLI."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from hpsearch.accounts import AccountError, Accounts, LockedOut, LockPolicy, hash_token
from hpsearch.cli import main as cli
from hpsearch.store.models import ApiToken, User
from tests.security.conftest import PASSWORD, bearer, login


def test_passwords_are_stored_as_salted_argon2id_hashes(accounts, sec_store):
    accounts.add_user("ada", PASSWORD)
    accounts.add_user("bob", PASSWORD)
    with sec_store.session() as s:
        hashes = list(s.scalars(select(User.password_hash)))
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    assert hashes[0] != hashes[1]  # salted: same password, different hashes
    assert accounts.authenticate("ada", PASSWORD) is not None
    assert accounts.authenticate("ada", PASSWORD + "x") is None


def test_no_default_account_and_the_first_user_is_an_admin(accounts):
    assert accounts.count_users() == 0
    with pytest.raises(AccountError, match="first user must be an admin"):
        accounts.add_user("vic", PASSWORD, role="viewer")
    assert accounts.add_user("ada", PASSWORD).role == "admin"
    assert accounts.add_user("bob", PASSWORD).role == "member"
    with pytest.raises(AccountError, match="at least 10"):
        accounts.add_user("cat", "short")


def test_repeated_failed_logins_lock_the_account_across_restarts(sec_app, people, sec_store):
    client = sec_app.test_client()
    for _ in range(5):
        assert login(client, "max", "wrong password!").status_code == 401
    r = login(client, "max")  # the right password, but locked now
    assert r.status_code == 429 and b"too many failed logins" in r.data
    # a new process (fresh Accounts on the same database) still refuses
    with pytest.raises(LockedOut):
        Accounts(sec_store).authenticate("max", PASSWORD, "10.0.0.9")
    # another account from the same address is not locked (5 < 20 per address)
    assert login(client, "vic").status_code == 303


def test_failed_logins_from_one_address_throttle_that_address(sec_store, people):
    acc = Accounts(sec_store, LockPolicy(max_failures=100, max_failures_ip=3))
    for name in ("a1", "a2"):
        assert acc.authenticate(name, "nope", "10.1.1.1") is None
    with pytest.raises(LockedOut, match="from this address"):
        acc.authenticate("a3", "nope", "10.1.1.1")
    with pytest.raises(LockedOut, match="from this address"):  # wrong passwords: 429
        acc.authenticate("ada", "nope", "10.1.1.1")
    # ...but a correct password of an account that is not locked still logs in
    assert acc.authenticate("ada", PASSWORD, "10.1.1.1") is not None
    assert acc.unlock_address("10.1.1.1") == 1
    assert acc.authenticate("a4", "nope", "10.1.1.1") is None  # counted afresh


def test_tokens_are_stored_hashed_and_a_revoked_token_fails_at_once(sec_app, people, accounts,
                                                                    sec_store):
    token = people["vic"]["token"]
    with sec_store.session() as s:
        stored = list(s.scalars(select(ApiToken.token_hash)))
    assert hash_token(token) in stored and token not in stored
    client = sec_app.test_client()
    assert client.get("/api/v1/studies", headers=bearer(token)).status_code == 200
    assert accounts.list_tokens("vic")[0][0].last_used_at is not None
    accounts.revoke_token(people["vic"]["token_id"])
    r = client.get("/api/v1/studies", headers=bearer(token))
    assert r.status_code == 401 and "revoked" in r.json["message"]


def test_tokens_are_managed_in_the_ui(sec_app, people):
    client = sec_app.test_client()
    login(client, "vic")
    r = client.post("/account/tokens", data={"name": "laptop", "password": PASSWORD})
    token = r.get_data(as_text=True).split('class="token">', 1)[1].split("<", 1)[0]
    assert client.get("/api/v1/studies", headers=bearer(token)).status_code == 200
    # vic may not revoke max's token; ada (admin) may
    assert client.post(f"/account/tokens/{people['max']['token_id']}/revoke").status_code == 403
    admin = sec_app.test_client()
    login(admin, "ada")
    assert admin.post(f"/account/tokens/{people['max']['token_id']}/revoke").status_code == 303
    assert client.get("/api/v1/studies",
                      headers=bearer(people["max"]["token"])).status_code == 401


def test_a_password_change_or_logout_ends_the_session(sec_app, people, accounts):
    client = sec_app.test_client()
    login(client, "max")
    assert client.get("/").status_code == 200
    accounts.set_password("max", PASSWORD + "!")
    assert client.get("/").status_code == 302  # the old cookie is dead
    login(client, "max", PASSWORD + "!")
    with client.session_transaction() as s:
        stolen = dict(s)
    assert client.post("/logout").status_code == 303
    copy = sec_app.test_client()
    with copy.session_transaction() as s:
        s.update(stolen)
    assert copy.get("/").status_code == 302  # a copied cookie dies with the logout


def test_admins_manage_users_in_the_ui(sec_app, people, accounts):
    client = sec_app.test_client()
    login(client, "ada")
    r = client.post("/users", data={"username": "new", "password": PASSWORD, "role": "viewer"})
    assert r.status_code == 303 and accounts.get_user("new").role == "viewer"
    assert client.post("/users/new/role", data={"role": "member"}).status_code == 303
    assert accounts.get_user("new").role == "member"
    assert client.post("/users/ada/remove").status_code == 409  # the last admin stays
    assert client.post("/users/new/remove").status_code == 303


def test_cli_users_and_tokens(tmp_path, monkeypatch, capsys):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli(["user", "add", "ada", "--password-stdin", "--db", db]) == 0
    assert "'ada' added (admin)" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli(["user", "add", "bob", "--password-stdin", "--db", db]) == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert cli(["token", "create", "ada", "--name", "ci", "--db", db]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("hps_")
    assert cli(["token", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "ci" in out and token not in out and "active" in out
    assert cli(["token", "revoke", "1", "--db", db]) == 0
    assert cli(["user", "remove", "ada", "--db", db]) == 2
    assert "last admin" in capsys.readouterr().err
    assert cli(["user", "list", "--db", db]) == 0
    assert "ada" in capsys.readouterr().out


def test_accounts_on_sqlite_and_postgresql(db_url):
    from hpsearch.store import Store

    store = Store(db_url)
    try:
        acc = Accounts(store, LockPolicy(max_failures=2))
        acc.add_user("ada", PASSWORD)
        row, token = acc.create_token("ada", "ci")
        assert acc.user_for_token(token).username == "ada"
        acc.revoke_token(row.id)
        assert acc.user_for_token(token) is None
        assert acc.authenticate("ada", "wrong", "10.0.0.1") is None
        assert acc.authenticate("ada", "wrong", "10.0.0.1") is None
        with pytest.raises(LockedOut):
            acc.authenticate("ada", PASSWORD, "10.0.0.2")
        acc.unlock("ada")
        assert acc.authenticate("ada", PASSWORD, "10.0.0.2").username == "ada"
    finally:
        store.dispose()
