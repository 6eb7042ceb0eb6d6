"""The OpenAPI document matches the API: schemathesis runs every one of its checks
(`--checks all`) against every operation, as every role, and finds nothing."""
from __future__ import annotations

import re
from collections import Counter

import pytest
import schemathesis
from schemathesis.checks import CHECKS
from schemathesis.engine import events, from_schema

import app.models  # noqa: F401  (every table in the metadata before the PostgreSQL schema is built)
from app.accounts.models import Role
from app.extensions import db
from app.footage.models import AskState
from tests import factories
from tests.conftest import DATABASES, build_app, signed_in

# Each role's session reaches the operations its routes let it in to. An officer's are all a
# supervisor's too (the staff routes let both in), so the supervisor's run covers them.
ROLES = ["anonymous", "owner", "supervisor", "manager", "oversight"]
# Roles whose runs fuzz only the operations their routes let them in to (and the public and
# self-checking ones): every other operation answers 403 from app/auth.py's guard before
# it reads its input, the same for every input, and test_authz_walk.py calls each of those
# as these roles. Their full runs reached about 8 operations in 40 s of 403s per database.
NARROW_ROLES = {"manager", "oversight"}

# Operations that end the session under test (signing out, a new password, closing the
# account): they get a pass of their own after everything else has run with that session.
SESSION_ENDING = ["POST /api/auth/signout", "POST /api/auth/password", "DELETE /api/me",
                  "DELETE /api/auth/sessions/{session_id}"]

# What `schemathesis run --checks all` selects: every registered check, plus the response
# time limit (`all` switches it on at the library's default of 10 s). The slowest answer
# here takes about 0.25 s; 10 s only catches a hang or a runaway query, so it cannot flake
# on a busy 2-core machine, and it is what the CLI would apply.
# (object_level_authorization is among them but acts only with `[auth.wfc]` peers, users
# it signs in itself; it needs a live server, as werkzeug's test client drops Cookie headers.)
MAX_RESPONSE_TIME = 10.0
# Per operation and phase; derandomized, so every run sends the same requests. (15 until
# issue 15, 12 until issue 16: the operations and the rest of the suite kept growing, and
# the suite must stay near 10 minutes on 2 cores.)
MAX_EXAMPLES = 8

