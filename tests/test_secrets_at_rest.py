"""Secrets at rest (security round two, finding 6): whoever reads the database (a dump, a
backup, a replica) finds no authenticator secret and no push auth secret in clear; keys
rotate without locking anyone out; production refuses to start without a usable
ENCRYPTION_KEYS; the migration encrypts what was stored in clear, and gives it back."""
from __future__ import annotations

import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask_migrate import downgrade, upgrade

from app import create_app
from app.accounts.models import Role, User
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.notifications import webpush
from app.notifications.models import PushSubscription
from tests import conftest, factories
from tests.conftest import signed_in
from tests.peers import scenario
from tests.peers.push_service import LocalPushService
from tests.test_second_factor import new_officer, sign_in

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def production_app(database_uri: str, **config):
    """A production app on ``database_uri`` whose key is KEY_A unless ``config`` says otherwise."""
    return conftest.production_app(SQLALCHEMY_DATABASE_URI=database_uri, **{"ENCRYPTION_KEYS": KEY_A, **config})


@pytest.fixture
def sibling():
    """Another process of the same deployment: an app on ``app``'s database, as it is (make_app
    would empty a PostgreSQL one), with ``config``."""
    apps = []

    def make(app, **config):
        other = create_app("testing", {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], **config})
        apps.append(other)
        return other

    yield make
    for other in apps:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def raw_secrets() -> dict[str, list[str]]:
    """What a reader of the database sees in the secret columns (no model, no key)."""
    with db.engine.connect() as conn:
        users = conn.execute(sa.text("SELECT totp_secret, totp_pending_secret FROM users ORDER BY id")).all()
        auths = conn.execute(sa.text("SELECT auth FROM push_subscriptions ORDER BY id")).scalars().all()
    return {"totp": [v for row in users for v in row if v is not None], "auth": list(auths)}


def opens(key: str, token: str) -> str:
    return Fernet(key.encode()).decrypt(token.encode()).decode()


# --- what the database holds ----------------------------------------------------------------------

def test_the_database_holds_no_secret_in_clear_and_sign_in_still_works(make_app):
    app = make_app(ENCRYPTION_KEYS=KEY_A)
    with app.app_context():
        world = factories.World.build()
        officer = new_officer(world)
        client = app.test_client()
        assert sign_in(client, officer).status_code == 200
        pending = client.post("/api/auth/second-factor/setup").json["secret"]
        assert pending not in str(raw_secrets())
        assert pending in {opens(KEY_A, token) for token in raw_secrets()["totp"]}
        confirm = client.post("/api/auth/second-factor/confirm", json={"code": pyotp.TOTP(pending).now()})
        assert confirm.status_code == 200, confirm.json
        with LocalPushService(webpush.public_key(app)) as push:
            subscription = push.allow_in(app).new_subscriber().subscription()
        assert signed_in(app, world.owner).post("/api/push/subscriptions", json=subscription).status_code == 201

        stored, auth = raw_secrets(), subscription["keys"]["auth"]
        assert pending not in str(stored) and auth not in str(stored)
        for token in stored["totp"] + stored["auth"]:
            assert token.startswith("gAAAAA") and len(token) <= 255  # a Fernet token, nothing else
        assert pending in {opens(KEY_A, token) for token in stored["totp"]}
        assert [opens(KEY_A, token) for token in stored["auth"]] == [auth]
        # The model reads plaintext; the officer signs in with the authenticator's code.
        db.session.expire_all()
        assert db.session.get(User, officer.id).totp_secret == pending
        assert db.session.scalar(sa.select(PushSubscription.auth)) == auth
        again = app.test_client()
        r = sign_in(again, officer, code=pyotp.TOTP(pending).at(utcnow().timestamp() + 30))
        assert r.status_code == 200, r.json
        assert again.get("/api/auth/me").json["role"] == "officer"


# --- rotation -----------------------------------------------------------------------------------------

