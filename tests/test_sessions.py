"""Officers' and supervisors' sessions end after a quiet spell and after a working day;
owners' and managers' sessions keep the ordinary lifetime."""
from __future__ import annotations

import time

import pytest

from tests.conftest import signed_in


def _shift(client, *, started: float = 0, seen: float = 0) -> None:
    """Move the session's recorded start and last request back by the given seconds."""
    with client.session_transaction() as session:
        session["started_at"] -= started
        session["seen_at"] -= seen


@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_a_quiet_staff_session_times_out(app, world, role):
    client = signed_in(app, getattr(world, role))
    assert client.get("/api/auth/me").status_code == 200
    _shift(client, seen=29 * 60)
    assert client.get("/api/auth/me").status_code == 200  # 29 minutes quiet: still signed in
    # ...and that request counted as activity.
    with client.session_transaction() as session:
        assert time.time() - session["seen_at"] < 5
    _shift(client, seen=31 * 60)
    response = client.get("/api/auth/me")
    assert response.status_code == 401 and response.json["error"]["code"] == "session_expired"
    assert "30 minutes" in response.json["error"]["message"]
    # The session is gone, not just refused once.
    assert client.get("/api/auth/me").json["error"]["code"] == "unauthenticated"
    assert client.get("/api/requests").status_code == 401


def test_a_staff_session_ends_after_its_lifetime_however_active(as_officer):
    _shift(as_officer, started=11 * 3600)
    assert as_officer.get("/api/requests").status_code == 200
    _shift(as_officer, started=2 * 3600)
    response = as_officer.get("/api/requests")
    assert response.status_code == 401 and response.json["error"]["code"] == "session_expired"
    assert "12 hours" in response.json["error"]["message"]


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owners_and_managers_keep_the_ordinary_lifetime(app, world, role):
    client = signed_in(app, getattr(world, role))
    _shift(client, started=3 * 24 * 3600, seen=2 * 24 * 3600)
    assert client.get("/api/auth/me").status_code == 200


def test_the_limits_are_settings(app, world):
    app.config["STAFF_IDLE_TIMEOUT_MINUTES"] = 5
    client = signed_in(app, world.officer)
    _shift(client, seen=6 * 60)
    response = client.get("/api/auth/me")
    assert response.status_code == 401 and "5 minutes" in response.json["error"]["message"]


def test_a_screen_polling_in_the_background_does_not_keep_a_session_awake(app, world):
    client = signed_in(app, world.officer)
    background = {"X-Porchlight-Background": "1"}
    _shift(client, seen=20 * 60)
    assert client.get("/api/requests", headers=background).status_code == 200
    _shift(client, seen=11 * 60)  # 31 minutes since the officer last did anything
    response = client.get("/api/requests", headers=background)
    assert response.status_code == 401 and response.json["error"]["code"] == "session_expired"


def test_a_background_request_still_answers_and_a_foreground_one_counts(app, world):
    client = signed_in(app, world.officer)
    _shift(client, seen=20 * 60)
    assert client.get("/api/requests").status_code == 200  # the officer opened something
    _shift(client, seen=11 * 60)
    assert client.get("/api/requests", headers={"X-Porchlight-Background": "1"}).status_code == 200
