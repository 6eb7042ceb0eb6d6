"""Fixtures: a fresh app and database per test, on SQLite and (when TEST_DATABASE_URL
names one) on PostgreSQL; signed-in clients for each role.

Each database's schema is built once per test process: a SQLite test starts from a copy
of a file built at the start, a PostgreSQL test from the session's database with every
row deleted. Tests still commit for real, so other connections, worker processes and
live servers see what a test wrote. A test marked ``one_database`` (a table of
transitions, a parser, a message text: the database is not its subject) runs on SQLite
only; every other test that uses ``database`` runs on both."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager, nullcontext
from typing import NoReturn

import pyotp
import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient

from app import (
    create_app,
    models,  # noqa: F401  (every table in the metadata before the PostgreSQL schema is built)
)
from app.accounts.models import User
from app.audit.models import GENESIS_HASH, HISTORY, AuditChainHead
from app.extensions import db
from tests import factories, media_samples, scratchdb

# s3_server, s3_bucket, refusing_proxy: moto's S3 server, started only by the tests that ask for it.
pytest_plugins = ["tests.s3_support"]

PG_URL = os.environ.get("TEST_DATABASE_URL") or None
REDIS_URL = os.environ.get("TEST_REDIS_URL") or None
# CI runs every test: there PostgreSQL is always one of the databases, and a missing
# TEST_DATABASE_URL fails its tests instead of leaving them out.
CI = bool(os.environ.get("CI"))
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL or CI else [])


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test this machine cannot run, saying why; with CI set, fail it instead."""
    if CI:
        pytest.fail(f"{reason}. CI is set, and CI runs every test.", pytrace=False)
    pytest.skip(reason)


def require_postgresql() -> None:
    if not PG_URL:
        skip_or_fail("this test needs PostgreSQL: set TEST_DATABASE_URL (.ci/run does)")


def _pg_url() -> str:
    from config import _sqlalchemy_url

    return _sqlalchemy_url(PG_URL)


@contextmanager
def scratch_pg_database(suffix: str):
    """A scratch PostgreSQL database beside TEST_DATABASE_URL's (see tests/scratchdb.py)."""
    require_postgresql()
    with scratchdb.scratch_pg_database(PG_URL, suffix) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _shared_url_builders():
    """Let the run's apps share werkzeug's URL builders.

    Every test builds an app, and werkzeug writes each URL rule's builder as Python code
    and compiles it: most of ``create_app``'s time. A builder depends only on the rule's
    parts (its defaults aside), not on the app, so one per rule serves every app.
    """
    from werkzeug.routing.rules import Rule

    compile_builder = Rule._compile_builder
    builders = {}

    def shared(self, append_unknown=True):
        if self.defaults:  # baked into the code: left to werkzeug
            return compile_builder(self, append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", shared)
        yield


@pytest.fixture(scope="session")
def pg_test_url():
    """The run's PostgreSQL database with the schema built once; tests empty it between them."""
    with scratch_pg_database("t") as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            db.metadata.create_all(conn)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite file with the schema built (and the audit chain's head seeded), copied for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
        db.engine.dispose()  # the last connection closing folds the WAL into the file
    return path


_emptying_sql: str | None = None  # the session's database is the same for every test


def _empty_tables() -> None:
    """Every table of the session's PostgreSQL database empty and its ids restarting at 1,
    as in a new database, in one round trip.

    Deleting the rows of these small tables takes milliseconds where TRUNCATE, which
    gives each table new files, took half a second a test.
    """
    global _emptying_sql
    if _emptying_sql is None:
        with db.engine.connect() as conn:
            sequences = conn.scalars(sa.text("SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) "
                                             "FROM pg_sequences WHERE schemaname = current_schema()")).all()
        head = AuditChainHead.__table__.name
        _emptying_sql = ";\n".join(
            [f'DELETE FROM "{table.name}"' for table in reversed(db.metadata.sorted_tables)]
            + [f"SELECT setval('{sequence}', 1, false)" for sequence in sequences]
            + [f"INSERT INTO \"{head}\" (chain, length, last_hash, link_hash, sealed_at) "
               f"VALUES ('{HISTORY}', 0, '{GENESIS_HASH}', '{GENESIS_HASH}', now())"])
    with db.engine.begin() as conn:
        conn.exec_driver_sql(_emptying_sql)


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    Without this, requests would reuse the test's app context and with it ``g`` (where
    flask-login caches the signed-in user) and the test's database session. The test's
    own session is committed before each request and expired after it, so a test sees
    what the request wrote and the request sees what the test made.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            db.session.commit()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response


# What production refuses to start without (app/__init__.py, app/links.py, app/crypto.py,
# app/notifications/push_endpoints.py, app/audit/signing.py).
PRODUCTION_SETTINGS = {"SECRET_KEY": "production-test-key-" + "x" * 44,
                       "PUBLIC_BASE_URL": "https://porchlight.example.gov",
                       "ENCRYPTION_KEYS": "lUvWZPg1E6F8aCQq3pdH8b2xfkS1YvcBw8Qq1oZxV2c=",
                       "AUDIT_SIGNING_KEY": "Hm7Ik0T1r2qJ0l6cS0i3s9VJtq3Hq3p1L3xJ3l0s0aE=",
                       "VAPID_SUBJECT": "mailto:webmaster@porchlight.example.gov",
                       "SQLALCHEMY_DATABASE_URI": "sqlite://"}


def production_app(**settings):
    """A production-config app with the required settings, then ``settings``."""
    return create_app("production", {**PRODUCTION_SETTINGS, **settings})


def build_app(database: str, tmp_path, request, **overrides):
    """A testing app on the test's database: a SQLite file of the test's own (the first
    app of a test copies the template; later ones share the file), or the session's
    PostgreSQL database, emptied."""
    if database == "sqlite":
        path = tmp_path / "test.sqlite3"
        if not path.exists():
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        uri = f"sqlite:///{path}"
    else:
        uri = request.getfixturevalue("pg_test_url")
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": uri,
                                 "CLIP_STORAGE_ROOT": str(tmp_path / "clips"), **overrides})
    app.test_client_class = IsolatedClient
    if database == "postgresql":
        with app.app_context():
            _empty_tables()
    elif app.config["SQLALCHEMY_DATABASE_URI"] != uri:
        with app.app_context():
            db.create_all()
    return app


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    # Before pytest parametrizes ``database`` from the fixture's params: a test of its
    # own parametrization takes precedence over them.
    if metafunc.definition.get_closest_marker("one_database") and "database" in metafunc.fixturenames:
        metafunc.definition.add_marker(pytest.mark.parametrize("database", ["sqlite"], indirect=True))


