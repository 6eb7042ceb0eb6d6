"""Reliability under faults, each against the real peer taken away and brought back:

- Redis stopped (a private redis-server of this test's own): an officer's request is
  still recorded with its pending notifications; once Redis is back the scheduler's
  tick queues them and a real RQ worker sends each owner's push once.
- An RQ worker process SIGKILLed in the middle of a 1,000-owner fan-out: after the
  claim timeout the tick recovers its claimed rows and a new worker finishes; every
  owner's device shows the message once (see the test for what "once" means on the wire).
- PostgreSQL "restarted" under traffic: a TCP proxy between the app and the shared
  server closes every connection and refuses new ones for a second. Requests in that
  second get 503 with the JSON error shape; afterwards the same app serves again.
- 100 tus uploads interrupted at random offsets (a clean stop, or a connection dropped
  in the middle of a PATCH body) and resumed by a new tuspy client: every stored clip
  is byte-identical and its SHA-256 is the file's.

Databases: the Redis and upload tests run on SQLite and PostgreSQL; the killed worker
runs once, on PostgreSQL (SQLite when no PostgreSQL is given: a file database in WAL
mode takes the worker's separate process too); the database outage is PostgreSQL's
only (what the issue names; SQLite has no server to lose). Everything here is
bounded: the file runs in about 35 s on this 2-core machine.
"""
from __future__ import annotations

import json
import logging
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import requests
import sqlalchemy as sa
from tusclient import client as tus_client

