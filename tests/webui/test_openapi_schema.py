"""The served API keeps the promises of its generated OpenAPI document (schemathesis).

The app is served over real HTTP (werkzeug, threaded) on a database with a finished
study, a queued one and a warm-started one, in both auth modes: login off (the laptop
UI) and login on, with a member's API token. For every documented operation a bounded
number of generated requests (EXAMPLES each, fixed seed) must get no 5xx, no response
the document does not describe (body schema, status code, content type, headers), and
a 405 must name the allowed methods. The model export (a torch subprocess per call)
is left out of the generated runs: tests/deploy covers it.
"""
from __future__ import annotations

import threading

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import CHECKS, load_all_checks
from werkzeug.serving import make_server

from hpsearch.accounts import Accounts
from hpsearch.store import Store, StudyStatus
from tests.webui.conftest import fill, make_spec

EXAMPLES = 12
SKIP = {("POST", "/studies/{study_id}/trials/{number}/export")}
# What the document promises; acceptance of every schema-valid value (a sort key that
# names no column, ids of studies that do not exist) is not among them.
CHECKED = {"not_a_server_error", "status_code_conformance", "content_type_conformance",
           "response_headers_conformance", "response_schema_conformance",
           "unsupported_method", "allow_header_conformance"}
load_all_checks()
CHECKS_RUN = [c for c in CHECKS.get_all() if c.__name__ in CHECKED]


def _seed(url: str) -> None:
    store = Store(url)
    done = store.create_study(make_spec("done"), status=StudyStatus.RUNNING)
    fill(store, done.id)
    store.set_study_status(done.id, StudyStatus.COMPLETED)
    store.create_study(make_spec("queued"))
    warm = store.create_study(make_spec("warm", warm_start=["done"]), status=StudyStatus.RUNNING)
    store.import_trials(warm.id, [{"params": {"lr": 0.01, "dropout": 0.1, "optimizer": "adam"},
                                   "value": 0.9, "source": "done"}])
    store.dispose()


@pytest.fixture(params=["login-off", "token"])
def served(request, tmp_path):
    """(base URL, headers) of the app served over HTTP in one auth mode."""
    from webui import create_app

    url = f"sqlite:///{tmp_path / 'api.db'}"
    _seed(url)
    config = {"TESTING": True, "DATABASE_URL": url}
    headers = {}
    if request.param == "token":
        accounts = Accounts(Store(url))
        accounts.add_user("ada", "correct horse battery staple", role="admin")
        accounts.add_user("mia", "correct horse battery staple", role="member")
        _, token = accounts.create_token("mia", "schemathesis")
        headers = {"Authorization": f"Bearer {token}"}
        config.update(AUTH=True, SECRET_KEY="s" * 48)
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", headers
    server.shutdown()
    thread.join(10)


def test_served_api_keeps_its_document(served):
    base, headers = served
    schema = schemathesis.openapi.from_url(base + "/api/v1/openapi.json", headers=headers)
    failures, ran = [], 0
    for result in schema.get_all_operations():
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue

        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(base_url=base + "/api/v1", headers=headers,
                                   checks=CHECKS_RUN)

        try:
            check()
        except BaseException as exc:  # noqa: BLE001 - schemathesis raises an exception group
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            failures.append(f"{op.method.upper()} {op.path}: {exc}"[:3000])
        ran += 1
    assert ran >= 11 and len(CHECKS_RUN) == len(CHECKED)
    assert not failures, "\n\n".join(failures)


def test_unicode_digits_and_wrong_methods_are_answered_in_the_document(served):
    """`ids=³` was a 500; every 405 carries Allow (the generated runs may not hit these)."""
    import urllib.error
    import urllib.request

    base, headers = served

    def call(method: str, path: str):
        req = urllib.request.Request(base + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    for path in ["/api/v1/compare?ids=%C2%B3", "/api/v1/compare?ids=1,%D9%A3",
                 "/api/v1/studies/1/compare?trials=%C2%B3,1", "/api/v1/studies?page=%C2%B3",
                 "/api/v1/studies/1/results?after=%C2%B3",
                 "/api/v1/studies/1/trials/0/log?after=%C2%B3"]:
        status, _, body = call("GET", path)
        assert status == 400 and b'"message"' in body, (path, status, body[:300])
    for method, path, allowed in [("DELETE", "/api/v1/studies", {"GET", "POST"}),
                                  ("PUT", "/api/v1/studies/1", {"GET"}),
                                  ("GET", "/api/v1/studies/1/cancel", {"POST"})]:
        status, hdrs, _ = call(method, path)
        assert status == 405, (method, path, status)
        assert allowed <= {m.strip() for m in hdrs.get("Allow", "").split(",")}, hdrs