def test_rotation_retires_the_old_key_without_locking_anyone_out(make_app, sibling):
    old = make_app(ENCRYPTION_KEYS=KEY_A)
    with old.app_context():
        world = factories.World.build()
        owners = [scenario.owner(subscription={"endpoint": f"https://push.example.com/{i}",
                                               "keys": {"p256dh": "BKey", "auth": f"auth-secret-{i:04d}"}})
                  for i in range(3)]
        db.session.commit()
        officer_id, owner_ids = world.officer.id, [o.id for o in owners]
        secrets_before = {u.id: u.totp_secret for u in db.session.scalars(sa.select(User))
                          if u.totp_secret is not None}
        assert all(opens(KEY_A, t) for t in raw_secrets()["totp"] + raw_secrets()["auth"])

    both = sibling(old, ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}")
    runner = both.test_cli_runner()
    result = runner.invoke(args=["keys", "rotate", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "users.totp_secret: 4 re-encrypted under the newest key, 0 were already" in result.output
    assert "push_subscriptions.auth: 3 re-encrypted" in result.output
    again = runner.invoke(args=["keys", "rotate"])
    assert again.exit_code == 0 and "users.totp_secret: 0 re-encrypted under the newest key, 4 were" in again.output
    with both.app_context():
        events = list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "keys.rotated")
                                         .order_by(AuditEvent.seq)))
        assert [e.details["columns"]["users.totp_secret"] for e in events] == [
            {"rotated": 4, "current": 0, "unreadable": 0}, {"rotated": 0, "current": 4, "unreadable": 0}]
        assert all(e.details["keys"] == 2 for e in events)
        assert KEY_A not in str(events[0].details) and "auth-secret" not in str(events[0].details)

    new = sibling(old, ENCRYPTION_KEYS=KEY_B)
    with new.app_context():
        stored = raw_secrets()
        assert all(opens(KEY_B, t) for t in stored["totp"] + stored["auth"])
        assert {u.id: u.totp_secret for u in db.session.scalars(sa.select(User))
                if u.totp_secret is not None} == secrets_before
        assert sorted(s.auth for s in db.session.scalars(sa.select(PushSubscription))
                      .all() if s.user_id in owner_ids) == [f"auth-secret-{i:04d}" for i in range(3)]
        client = signed_in(new, db.session.get(User, officer_id))
        assert client.get("/api/auth/me").json["role"] == Role.OFFICER.value


def test_rotation_names_rows_no_key_opens(make_app, sibling):
    lost = make_app(ENCRYPTION_KEYS=KEY_A)
    with lost.app_context():
        factories.user(Role.OFFICER, agency_id=factories.agency().id)
        db.session.commit()
    result = sibling(lost, ENCRYPTION_KEYS=KEY_B).test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 1
    assert "users.totp_secret: 1 cannot be decrypted with any key" in result.output


@pytest.mark.one_database
def test_keys_generate_prints_a_key_to_put_first(app):
    result = app.test_cli_runner().invoke(args=["keys", "generate"])
    key = result.output.strip()
    assert result.exit_code == 0 and Fernet(key.encode()) and key not in (KEY_A, KEY_B)


# --- start-up ---------------------------------------------------------------------------------------------

# Named ids, not the random keys: every xdist worker must collect the same test names.
@pytest.mark.parametrize("keys, problem", [
    (None, "ENCRYPTION_KEYS must be set in production"),
    ("", "ENCRYPTION_KEYS must be set in production"),
    ("not-a-key", "ENCRYPTION_KEYS: key 1 of 1 is not a Fernet key"),
    (f"{KEY_B},{KEY_A[:-2]}", "ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key"),
    (" , ", "ENCRYPTION_KEYS is empty"),
], ids=["unset", "empty", "not-a-key", "second-key-cut-short", "only-separators"])
def test_production_refuses_to_start_without_usable_keys(tmp_path, keys, problem):
    with pytest.raises(RuntimeError, match=problem) as failure:
        production_app(f"sqlite:///{tmp_path / 'p.sqlite3'}", ENCRYPTION_KEYS=keys)
    assert KEY_A[:-2] not in str(failure.value)  # a malformed key is still not printed


