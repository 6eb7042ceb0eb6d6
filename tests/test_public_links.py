"""Every absolute link comes from PUBLIC_BASE_URL, never from a request's headers.

The attack: a request naming ``Host: evil.example`` (or, behind the proxy, a forged
X-Forwarded-Host / X-Forwarded-Prefix) used to decide the host of the links in SMS,
push messages, enrollment QR codes, the members CSV and the printed sheet. Here
every client names evil.example in all of them, and every link an owner, a
manager or a printer ever gets still starts with the public base URL. Production
refuses to start without one; development (``make run``) uses http://HOST:PORT, the
machine's LAN address for HOST=0.0.0.0, and its CLI output follows the same setting.
"""
from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import socket
from datetime import timedelta
from xml.etree import ElementTree

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from app import links
from app.audit.models import AuditEvent
from app.db import utcnow
from app.enrollment import codes
from app.extensions import db
from app.notifications import webpush
from app.notifications.models import SmsMessage
from tests import factories
from tests.conftest import IsolatedClient, production_app, signed_in
from tests.peers import scenario
from tests.peers.push_service import LocalPushService
from tests.peers.twilio_api import AUTH_TOKEN, FROM_NUMBER, signed_post
from tests.test_districts import GOOD, _decode, _pdf_text, _qr_links, imported

PUBLIC = "https://porchlight.example.gov"
CLIENT_IP = "203.0.113.9"
# What the attacker sends, directly and as if through the proxy.
FORGED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Prefix": "/evil", "X-Forwarded-Proto": "https",
          "X-Forwarded-For": CLIENT_IP}
URL = re.compile(r"https?://[^\s\"'<>]+")

