"""Fixtures: a fresh app and database per test, on SQLite and (when TEST_DATABASE_URL
names one) on PostgreSQL; signed-in clients for each role."""
from __future__ import annotations

import os
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
from app.audit.models import GENESIS_HASH, AuditChainHead
from app.extensions import db
from tests import factories, scratchdb

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


@pytest.fixture(scope="session")
def pg_test_url():
    """The run's PostgreSQL database with the schema built once; tests truncate between them."""
    with scratch_pg_database("t") as url:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            db.metadata.create_all(conn)
        engine.dispose()
        yield url


def _truncate_all() -> None:
    names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(AuditChainHead.__table__.insert().values(id=1, length=0, last_hash=GENESIS_HASH))


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


# What production refuses to start without (app/__init__.py, app/links.py, app/crypto.py).
PRODUCTION_SETTINGS = {"SECRET_KEY": "production-test-key-" + "x" * 44,
                       "PUBLIC_BASE_URL": "https://porchlight.example.gov",
                       "ENCRYPTION_KEYS": "lUvWZPg1E6F8aCQq3pdH8b2xfkS1YvcBw8Qq1oZxV2c=",
                       "SQLALCHEMY_DATABASE_URI": "sqlite://"}


def production_app(**settings):
    """A production-config app with the required settings, then ``settings``."""
    return create_app("production", {**PRODUCTION_SETTINGS, **settings})


def build_app(database: str, tmp_path, request=None, **overrides):
    if database == "sqlite":
        uri = f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        uri = request.getfixturevalue("pg_test_url")
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": uri,
                                 "CLIP_STORAGE_ROOT": str(tmp_path / "clips"), **overrides})
    app.test_client_class = IsolatedClient
    with app.app_context():
        if database == "sqlite":
            db.create_all()
        else:
            _truncate_all()
    return app


@pytest.fixture(params=DATABASES)
def database(request) -> str:
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