from app.db import utcnow
from app.extensions import db
from app.footage.models import Ask, AskState
from app.jobs import ENQUEUE_GRACE, tick
from app.notifications import dispatcher, queue, webpush
from app.notifications.models import DeliveryStatus
from tests import factories
from tests.conftest import CI, PG_URL, signed_in
from tests.peers import scenario
from tests.peers.ports import free_port
from tests.peers.push_service import LocalPushService
from tests.peers.tcp_proxy import TcpProxy
from tests.test_footage import body as request_body
from tests.test_queue import statuses, vapid_pem, work_burst
from tests.upload_support import (
    OFFSET_TYPE,
    KeptOpenBytes,
    approved_ask,
    live_server,
    mp4_bytes,
    session_cookie,
    sha256,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LAT, LON = 43.0389, -87.9065


@pytest.fixture
def push():
    with LocalPushService() as service:
        yield service
    assert not service.errors, service.errors[:5]


# --- 1. Redis unavailable -----------------------------------------------------------------------------

class PrivateRedis:
    """A redis-server of this test's own (never the shared one), stopped and started on one port."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server")
        assert self.binary, "redis-server is not installed (apt-get install redis-server)"
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.answers():
            assert self.process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        assert not self.answers()

    def answers(self) -> bool:
        # A bare socket: redis-py would retry a refused connection for seconds.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def push_owners(world, push, count: int) -> list:
    """Owners of the world's agency, each with a camera at the incident and a push subscription."""
    pairs = []
    for _ in range(count):
        subscriber = push.new_subscriber()
        owner = scenario.owner(subscription=subscriber.subscription())
        factories.membership(owner, world.agency)
        factories.camera(owner, LAT, LON, shared_with=[world.agency])
        pairs.append((owner.id, subscriber))
    db.session.commit()
    return pairs


def test_redis_down_requests_are_recorded_and_notified_once_it_is_back(make_app, private_redis, push, caplog):
    app = make_app(REDIS_URL=private_redis.url, VAPID_PRIVATE_KEY=vapid_pem())
    with app.app_context():
        push.app_public_key = webpush.public_key(app)
        push.allow_in(app)
        world = factories.World.build()
        owners = push_owners(world, push, 5)
        officer = signed_in(app, world.officer)

        private_redis.stop()
        with caplog.at_level(logging.WARNING):
            response = officer.post("/api/requests", json=request_body())
        assert response.status_code == 201, response.get_data(as_text=True)
        assert response.json["asks_total"] == 5
        assert "the scheduler will queue them again" in caplog.text
        assert statuses() == [DeliveryStatus.PENDING] * 5
        assert push.received == []

        private_redis.start()  # the same port, empty: whatever was queued before is gone
        # A minute later the tick finds the rows nobody queued and hands them over.
        report = tick(utcnow() + ENQUEUE_GRACE + timedelta(seconds=1))
        assert report["enqueued"] == 5
        work_burst(app)

        assert statuses() == [DeliveryStatus.SENT] * 5
        asks = {a.owner_id: a.id for a in db.session.scalars(sa.select(Ask))}
        for owner_id, subscriber in owners:
            (message,) = push.messages_for(subscriber)  # exactly once, about this owner's ask
            assert message.payload["ask_id"] == asks[owner_id]
        # Nothing left for the next tick to send again.
        assert tick(utcnow() + ENQUEUE_GRACE + timedelta(seconds=2))["enqueued"] == 0
        assert len(push.received) == 5
        db.session.remove()


# --- 2. a worker killed in a 1,000-owner fan-out -----------------------------------------------------

OWNERS = 1000


def many_push_owners(push, count: int) -> list:
    """``count`` owners with one subscription each, inserted in bulk (the fan-out is the subject here)."""
    from app.accounts.models import Role, User
    from app.notifications.models import PushSubscription

    subscribers = [push.new_subscriber() for _ in range(count)]
    password_hash = factories._password_hash(factories.PASSWORD)
    tag = random.randrange(10**9)
    db.session.execute(sa.insert(User), [{"role": Role.OWNER, "email": f"fanout{tag}-{i}@example.org",
                                          "password_hash": password_hash} for i in range(count)])
    ids = db.session.scalars(sa.select(User.id).where(User.email.like(f"fanout{tag}-%")).order_by(User.id)).all()
    rows = []
    for user_id, subscriber in zip(ids, subscribers, strict=True):
        keys = subscriber.subscription()["keys"]
        rows.append({"user_id": user_id, "endpoint": subscriber.endpoint, "p256dh": keys["p256dh"],
                     "auth": keys["auth"]})
    db.session.execute(sa.insert(PushSubscription), rows)
    db.session.commit()
    return [db.session.get(User, i) for i in ids], subscribers


@pytest.mark.parametrize("database", ["postgresql" if PG_URL or CI else "sqlite"], indirect=True)
def test_a_worker_killed_in_a_1000_owner_fan_out(make_app, redis_url, push, request):
    """On PostgreSQL (what RQ deployments use; SQLite when no PostgreSQL is given: a file
    database in WAL mode serves the separate worker process as well). Once, not per
    database: the fan-out is the subject, and it keeps the file well under a minute."""
    name = f"test-faults-{random.randrange(16**10):010x}"
    config = {"REDIS_URL": redis_url, "JOB_QUEUE_NAME": name, "VAPID_PRIVATE_KEY": vapid_pem(),
              "NOTIFICATION_CLAIM_TIMEOUT_SECONDS": 1}
    app = make_app(**config)
    request.addfinalizer(lambda: _delete_queue(app, name))
    with app.app_context():
        push.app_public_key = webpush.public_key(app)
        push.allow_in(app)
        world = factories.World.build()
        owners, subscribers = many_push_owners(push, OWNERS)
        _, asks, ids = scenario.issue(world.agency, owners)
        assert len(ids) == OWNERS
        dispatcher.enqueue(ids)  # jobs of NOTIFICATION_JOB_SIZE ids

        worker_config = {**config, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "PUSH_TEST_ORIGINS": push.origin}
        process = subprocess.Popen([sys.executable, "-m", "tests.peers.rq_worker", "--config",
                                    json.dumps(worker_config)], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert push.wait_for(OWNERS // 4, timeout=30), "the first worker never got going"
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        at_kill = Counter(statuses())
        in_flight = at_kill[DeliveryStatus.SENDING]
        # Killed mid-delivery: some sent, some claimed and on the wire, the rest not started.
        assert 0 < at_kill[DeliveryStatus.SENT] < OWNERS and in_flight > 0, at_kill

        time.sleep(1.1)  # past the claim timeout: what the dead worker held is given back and queued
        # A POST the dead worker was writing arrives cut short; the push service refuses it
        # (a real one would never see an incomplete request). Nothing else may fail.
        assert len(push.errors) <= in_flight and all("content header" in e for e in push.errors), push.errors[:3]
        push.errors.clear()
        report = tick()
        assert report["recovered"] == report["enqueued"] == in_flight
        # A minute later the tick also queues the rows of the job the dead worker had taken
        # off the queue but not claimed yet; the jobs it never took still wait in Redis.
        late = tick(utcnow() + ENQUEUE_GRACE + timedelta(seconds=1))
        assert in_flight <= late["enqueued"] <= in_flight + at_kill[DeliveryStatus.PENDING]
        work_burst(app)  # a new worker finishes

        assert statuses() == [DeliveryStatus.SENT] * OWNERS
        received: dict[str, list] = {}
        for message in push.received:
            received.setdefault(message.subscriber, []).append(message)
        resent = 0
        for ask, subscriber in zip(asks, subscribers, strict=True):
            messages = received.get(subscriber.id, [])
            # One message about this owner's ask, always under the same Topic...
            assert {(m.topic, m.payload["ask_id"]) for m in messages} == {(f"ask{ask.id}-request", ask.id)}
            # ...sent twice only if the dead worker had it on the wire (sent, the outcome not
            # yet written); the second copy replaces the first at the push service (RFC 8030
            # Topic), so the device shows it once.
            assert len(messages) <= 2 and len(push.mailbox(subscriber)) == 1
            resent += len(messages) - 1
        assert resent <= in_flight, (resent, in_flight)
        db.session.expire_all()
        assert set(db.session.scalars(sa.select(Ask.state))) == {AskState.NOTIFIED}
        db.session.remove()


def _delete_queue(app, name: str) -> None:
    connection = queue.redis_connection(app)
    try:
        keys = list(connection.scan_iter(match=f"rq:*{name}*"))
        if keys:
            connection.delete(*keys)
    finally:
        connection.close()


# --- 3. PostgreSQL restarted during traffic ---------------------------------------------------------

# PostgreSQL's only: pg_test_url skips these without TEST_DATABASE_URL (fails them when CI is set).
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_restart_during_traffic_is_503_then_recovers(make_app, pg_test_url):
    target = sa.engine.make_url(pg_test_url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        via_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        app = make_app(SQLALCHEMY_DATABASE_URI=via_proxy)
        with app.app_context():
            world = factories.World.build()
            factories.camera(world.owner, LAT, LON, shared_with=[world.agency])
            db.session.commit()
            with live_server(app) as base:
                _traffic_through_an_outage(base, world, proxy)
            db.session.remove()


def _signin(base: str, user, *, steps_ahead: int = 0) -> requests.Session:
    """A session of ``user``'s; staff send their authenticator's code of the step ``steps_ahead``
    of now (the server takes the previous, current and next step's codes, each once and in order)."""
    session = requests.Session()
    body = {"login": user.email, "password": factories.PASSWORD}
    if user.totp_secret:
        body["code"] = pyotp.TOTP(user.totp_secret).at(time.time() + 30 * steps_ahead)
    r = session.post(f"{base}/api/auth/signin", json=body)
    assert r.status_code == 200, r.text
    return session


def _traffic_through_an_outage(base: str, world, proxy: TcpProxy) -> None:
    calls = [
        (world.owner, "GET", "/api/asks", None),
        (world.officer, "GET", "/api/requests", None),
        (world.officer, "POST", "/api/requests", "body"),
        (world.owner, "GET", "/api/cameras", None),
    ]
    results: list[tuple[float, float, str, str, int, str]] = []
    stop = threading.Event()

    def client(session, method, path, payload) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            json_body = request_body(case_number=f"FAULT-{threading.get_ident() % 1000}-{number}") if payload else None
            started = time.monotonic()
            try:
                r = session.request(method, f"{base}{path}", json=json_body, timeout=15)
                results.append((started, time.monotonic(), method, path, r.status_code, r.text))
            except requests.RequestException as exc:  # the app itself must never drop a connection
                results.append((started, time.monotonic(), method, path, 0, repr(exc)))
            time.sleep(0.01)
        session.close()

    # The officer signs in three times within a minute: with the codes of the previous,
    # the current and (at the end) the next 30-second step, each newer than the last.
    signins = {}
    sessions = []
    for user, *_ in calls:
        signins[user.id] = signins.get(user.id, -2) + 1
        sessions.append(_signin(base, user, steps_ahead=signins[user.id]))
    threads = [threading.Thread(target=client, args=(session, method, path, payload), daemon=True)
               for session, (_user, method, path, payload) in zip(sessions, calls, strict=True)]
    officer = world.officer
    db.session.close()  # the test holds no connection of its own across the outage
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10  # every kind of call has gone through at least once
    while len({(r[2], r[3]) for r in results if r[4] in (200, 201)}) < len(calls) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    cut_at = time.monotonic()
    proxy.cut()  # PostgreSQL goes down: every connection closed, new ones refused
    time.sleep(1.0)
    proxy.restore()
    restored_at = time.monotonic()
    time.sleep(1.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=20)

    statuses_seen = Counter(status for *_, status, _ in results)
    assert set(statuses_seen) <= {200, 201, 503}, statuses_seen
    before = [r for r in results if r[1] < cut_at]
    during = [r for r in results if cut_at < r[0] and r[1] < restored_at]
    after = [r for r in results if r[0] > restored_at]
    assert before and all(r[4] in (200, 201) for r in before), Counter(r[4] for r in before)
    # Down: each call answered at once with the one error shape, nothing from inside.
    assert during and all(r[4] == 503 for r in during), Counter(r[4] for r in during)
    for *_, status, text in results:
        if status == 503:
            error = json.loads(text)["error"]
            assert error["status"] == 503 and error["code"] == "unavailable" and error["message"], text
            assert set(error) <= {"status", "code", "message"}, text
            assert "Traceback" not in text and "psycopg" not in text and "SELECT" not in text, text
    # Back: the same app process serves again, writes included.
    assert after and all(r[4] in (200, 201) for r in after), Counter(r[4] for r in after)
    assert {(r[2], r[3]) for r in after} == {(m, p) for _, m, p, _ in calls}
    r = _signin(base, officer, steps_ahead=1).post(f"{base}/api/requests", json=request_body(case_number="AFTER-1"))
    assert r.status_code == 201 and r.json()["asks_total"] == 1, r.text
    assert proxy.accepted > 1  # new connections were made through the restored proxy


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_connection_lost_inside_a_request_does_not_poison_the_next(make_app, pg_test_url):
    """Deterministic: two requests hold a transaction open while the database goes away."""
    target = sa.engine.make_url(pg_test_url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        app = make_app(SQLALCHEMY_DATABASE_URI=target.set(host="127.0.0.1", port=proxy.port)
                       .render_as_string(hide_password=False))
        entered, resume = threading.Barrier(3), threading.Event()

        # Instruments for this test only: a query, a pause the test controls, then (or not) another query.
        @app.get("/_faults/query-wait-query")
        def query_wait_query():
            db.session.execute(sa.text("SELECT 1"))
            entered.wait(5)
            resume.wait(5)
            return {"n": db.session.execute(sa.text("SELECT count(*) FROM users")).scalar_one()}

        @app.get("/_faults/query-wait")
        def query_wait():
            n = db.session.execute(sa.text("SELECT count(*) FROM users")).scalar_one()
            entered.wait(5)
            resume.wait(5)
            return {"n": n}  # the connection is lost before the closing rollback

        with app.app_context():
            login = factories.World.build().owner.email
            db.session.close()
        answers = {}
        with live_server(app) as base:
            def call(path):
                r = requests.get(f"{base}{path}", timeout=15)
                answers[path] = (r.status_code, r.text)

            threads = [threading.Thread(target=call, args=(p,)) for p in ("/_faults/query-wait-query",
                                                                         "/_faults/query-wait")]
            for thread in threads:
                thread.start()
            entered.wait(5)
            proxy.cut()
            resume.set()
            for thread in threads:
                thread.join(15)
            proxy.restore()
            status, text = answers["/_faults/query-wait-query"]
            assert status == 503 and json.loads(text)["error"]["code"] == "unavailable", text
            # Its work was done; losing the connection while closing the session is no error to the client.
            assert answers["/_faults/query-wait"][0] == 200, answers["/_faults/query-wait"]
            # The same process goes on: pooled connections were dropped, new ones made.
            for _ in range(4):
                assert requests.get(f"{base}/api/health", timeout=5).json()["database"] == "ok"
            r = requests.post(f"{base}/api/auth/signin", json={"login": login, "password": factories.PASSWORD})
            assert r.status_code == 200, r.text


# --- 4. 100 uploads interrupted and resumed -----------------------------------------------------------

UPLOADS = 100


def _drop_mid_patch(base: str, location: str, cookie: str, data: bytes, offset: int, cut: int) -> None:
    """Send a PATCH from ``offset`` declaring the rest of the file, then vanish after ``cut`` bytes."""
    port = int(base.rsplit(":", 1)[1])
    path = location.removeprefix(base)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                f"Upload-Offset: {offset}\r\nContent-Type: {OFFSET_TYPE}\r\n"
                f"Content-Length: {len(data) - offset}\r\nCookie: {cookie}\r\n\r\n")
        sock.sendall(head.encode() + data[offset:cut])


def _offset(base: str, location: str, headers: dict, at_least: int) -> int:
    """The server's offset (HEAD), once the dropped PATCH has been taken in."""
    deadline = time.monotonic() + 10
    while True:
        r = requests.head(location, headers={**headers, "Tus-Resumable": "1.0.0"}, timeout=5)
        if r.status_code == 200 and int(r.headers["Upload-Offset"]) >= at_least:
            return int(r.headers["Upload-Offset"])
        assert time.monotonic() < deadline, (r.status_code, r.headers)
        time.sleep(0.01)


def test_100_uploads_interrupted_at_random_offsets_resume_byte_identical(app, world, as_owner, tmp_path):
    app.config["CLIP_STORAGE_ROOT"] = str(tmp_path / "clips")
    rng = random.Random(6)
    asks = [approved_ask(world) for _ in range(UPLOADS)]
    cookie = session_cookie(as_owner)
    officer = signed_in(app, world.officer)
    files = {}
    with live_server(app) as base:
        for number, ask in enumerate(asks):
            data = mp4_bytes(rng.randint(4 * 1024, 48 * 1024), seed=number)
            chunk = rng.choice([4096, 16 * 1024, 32 * 1024])
            stop = rng.randint(2, len(data) - 1)
            first = tus_client.TusClient(f"{base}/api/uploads", headers=cookie).uploader(
                file_stream=KeptOpenBytes(data), chunk_size=chunk, metadata={"ask_id": str(ask.id),
                                                                             "filename": f"clip{number}.mp4"},
                upload_checksum=number % 3 == 0)
            if number % 2 == 0:
                first.upload(stop_at=stop)  # the app stops between chunks
                expected = stop
            else:
                # The network drops in the middle of a PATCH body: what arrived is kept.
                first.upload(stop_at=rng.randint(1, stop - 1))
                _drop_mid_patch(base, first.url, cookie["Cookie"], data, first.offset, stop)
                expected = stop
            assert _offset(base, first.url, cookie, expected) == expected
            # Later, a new client (the app restarted on the phone) continues from the server's offset.
            resumed = tus_client.TusClient(f"{base}/api/uploads", headers=cookie).uploader(
                file_stream=KeptOpenBytes(data), chunk_size=rng.choice([16 * 1024, 64 * 1024]), url=first.url,
                upload_checksum=True)
            assert resumed.offset == expected
            resumed.upload()
            files[ask.id] = data

    for ask in asks:
        data = files[ask.id]
        (clip,) = as_owner.get(f"/api/asks/{ask.id}/clips").json
        assert clip["sha256"] == sha256(data) and clip["size"] == len(data), clip
        stored = officer.get(f"/api/clips/{clip['id']}/download")
        assert stored.status_code == 200 and stored.data == data