# Per-operation settings, each for a rule the OpenAPI document cannot state.
TUS_OPERATIONS = ["POST /api/uploads", "PATCH /api/uploads/{upload_id}", "DELETE /api/uploads/{upload_id}"]
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]  # the default
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # the default
# positive_data_acceptance sends documented-valid input and expects it taken. These inputs
# are valid or not by what the schema cannot know: the clock, another field's value, a
# secret sent elsewhere, a file's contents. Each still answers 422 (never 5xx), which
# every other check verifies.
BEYOND_THE_SCHEMA = {
    "POST /api/requests": "the window must lie in the past year, end after it starts, last 7 days at most; "
                          "offense_category must be a key of the agency's list; warrant and exigent fields go with "
                          "their legal basis only",
    "POST /api/requests/preview": "the same window rules as POST /api/requests",
    "GET /api/public/agencies/{slug}/report": "`from` must not come after `to`, 36 months at most between them",
    "GET /api/public/agencies/{slug}/report.csv": "the same range rules as the JSON report",
    "PATCH /api/agency/policy": "the reminder must come before the request lifetime, which may be the stored one; "
                                "offense category keys must be unique",
    "POST /api/enrollment/codes": "expires_at must be in the future; max_uses depends on kind",
    "POST /api/cameras": "shared_agency_ids must name agencies the owner has joined",
    "PATCH /api/cameras/{camera_id}": "shared_agency_ids must name agencies the owner has joined",
    "PATCH /api/me/filters": "agency_ids must name agencies the owner has joined, categories their taxonomies' keys",
    "POST /api/push/subscriptions": "the keys must be a real P-256 point, the endpoint a public push service",
    "POST /api/auth/phone/verify": "the code is the one texted to the phone",
    "POST /api/auth/phone/verification": "the phone must be a number libphonenumber deems valid, not a pattern",
    "POST /api/uploads": "the ask travels base64-encoded inside Upload-Metadata, unless a link token names it",
    "POST /api/district/imports": "the file must be a CSV or XLSX member list, whatever its declared type",
    "POST /api/auth/signup": "the phone must be a number libphonenumber deems valid; the password not a common one",
    "POST /api/auth/second-factor/confirm": "the code must be the one the authenticator app shows now",
    "POST /api/staff/invitations": "district_id goes with the manager role only (OpenAPI 3.0 has no if/then)",
    "POST /api/invitations/{token}/second-factor": "the token is an invitation e-mail's link; the password must "
                                                   "not be easy to guess",
    "POST /api/invitations/{token}/accept": "the token is an invitation e-mail's link; the code must be the one "
                                            "the authenticator app shows now",
    "GET /api/invitations/{token}": "the token is an invitation e-mail's link",
    "POST /api/auth/password-reset/confirm": "the token or code must be one that was sent, and still live",
    "POST /api/oversight/complaints": "the request must be the agency's; dates not in the agency's future, an outcome "
                                      "on or after receipt and given with any outcome but open",
    "PATCH /api/oversight/complaints/{complaint_id}": "the same date rules, against the complaint's stored receipt",
    **{f"GET /api/public/agencies/{{slug}}/reports/{{year}}{suffix}": "the year must be from 2000 to the current "
       "one in the agency's time zone" for suffix in ("", ".csv", ".pdf")},
    **{f"{method} /api/agency/reports/{{year}}/entries": "the year must be from 2000 to the current one in the "
       "agency's time zone" for method in ("GET", "PATCH")},
}
OPERATION_SETTINGS = [
    # A reset link that was used, replaced or has expired is gone: 410, as documented.
    {"include-name": "GET /api/auth/password-reset/link",
     "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "410"]}}},
    # The tus 1.0.0 protocol (which the uploader, tus-js-client, speaks) answers a missing or
    # unsupported Tus-Resumable with 412 Precondition Failed, as documented.
    *({"include-name": name, "checks": {
        "negative_data_rejection": {"expected-statuses": [*REJECTED, "412"]},
        "missing_required_header": {"expected-statuses": ["400", "401", "403", "406", "412", "415", "422"]},
    }} for name in TUS_OPERATIONS),
    *({"include-name": name, "checks": {"positive_data_acceptance": {"enabled": False}}}
      for name in BEYOND_THE_SCHEMA),
    # A code that existed and was revoked, used up or expired is gone: 410, as documented
    # (the default list already takes 404 for one that never existed).
    *({"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "410"]}}}
      for name in ["GET /api/enrollment/lookup/{code}"]),
    # A made-up e-mail verification token is a link that does not work: 410, as documented.
    {"include-name": "POST /api/auth/verify-email",
     "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "410"]}}},
]


@pytest.fixture(params=[(d, r) for d in DATABASES for r in ROLES], ids=lambda p: f"{p[0]}-{p[1]}")
def fuzz_app(request, tmp_path):
    # No app context stays pushed: each generated request gets its own, as in production.
    database, role = request.param
    app = build_app(database, tmp_path, request)
    with app.app_context():
        world = factories.World.build()
        factories.enrollment_code(world.agency, district=world.district, max_uses=1000,
                                  kind=factories.CodeKind.CAMPAIGN)
        porch = factories.camera(world.owner, shared_with=[world.agency])
        # Rows the fuzzer's small ids find, so the requests, asks and holds routes get past 404:
        # an officer's active request, asking the owner's camera (one ask open, one approved).
        request_ = factories.footage_request(world.agency, world.officer)
        factories.ask(request_, porch, state=AskState.NOTIFIED)
        factories.ask(factories.footage_request(world.agency, world.officer),
                      factories.camera(world.owner, shared_with=[world.agency]), state=AskState.APPROVED)
        db.session.commit()
        # The session cookie of a real sign-in, given as the security scheme's value: schemathesis
        # sends it as that cookie and takes it away for its authentication checks. (Not as a
        # Cookie header: werkzeug's test client replaces that header with its own cookie jar.)
        caller = (factories.user(Role.OVERSIGHT, agency_id=world.agency.id) if role == "oversight"
                  else getattr(world, role, None))
        db.session.commit()
        app.config["FUZZ_ROLE"] = role
        app.config["FUZZ_SESSION"] = (None if caller is None else
                                      signed_in(app, caller).get_cookie("porchlight_session").value)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def operations_for(app, role: str) -> set[str]:
    """The operations a session of ``role`` gets past the role guard of (app/auth.py)."""
    labels = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule.startswith(("/api/docs", "/api/openapi")):
            continue
        roles = getattr(app.view_functions[rule.endpoint], "_porchlight_roles", None)
        if roles is not None and Role(role) not in roles:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        labels.update(f"{method} {path}" for method in rule.methods - {"HEAD", "OPTIONS"})
    return labels


def all_checks_config(session_cookie: str | None, *, stateful: bool = True) -> schemathesis.Config:
    """`--checks all`: in the Python API every built-in check is on unless configured off
    (the test asserts each of them ran); the response time limit is the one to switch on.

    Without a session (the anonymous caller) the coverage phase and stateful sequences are
    left out: every operation but the public ones answers 401 before reading its input, and
    the public ones get both phases in every signed-in run (a session changes nothing there).
    The coverage phase tries two methods no path has (PUT: the API changes with PATCH; TRACE)
    rather than every one it lacks: a 405 comes from the routing, alike for every method,
    and the six-method sweep was a fifth of each run.
    """
    anonymous = session_cookie is None
    return schemathesis.Config.from_dict({
        "seed": 2026,
        "workers": 1,
        "cache": {"enabled": False},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "checks": {"max_response_time": MAX_RESPONSE_TIME},
        "phases": {"stateful": {"enabled": stateful and not anonymous},
                   "coverage": {"enabled": not anonymous, "unexpected-methods": ["PUT", "TRACE"]}},
        "operations": OPERATION_SETTINGS,
        **({"auth": {"openapi": {"session": {"api_key": session_cookie}}}} if session_cookie else {}),
    })


@pytest.fixture
def wsgi_probes_without_network_options(monkeypatch):
    """Work around schemathesis 4.32.5 sending its network-only options (max_redirects,
    verify, cert) to werkzeug when a check re-sends a request without credentials to an
    in-process app (ignored_auth does): the retry drops the `requests` session that would
    have absorbed them, so werkzeug's EnvironBuilder raises a TypeError."""
    from schemathesis.specs.openapi import _auth_retry

    build = _auth_retry.build_retry_transport_kwargs

    def without_network_options(*args, **kwargs):
        built = build(*args, **kwargs)
        for name in ("max_redirects", "verify", "cert", "proxies"):
            built.pop(name, None)
        return built

    monkeypatch.setattr(_auth_retry, "build_retry_transport_kwargs", without_network_options)


def run_all_checks(schema) -> tuple[list[str], Counter, set[str]]:
    """Run every phase (examples, coverage, fuzzing, stateful) and return what failed."""
    failures: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    ran: Counter = Counter()
    operations: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            operations.add(event.recorder.label)
            for case_id, nodes in event.recorder.checks.items():
                for node in nodes:
                    ran[node.name] += 1
                    info = node.failure_info
                    key = info and (event.recorder.label, node.name, info.failure.title)
                    if info is None or key in seen:
                        continue
                    seen.add(key)
                    interaction = event.recorder.interactions.get(case_id)
                    answer = interaction and interaction.response
                    answered = (f"answered {answer.status_code}: {answer.content[:300]!r}"
                                if answer is not None else "")
                    failures.append(f"{event.recorder.label} [{node.name}, {event.phase.value}] "
                                    f"{info.failure.title}\n{info.failure.message}\n{info.code_sample}\n{answered}")
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label} [error, {event.phase}]: {event.value!r}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            failures.extend(f"{f.operation} [after run] {f.title}\n{f.message}" for f in event.failures)
    return failures, ran, operations


@pytest.mark.slow
@pytest.mark.usefixtures("wsgi_probes_without_network_options")
def test_api_passes_every_schemathesis_check(fuzz_app):
    """`--checks all` in-process, as this role: no 5xx, every answer as documented, invalid
    input refused, valid input accepted, credentials enforced, deleted things gone."""
    session = fuzz_app.config["FUZZ_SESSION"]
    role = fuzz_app.config["FUZZ_ROLE"]
    allowed = operations_for(fuzz_app, role) if role in NARROW_ROLES else None
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app, config=all_checks_config(session))
    if allowed is not None:
        schema = schema.exclude(func=lambda ctx: ctx.operation.label not in allowed)
    failures, ran, operations = run_all_checks(schema.exclude(name=SESSION_ENDING))
    # The session-ending operations alone, without stateful sequences (they link to nothing
    # among themselves). `exclude` with a function: 4.32.5's unit phases drop a name `include`.
    last = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app,
                                          config=all_checks_config(session, stateful=False))
    ending = [label for label in SESSION_ENDING if allowed is None or label in allowed]
    more_failures, more_ran, more_operations = run_all_checks(
        last.exclude(func=lambda ctx: ctx.operation.label not in ending))
    failures += more_failures
    ran += more_ran
    operations |= more_operations
    if allowed is None:
        assert len(operations) >= 60, sorted(operations)
    else:
        # Every operation the role may call was fuzzed ("Stateful tests" labels the sequences).
        assert operations - {"Stateful tests"} == allowed, sorted(operations ^ allowed)
    selected = set(CHECKS.get_all_names()) | {"max_response_time"}
    assert selected - set(ran) == set(), "every check of `--checks all` ran"
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)


