"""Study management (#16): notes (Markdown rendered safely) on studies and trials, tags and a
tag filter, archive (hidden by default, restorable), delete (trials and results go too),
the spec as submitted, and cloning it into the submit editor; owner or admin only."""
from __future__ import annotations

from sqlalchemy import func, select

from hpsearch.store.models import Result, Trial


def test_notes_render_markdown_safely(client, filled):
    sid = filled["done"]
    notes = "# Findings\n\n**lr** matters. <script>alert(1)</script> [x](javascript:alert(1)) [ok](https://example.org)"
    r = client.patch(f"/api/v1/studies/{sid}", json={"notes": notes})
    assert r.status_code == 200 and r.json["notes"] == notes
    html = client.get(f"/studies/{sid}").get_data(as_text=True)
    assert "<h1>Findings</h1>" in html and "<strong>lr</strong>" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html and 'href="https://example.org"' in html
    r = client.patch(f"/api/v1/studies/{sid}/trials/2", json={"notes": "*odd* run"})
    assert r.status_code == 200 and r.json["notes"] == "*odd* run"
    assert "<em>odd</em>" in client.get(f"/studies/{sid}/trials/2").get_data(as_text=True)
    r = client.post(f"/studies/{sid}/trials/3/notes", data={"notes": "from the form"})
    assert r.status_code == 303
    assert "from the form" in client.get(f"/studies/{sid}/trials/3").get_data(as_text=True)


def test_bad_changes_are_refused_all_at_once(client, filled):
    sid = filled["done"]
    r = client.patch(f"/api/v1/studies/{sid}", json={"tags": ["ok", "no spaces", "<b>"],
                                                      "archived": "yes", "color": 1})
    assert r.status_code == 400
    msg = r.json["message"]
    assert "'no spaces'" in msg and "'<b>'" in msg and "archived" in msg and "color" in msg
    assert client.get(f"/api/v1/studies/{sid}").json["tags"] == []  # nothing written


def test_tags_filter_and_archive_hides_until_restored(client, filled):
    sid, other = filled["done"], filled["empty"]
    assert client.patch(f"/api/v1/studies/{sid}", json={"tags": ["baseline", "cnn_v2"]}).status_code == 200
    names = lambda q: [s["name"] for s in client.get(f"/api/v1/studies?{q}").json["items"]]  # noqa: E731
    assert names("tag=baseline") == ["done-study"] and names("tag=cnn_v2") == ["done-study"]
    assert names("tag=cnn") == [] and names("tag=cnnXv2") == []  # whole tags; '_' is no wildcard
    html = client.get("/?tag=baseline").get_data(as_text=True)
    assert "done-study" in html and "empty-study" not in html
    r = client.post(f"/studies/{sid}/manage", data={"action": "archive"})
    assert r.status_code == 303
    assert names("") == ["empty-study"] and names("archived=1") == ["done-study"]
    assert sorted(names("archived=all")) == ["done-study", "empty-study"]
    assert "archived" in client.get(f"/studies/{sid}").get_data(as_text=True)
    client.post(f"/studies/{sid}/manage", data={"action": "restore"})
    assert sorted(names("")) == ["done-study", "empty-study"]
    assert other


def test_delete_removes_trials_and_results(client, store, filled):
    sid = filled["done"]
    with store.session() as s:
        assert s.scalar(select(func.count(Result.id)).join(Trial).where(Trial.study_id == sid)) > 0
    r = client.delete(f"/api/v1/studies/{filled['empty']}")  # QUEUED: refused
    assert r.status_code == 400 and "cancel" in r.json["message"]
    r = client.post(f"/studies/{sid}/manage", data={"action": "delete"})
    assert r.status_code == 303
    assert client.get(f"/api/v1/studies/{sid}").status_code == 404
    with store.session() as s:
        assert s.scalar(select(func.count(Trial.id)).where(Trial.study_id == sid)) == 0
        assert s.scalar(select(func.count(Result.id))) == 0


def test_spec_shown_as_submitted_and_cloned_into_the_editor(client, store, monkeypatch):
    import yaml

    from tests.helpers import quad_spec

    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", "tests.helpers")
    text = "# tuned by hand\n" + yaml.safe_dump(quad_spec("quad-a"), sort_keys=False)
    r = client.post("/submit", data={"spec": text})
    assert r.status_code == 303
    sid = int(r.headers["Location"].rsplit("/", 1)[1])
    html = client.get(f"/studies/{sid}").get_data(as_text=True)
    assert "# tuned by hand" in html and "Clone this spec" in html
    editor = client.get(f"/submit?clone={sid}").get_data(as_text=True)
    assert "# tuned by hand" in editor and "name: quad-a-copy" in editor


def test_only_the_owner_or_an_admin_manages_a_study(tmp_path, filled, store):
    from hpsearch.accounts import Accounts
    from webui import create_app

    acc = Accounts(store)
    acc.add_user("root", "root-password-1", role="admin")
    acc.add_user("alice", "alice-password-1", role="member")
    app = create_app({"TESTING": True, "DATABASE_URL": store.url, "AUTH": True,
                      "SECRET_KEY": "k" * 40})
    token = acc.create_token("alice", "t")[1]
    c = app.test_client()
    r = c.patch(f"/api/v1/studies/{filled['done']}", json={"notes": "mine now"},
                headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "owner" in r.json["message"]
    r = c.delete(f"/api/v1/studies/{filled['done']}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    admin = acc.create_token("root", "t")[1]
    r = c.patch(f"/api/v1/studies/{filled['done']}", json={"tags": ["reviewed"]},
                headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200 and r.json["tags"] == ["reviewed"]