@pytest.fixture(params=DATABASES)
def database(request) -> str:
    """The test's database: "sqlite", and "postgresql" when TEST_DATABASE_URL is set (except ``one_database``)."""
    return request.param


@pytest.fixture
def app(database, tmp_path, request):
    app = build_app(database, tmp_path, request)
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    ctx.pop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def make_app(database, tmp_path, request):
    """Build extra apps with config overrides on the test's database; disposed afterwards."""
    apps = []

    def make(**overrides):
        app = build_app(database, tmp_path, request, **overrides)
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(params=DATABASES)
def empty_database_url(request, tmp_path):
    """A database with nothing in it, for migrations to build: SQLite, and PostgreSQL when given."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    else:
        with scratch_pg_database("mig") as url:
            yield url


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def world(app):
    """An agency with a district and one account of each role, plus a second agency."""
    return factories.World.build()


def second_factor_code(app, user) -> str | None:
    """The authenticator app's code for ``user`` now, or None when it has no second factor.

    Each call stands for a sign-in in its own 30-second step: the account's record of
    the last step used (which refuses a code twice) is cleared first, so a test may
    sign the same officer in on several clients at once.
    """
    # In the test's own app context (and session) when there is one, as IsolatedClient does.
    with nullcontext() if has_app_context() else app.app_context():
        row = db.session.get(User, user.id)
        if row.totp_secret is None:
            return None
        row.totp_last_step = None
        db.session.commit()
        return pyotp.TOTP(row.totp_secret).now()


def signed_in(app, user, password=factories.PASSWORD):
    """A client signed in as ``user``, with the authenticator app's code when the account has one."""
    client = app.test_client()
    body = {"login": user.email or user.phone, "password": password}
    code = second_factor_code(app, user)
    if code:
        body["code"] = code
    response = client.post("/api/auth/signin", json=body)
    assert response.status_code == 200, response.json
    return client


@pytest.fixture
def as_owner(app, world):
    return signed_in(app, world.owner)


@pytest.fixture
def as_officer(app, world):
    return signed_in(app, world.officer)


@pytest.fixture
def as_supervisor(app, world):
    return signed_in(app, world.supervisor)


@pytest.fixture
def as_manager(app, world):
    return signed_in(app, world.manager)


@pytest.fixture
def redis_url():
    if not REDIS_URL:
        skip_or_fail("this test needs Redis: set TEST_REDIS_URL (.ci/run does)")
    return REDIS_URL


@pytest.fixture
def twilio():
    """The local Twilio-compatible API (tests/peers/twilio_api.py); apps reach it with
    ``make_app(**twilio.config())``. A request it could not make sense of fails the test."""
    from tests.peers.twilio_api import LocalTwilio

    with LocalTwilio() as server:
        yield server
    assert not server.errors, server.errors


@pytest.fixture
def sms_app(make_app, twilio):
    """An app with Twilio credentials whose real Twilio client talks to the local server."""
    from app.notifications import sms

    app = make_app(**twilio.config())
    ctx = app.app_context()
    ctx.push()
    yield app
    sms.close(app)
    db.session.remove()
    ctx.pop()


@pytest.fixture(scope="session")
def samples(tmp_path_factory):
    """Every sample of tests/media_samples.py (real files made with PyAV), made once per session; by name."""
    return media_samples.make_all(tmp_path_factory.mktemp("media-samples"))
