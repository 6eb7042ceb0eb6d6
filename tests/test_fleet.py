"""Two app nodes behind nginx, as docs/DEPLOY.md deploys them (tests/fleet_support.py builds it).

One test walks what a fleet must hold: nginx passes the client's address and scheme and
refuses plain HTTP; a session started through nginx works on either node and ends on both;
an officer's request made on node A fans out to 1,000 owners through the RQ workers of both
nodes, each owner's phone getting exactly one push; an owner answers it on node B, starts
the clip's upload on A, resumes it on B and finishes it through nginx with the right
SHA-256; sign-in limits count across the nodes; and the audit chain verifies.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.conftest import scratch_pg_database, skip_or_fail
from tests.fleet_support import CENTRE, NGINX, OFFICER, PASSWORD, PUBLIC, PUSH_HOST, Fleet, wait_until
from tests.upload_support import OFFSET_TYPE, TUS, metadata, mp4_bytes

OWNERS = 1000
MIB = 1024 * 1024


@pytest.fixture
def database():
    # The fleet's PostgreSQL database is its own (scratch_pg_database): run once.
    return "postgresql"


@pytest.fixture
def fleet(tmp_path, redis_url):
    if not os.access(NGINX, os.X_OK):
        skip_or_fail(f"the fleet test needs Debian's nginx at {NGINX}: run 'make nginx' as root (make test does)")
    with scratch_pg_database("fleet") as url, Fleet(tmp_path, url, redis_url, OWNERS) as running:
        yield running


def _error(response) -> str:
    return response.json()["error"]["code"]


def _libpq(url: str) -> str:
    """The libpq form of a SQLAlchemy URL, as pg_dump and DATABASE_URL take it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _request_body(case: str) -> dict:
    end = datetime.now(UTC) - timedelta(hours=2)
    return {"latitude": CENTRE[0], "longitude": CENTRE[1], "radius_m": 400,
            "window_start": (end - timedelta(hours=1)).isoformat(), "window_end": end.isoformat(),
            "case_number": case, "incident_type": "burglary",
            "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
            "summary": "A burglary on this block; did your camera see anyone between these times?"}