def test_production_refuses_keys_that_cannot_open_the_stored_secrets(make_app):
    written = make_app(ENCRYPTION_KEYS=KEY_A)
    uri = written.config["SQLALCHEMY_DATABASE_URI"]
    with written.app_context():
        factories.user(Role.SUPERVISOR, agency_id=factories.agency().id)
        db.session.commit()
    with pytest.raises(RuntimeError, match=r"ENCRYPTION_KEYS cannot decrypt the secrets stored in users\.totp_secret"):
        production_app(uri, ENCRYPTION_KEYS=KEY_B)
    started = production_app(uri, ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}")
    with started.app_context():
        assert db.session.scalar(sa.select(User.totp_secret).where(User.totp_secret.is_not(None)))
        db.session.remove()
        db.engine.dispose()


def test_production_starts_on_an_empty_database(tmp_path):
    app = production_app(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert app.extensions["porchlight.encryption"] is not None


def test_development_generates_its_key_once_into_the_instance_folder(tmp_path, monkeypatch, caplog):
    from app import crypto

    monkeypatch.setattr("app.INSTANCE_DIR", tmp_path)
    overrides = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'dev.sqlite3'}", "ENCRYPTION_KEYS": None}
    first = create_app("development", overrides)
    assert (tmp_path / crypto.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert "generated an encryption key" in caplog.text
    token = crypto.key_ring(first).encrypt("JBSWY3DPEHPK3PXP")
    second = create_app("development", overrides)  # another process, or the next start
    assert crypto.key_ring(second).decrypt(token) == "JBSWY3DPEHPK3PXP"


# --- the migration --------------------------------------------------------------------------------------

def test_the_migration_encrypts_secrets_stored_in_clear_and_the_downgrade_gives_them_back(empty_database_url):
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": empty_database_url, "ENCRYPTION_KEYS": KEY_A})
    secret, pending, auth = pyotp.random_base32(), pyotp.random_base32(), "q1YzJ1bP8mD2vR4x6N0aHw"
    with app.app_context():
        upgrade(revision="0006")
        with db.engine.begin() as conn:
            insert_user = sa.text(
                "INSERT INTO users (id, role, email, phone_verified, password_hash, active, "
                "created_at, totp_secret, totp_pending_secret) VALUES (:id, :role, :email, false, 'x', true, "
                ":now, :secret, :pending)")
            conn.execute(insert_user, [
                {"id": 1, "role": "officer", "email": "o@example.gov", "now": utcnow(),
                 "secret": secret, "pending": None},
                {"id": 2, "role": "owner", "email": "r@example.org", "now": utcnow(),
                 "secret": None, "pending": pending}])
            conn.execute(sa.text("INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) "
                                 "VALUES (1, 2, 'https://push.example.com/1', 'BKey', :auth, :now)"),
                         {"auth": auth, "now": utcnow()})

        upgrade(revision="0007")
        stored = raw_secrets()
        assert secret not in str(stored) and pending not in str(stored) and auth not in str(stored)
        assert sorted(opens(KEY_A, t) for t in stored["totp"]) == sorted([secret, pending])
        assert [opens(KEY_A, t) for t in stored["auth"]] == [auth]
        # The models read them back (their columns only: later revisions add others to the tables).
        secrets = db.session.execute(sa.select(User.totp_secret, User.totp_pending_secret).order_by(User.id)).all()
        assert [tuple(row) for row in secrets] == [(secret, None), (None, pending)]
        assert db.session.scalar(sa.select(PushSubscription.auth)) == auth
        db.session.remove()

        downgrade(revision="0006")
        assert raw_secrets() == {"totp": [secret, pending], "auth": [auth]}
        downgrade(revision="base")
        db.engine.dispose()