class ForgedHostClient(IsolatedClient):
    """A client whose every request is for ``Host: evil.example`` and carries forged X-Forwarded-* headers."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", "http://evil.example")
        kwargs["headers"] = {**FORGED, **dict(kwargs.get("headers") or {})}
        return super().open(*args, **kwargs)


def forged_app(make_app, **settings):
    app = make_app(PUBLIC_BASE_URL=PUBLIC, TRUSTED_PROXIES=1, **settings)
    app.test_client_class = ForgedHostClient
    return app


def assert_public(text: str, *, at_least: int = 1) -> list[str]:
    """Every URL in ``text`` is on the public base URL, and evil.example is nowhere."""
    found = URL.findall(text)
    assert len(found) >= at_least, text
    assert all(url.startswith(PUBLIC + "/") for url in found), found
    assert "evil" not in text
    return found


# --- production start-up ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, ""])
def test_production_refuses_to_start_without_public_base_url(value):
    with pytest.raises(RuntimeError, match="PUBLIC_BASE_URL must be set in production.*https://"):
        production_app(PUBLIC_BASE_URL=value)


@pytest.mark.parametrize("value", [
    "porchlight.example.gov", "ftp://porchlight.example.gov", "https://", "https:///e/",
    "https://user:secret@porchlight.example.gov", "https://porchlight.example.gov/?from=sms",
    "https://porchlight.example.gov/#top", "https://porchlight.example.gov:http/", " https://porchlight.example.gov",
    "http://porchlight.example.gov",  # plain http: the PWA needs a secure context, upload tokens would travel bare
])
def test_production_refuses_a_malformed_public_base_url(value):
    with pytest.raises(RuntimeError, match="^PUBLIC_BASE_URL .*e.g. PUBLIC_BASE_URL=https://"):
        production_app(PUBLIC_BASE_URL=value)


def test_production_takes_a_well_formed_public_base_url():
    app = production_app(PUBLIC_BASE_URL=PUBLIC + "/")
    assert app.config["PUBLIC_BASE_URL"] == PUBLIC
    with app.app_context():
        assert codes.enrollment_url("ABCD2345") == f"{PUBLIC}/e/ABCD2345"
    # Loopback is a secure context to browsers and never leaves the machine (the load benchmark).
    assert production_app(PUBLIC_BASE_URL="http://127.0.0.1:8000").config["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"


def test_an_unknown_trusted_proxy_header_stops_start_up():
    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_HEADERS.*forwarded"):
        production_app(TRUSTED_PROXIES=1, TRUSTED_PROXY_HEADERS="for,proto,forwarded")


# --- the attack: the owners' SMS, push and upload links -------------------------------------------------

def test_a_forged_host_reaches_no_link_in_the_owners_sms_push_or_upload_link(make_app):
    app = forged_app(make_app, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    with app.app_context(), LocalPushService(webpush.public_key(app)) as push:
        world = factories.World.build()
        device = push.allow_in(app).new_subscriber()
        push_owner = scenario.owner(subscription=device.subscription())
        sms_owner = scenario.owner(phone=scenario.phone_number())
        for owner in (push_owner, sms_owner):
            factories.membership(owner, world.agency)
            factories.camera(owner, shared_with=[world.agency])
        db.session.commit()

        # The first request the app serves names evil.example (the old "last host seen" became every link).
        assert app.test_client().get("/api/health").status_code == 200
        officer = signed_in(app, world.officer)
        start = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
        created = officer.post("/api/requests", json={
            "latitude": 43.0389, "longitude": -87.9065, "radius_m": 300, "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=1)).isoformat(), "case_number": "2026-000411",
            "incident_type": "burglary",
            "legal_basis": "voluntary", "offense_category": "burglary", "affirm_no_prohibited_purpose": True,
            "summary": "Break-in at the corner store."})
        assert created.status_code == 201 and created.json["asks_total"] == 2, created.json

        # The jobs run outside any request, as the worker does.
        db.session.commit()
        delivered = app.test_cli_runner().invoke(args=["jobs", "deliver"])
        assert "sent=2 " in delivered.output, delivered.output
        assert push.wait_for(1)
        (message,) = push.messages_for(device)
        urls = assert_public(json.dumps(message.payload), at_least=3)
        assert {message.payload["url"], *message.payload["actions"].values()} <= set(urls)
        (text,) = db.session.scalars(sa.select(SmsMessage.body).where(SmsMessage.to_number == sms_owner.phone))
        (ask_link,) = assert_public(text)
        assert ask_link.startswith(f"{PUBLIC}/?ask=")

        # The SMS owner answers YES through Twilio's webhook, which signs the public URL it called.
        reply_code = re.search(r"YES (\d{4})", text).group(1)
        form = {"MessageSid": "SM" + "4" * 32, "From": sms_owner.phone, "To": FROM_NUMBER, "Body": f"YES {reply_code}"}
        client = app.test_client()
        assert signed_post(client, "http://evil.example/api/sms/inbound", form).status_code == 403
        answer = signed_post(client, f"{PUBLIC}/api/sms/inbound", form)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        reply = "".join(m.text or "" for m in ElementTree.fromstring(answer.get_data()).iter("Message"))
        (upload_link,) = assert_public(reply)
        assert upload_link.startswith(f"{PUBLIC}/u/")


# --- the attack behind the proxy: enrollment codes, members CSV, printed sheet ---------------------------

@pytest.mark.parametrize("trusted", ["for,proto", "for,proto,host,port,prefix"])
def test_forwarded_host_and_prefix_reach_no_enrollment_link_csv_or_sheet(make_app, trusted):
    app = forged_app(make_app, TRUSTED_PROXY_HEADERS=trusted)
    with app.app_context():
        world = factories.World.build()
        supervisor, manager = signed_in(app, world.supervisor), signed_in(app, world.manager)

        code = supervisor.post("/api/enrollment/codes", json={"label": "Flyers", "kind": "campaign", "max_uses": 5})
        assert code.status_code == 201, code.json
        assert code.json["url"] == f"{PUBLIC}/e/{code.json['code']}"
        # Even a proxy trusted with the prefix moves only the app's own relative paths, never a link.
        assert code.json["qr_png_url"].startswith("/evil/api/" if "prefix" in trusted else "/api/")
        png = supervisor.get(code.json["qr_png_url"].removeprefix("/evil")).data
        assert _decode(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)) == code.json["url"]

        imported(manager, GOOD)
        export = manager.get("/api/district/members.csv").get_data(as_text=True)
        rows = list(csv.DictReader(io.StringIO(export.lstrip("\ufeff"))))
        assert len(rows) == 6 and all(row["enrollment_url"].startswith(f"{PUBLIC}/e/") for row in rows)
        assert_public(export, at_least=6)

        sheet = manager.get("/api/district/invitations.pdf").data
        assert all(link.startswith(f"{PUBLIC}/e/") for link in _qr_links(sheet))
        text = _pdf_text(sheet)
        assert f"{PUBLIC}/e/" in text and "evil" not in text

        # X-Forwarded-For and -Proto are still honoured: the audit has the client's address, HSTS is sent.
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "enrollment_code.issued"))
        assert event.source_ip == CLIENT_IP
        app.config["SESSION_COOKIE_SECURE"] = True
        assert "Strict-Transport-Security" in app.test_client().get("/api/health").headers
        plain = app.test_client().get("/api/health", headers={"X-Forwarded-Proto": "http"})
        assert "Strict-Transport-Security" not in plain.headers


# --- development: make run's HOST and PORT -----------------------------------------------------------------

@pytest.mark.one_database
def test_development_links_follow_host_and_port(make_app):
    app = make_app(PUBLIC_BASE_URL=None, HOST="localhost", PORT=8123)
    with app.app_context():
        assert links.base_url() == "http://localhost:8123"
        assert codes.enrollment_url("ABCD2345") == "http://localhost:8123/e/ABCD2345"
    assert make_app(PUBLIC_BASE_URL="http://192.168.1.23:5000/").config["PUBLIC_BASE_URL"] == "http://192.168.1.23:5000"


def test_the_lan_address_is_a_real_non_loopback_address_when_there_is_one():
    address = links.lan_address()
    assert address is None or not ipaddress.ip_address(address).is_loopback
    if address is not None:  # one of this machine's own addresses: a socket can bind to it
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 0))


@pytest.mark.one_database
def test_a_wildcard_host_without_a_network_falls_back_to_loopback_and_says_so(make_app, monkeypatch, caplog):
    monkeypatch.setattr(links, "lan_address", lambda: None)
    app = make_app(PUBLIC_BASE_URL=None, HOST="0.0.0.0", PORT=8123)
    assert app.config["PUBLIC_BASE_URL"] == "http://127.0.0.1:8123"
    assert "set PUBLIC_BASE_URL" in caplog.text


def test_demo_load_and_sms_receive_print_links_on_the_lan_address(make_app, monkeypatch):
    monkeypatch.setattr(links, "lan_address", lambda: "192.168.1.23")
    app = make_app(PUBLIC_BASE_URL=None, HOST="0.0.0.0", PORT=8123)
    base = "http://192.168.1.23:8123"
    runner = app.test_cli_runner()
    with app.app_context():
        demo = runner.invoke(args=["demo", "load"])
        assert demo.exit_code == 0, demo.output
        link = re.search(r"Enrollment code \S+ \(.*\): (\S+)", demo.output).group(1)
        code = link.rsplit("/", 1)[1]
        assert link == f"{base}/e/{code}"
        assert codes.qr_text(link) in demo.output  # the printed QR code carries the same link
        assert f"API docs: {base}/api/docs" in demo.output

        world = factories.World.build()
        owner = scenario.owner(phone=scenario.phone_number())
        _, (ask,), _ = scenario.issue(world.agency, [owner])
        db.session.commit()
        reply = runner.invoke(args=["sms", "receive", "--from", owner.phone, f"YES {ask.reply_code}"])
        assert reply.exit_code == 0, reply.output
        assert re.search(rf"here: {re.escape(base)}/u/\S+$", reply.output.strip()), reply.output