@pytest.mark.slow
@pytest.mark.fleet
def test_two_nodes_behind_nginx_share_sessions_queue_uploads_and_limits(fleet):
    a, b = fleet.nodes
    timings = {}

    # --- nginx: TLS ends there, the app sees the client's address and https -----------------------
    health = requests.get(fleet.https + "/api/health", verify=str(fleet.cert), timeout=10)
    assert health.status_code == 200
    assert "max-age" in health.headers["Strict-Transport-Security"]  # the app saw X-Forwarded-Proto: https
    plain = requests.get(f"http://127.0.0.1:{fleet.http_port}/api/health?x=1", allow_redirects=False, timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"] == f"{PUBLIC}/api/health?x=1"

    officer = fleet.browser("127.0.0.11")
    signed_in = officer.post("/api/auth/signin", json={"login": OFFICER, "password": PASSWORD,
                                                       "code": fleet.officer_totp.now()},
                             headers={"X-Forwarded-For": "203.0.113.99"})  # a client's claim nginx appends to
    assert signed_in.status_code == 200, signed_in.text
    owner = fleet.browser("127.0.0.12")
    assert owner.post("/api/auth/signin", json={"login": "owner0@example.org", "password": PASSWORD}).ok
    assert sorted(fleet.sql("SELECT ip_address FROM user_sessions")) == [("127.0.0.11",), ("127.0.0.12",)]

    # --- a session started through nginx holds on each node ------------------------------------------
    for node in (a, b):
        me = owner.get("/api/auth/me", via=node)
        assert me.status_code == 200 and me.json()["email"] == "owner0@example.org", (node.name, me.text)

    # --- a request made on A fans out through both nodes' workers, once per owner --------------------
    started, started_wall = time.monotonic(), time.time()
    made = officer.post("/api/requests", json=_request_body("26-FLEET-1"), via=a)
    timings["post_ms"] = round((time.monotonic() - started) * 1000)
    assert made.status_code == 201 and made.json()["status"] == "active", made.text
    request_id = made.json()["id"]
    assert fleet.push.wait_for(OWNERS, timeout=60), f"{len(fleet.push.received)} of {OWNERS} pushes arrived"
    timings["delivered_s"] = round(max(r.at for r in fleet.push.received) - started_wall, 2)
    per_subscriber = Counter(r.subscriber for r in fleet.push.received)
    assert len(per_subscriber) == OWNERS and set(per_subscriber.values()) == {1}, per_subscriber.most_common(3)
    assert not fleet.push.errors, fleet.push.errors[:3]
    assert {r.payload.get("request_id") for r in fleet.push.received} <= {request_id, None}
    assert set(fleet.proxy.tunnels) == {f"{PUSH_HOST}:443"} and not fleet.proxy.refused
    wait_until(lambda: fleet.sql("SELECT status, count(*) FROM notifications GROUP BY status") == [("sent", OWNERS)],
               "every notification marked sent")
    jobs = {node.name: node.delivery_jobs() for node in (a, b)}
    assert all(jobs.values()), f"a node's worker took no delivery job: {jobs}"
    assert sum(sum(counts) for counts in jobs.values()) == OWNERS, jobs

    # --- ... and is answered on B ----------------------------------------------------------------------
    inbox = owner.get("/api/asks", via=b)
    assert inbox.status_code == 200, inbox.text
    [ask] = [row for row in inbox.json() if row["request_id"] == request_id]
    approved = owner.post(f"/api/asks/{ask['id']}/approve", via=b)
    assert approved.status_code == 200 and approved.json()["state"] == "approved", approved.text

    # --- the clip: started on A, resumed on B, finished through nginx ------------------------------
    clip = mp4_bytes(13 * MIB, seed=16)
    created = owner.post("/api/uploads", via=a, headers={
        **TUS, "Upload-Length": str(len(clip)),
        "Upload-Metadata": metadata(ask_id=str(ask["id"]), filename="porch.mp4")})
    assert created.status_code == 201, created.text
    location = created.headers["Location"]

    def patch(offset: int, end: int, via=None):
        return owner.patch(location, data=clip[offset:end], via=via,
                           headers={**TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE})

    assert patch(0, 3 * MIB, via=a).status_code == 204
    head = owner.head(location, via=b, headers=TUS)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(3 * MIB), head.headers
    assert patch(3 * MIB, 6 * MIB, via=b).status_code == 204
    # 7 MiB in one PATCH through nginx: over its default 1 MiB body limit, streamed to a node unbuffered.
    last = patch(6 * MIB, len(clip))
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(len(clip)), last.text

    [listed] = officer.get(f"/api/requests/{request_id}/clips").json()
    assert listed["status"] == "complete" and listed["sha256"] == hashlib.sha256(clip).hexdigest(), listed
    part = officer.get(f"/api/clips/{listed['id']}/content", via=b, headers={"Range": "bytes=5000000-5999999"})
    assert part.status_code == 206 and part.content == clip[5_000_000:6_000_000]
    whole = officer.get(f"/api/clips/{listed['id']}/download")  # through nginx, from either node
    assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == listed["sha256"]
    # In the shared bucket: the master alone, assembled from the parts the two nodes and nginx sent.
    assert list(fleet.objects().values()) == [len(clip)]

    # --- signing out on one node ends the session on both -------------------------------------------
    copied = owner.cookies.get("porchlight_session")
    assert owner.post("/api/auth/signout", via=b).status_code == 204
    for via in (a, b, None):
        thief = fleet.browser("127.0.0.15")  # a new one each time: a refused cookie is deleted
        thief.cookies.set("porchlight_session", copied, domain="127.0.0.1")
        assert _error(thief.get("/api/auth/me", via=via)) == "session_revoked"

    # --- sign-in limits count across the nodes (Redis), from the address nginx reports --------------
    guesses = [fleet.browser("127.0.0.13").post("/api/auth/signin", via=(a, b)[n % 2],
                                                headers={"X-Forwarded-For": fleet.client_address(n + 1)},
                                                json={"login": "owner1@example.org", "password": "a guess"})
               .status_code for n in range(11)]
    assert guesses == [401] * 10 + [429], guesses  # RATELIMIT_SIGN_IN_LOGIN: 10 per 10 minutes per login
    guesses = [fleet.browser("127.0.0.14").post("/api/auth/signin", via=(a, b)[n % 2],
                                                headers={"X-Forwarded-For": fleet.client_address(200)},
                                                json={"login": f"owner{n + 2}@example.org", "password": "a guess"})
               .status_code for n in range(11)]
    assert guesses == [401] * 10 + [429], guesses  # RATELIMIT_SIGN_IN: 10 per minute per address

    # --- every node wrote to one audit chain, which verifies ------------------------------------------
    verify = fleet.flask("audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # --- nginx sent requests to both nodes and logged no credential ---------------------------------
    assert requests.get(fleet.https + "/u/a-secret-upload-token?token=another", verify=str(fleet.cert),
                        timeout=10).status_code in (200, 404)
    # nginx writes a request's log line when it finalizes the request, which can be just after the client
    # has read the whole response: wait for the line rather than read the file at once.
    access_log = fleet.tmp / "nginx" / "logs" / "porchlight.access.log"
    wait_until(lambda: '"GET /u/' in access_log.read_text(), "nginx logs the upload-link request",
               timeout=10, log=access_log)
    access = access_log.read_text()
    assert {f"127.0.0.1:{node.port}" for node in (a, b)} <= set(re.findall(r"127\.0\.0\.1:\d+$", access, re.M))
    assert '"GET /u/[redacted]"' in access and "secret" not in access and "token=" not in access

    # --- a node going away (a restart, a crash) costs no request: nginx sends them to the other --------
    b.web.terminate()
    b.web.wait(timeout=30)
    answers = [requests.get(fleet.https + "/api/health", verify=str(fleet.cert), timeout=10).status_code
               for _ in range(4)]
    answers.append(officer.get(f"/api/requests/{request_id}").status_code)
    assert answers == [200] * 5, answers

    # --- the backup of docs/DEPLOY.md restores into a database whose chain verifies ----------------
    dump = fleet.tmp / "porchlight.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _libpq(fleet.database_url)],
                   check=True, capture_output=True, timeout=120)
    with scratch_pg_database("restored") as restored:
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={_libpq(restored)}", str(dump)], check=True,
                       capture_output=True, timeout=120)
        again = fleet.flask("audit", "verify", DATABASE_URL=restored)
        assert again.returncode == 0 and again.stdout == verify.stdout, again.stdout + again.stderr
    print(f"fleet: {OWNERS} pushes, POST {timings['post_ms']} ms, last push {timings['delivered_s']} s after it; "
          f"delivery jobs per node {jobs}; set-up {fleet.timings}")


def test_the_deploy_guide_names_every_file_in_deploy_and_enables_only_units_there():
    root = Path(__file__).resolve().parent.parent
    guide = (root / "docs" / "DEPLOY.md").read_text()
    files = [p for p in (root / "deploy").rglob("*") if p.is_file()]
    assert len(files) >= 5
    unnamed = [p.relative_to(root).as_posix() for p in files
               if p.relative_to(root).as_posix() not in guide and p.name not in guide]
    assert not unnamed, f"docs/DEPLOY.md does not name {unnamed}"
    enabled = {word for line in re.findall(r"systemctl enable --now ([\w@ -]+)", guide) for word in line.split()}
    assert {"porchlight-web", "porchlight-scheduler", "porchlight-worker@notifications"} <= enabled
    for unit in enabled:
        template = re.sub(r"@.+$", "@", unit)
        assert (root / "deploy" / "systemd" / f"{template}.service").is_file(), unit