@pytest.mark.one_database
def test_openapi_document_describes_every_api_route(app):
    spec = app.test_client().get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule.startswith(("/api/docs", "/api/openapi")):
            continue
        path = rule.rule.replace("<int:", "<").replace("<string:", "<").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} missing from the OpenAPI document"
    error = spec["components"]["schemas"].get("HTTPError") or {}
    assert "error" in error.get("properties", {}), "errors are documented with the one error shape"


@pytest.mark.one_database
def test_the_document_says_which_bodies_are_needed_and_what_a_malformed_one_gets(app):
    paths = app.test_client().get("/api/openapi.json").json["paths"]
    create, edit = paths["/api/cameras"]["post"], paths["/api/cameras/{camera_id}"]["patch"]
    assert create["requestBody"]["required"] is True  # label, latitude ... are required
    assert edit["requestBody"]["required"] is False  # every field optional: no body is {}
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert "400" in operation["responses"], f"{method.upper()} {path}: malformed JSON is a 400"


@pytest.mark.one_database
def test_the_document_states_configured_limits(make_app):
    spec = make_app(DISTRICT_PDF_MAX_MEMBERS=4).test_client().get("/api/openapi.json").json
    parameters = {p["name"]: p["schema"] for p in spec["paths"]["/api/district/invitations.pdf"]["get"]["parameters"]}
    assert parameters["limit"]["maximum"] == 4 and parameters["member_ids"]["maxItems"] == 4


@pytest.mark.one_database
def test_interactive_docs_need_no_cdn(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the docs page loads its scripts and styles"
    for url in assets:
        assert url.startswith("/"), f"{url} would be fetched from another host"
        with client.get(url) as asset:
            assert asset.status_code == 200, url
