"""SMS through the real twilio Client against a local Twilio API (reached through the
TWILIO_API_BASE_URL setting, as a provider would be), webhooks signed with RequestValidator,
STOP/START/HELP, answers by text, phone verification, the outbox mode, and the texts
themselves: what they say, their segments, and the samples docs/DEPLOY.md registers."""
from __future__ import annotations

import logging
import re
import socketserver
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from app.accounts.models import User
from app.agencies.models import Agency
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.footage.answers import CHOOSE, SmsAnswer
from app.footage.models import Ask, AskState, FootageRequest
from app.notifications import delivery, messages, service, sms
from app.notifications.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationKind,
    PhoneVerification,
    SmsDirection,
    SmsMessage,
    SmsOptOut,
)
from tests import factories
from tests.conftest import production_app, signed_in
from tests.peers import scenario
from tests.peers.twilio_api import AUTH_TOKEN, FROM_NUMBER, LocalTwilio, signed_post

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://porchlight.test"
INBOUND = f"{BASE}/api/sms/inbound"


@pytest.fixture
def sworld(sms_app):
    return factories.World.build()


def sms_owner(**kw):
    return scenario.owner(phone=scenario.phone_number(), **kw)


def inbound(client, sender, body, sid=None, **extra):
    params = {"MessageSid": sid or f"SM{utcnow().timestamp():.6f}".replace(".", ""), "AccountSid": "AC1",
              "From": sender, "To": FROM_NUMBER, "Body": body, "NumMedia": "0", **extra}
    return signed_post(client, INBOUND, params)


def reply_text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("application/xml")
    root = ElementTree.fromstring(response.get_data())
    assert root.tag == "Response"
    found = [m.text for m in root.iter("Message")]
    return found[0] if found else ""


# --- outbound ----------------------------------------------------------------------------------------

def test_request_sms_goes_through_the_twilio_client(sms_app, sworld, twilio):
    owner = sms_owner()
    request, (ask,), ids = scenario.issue(sworld.agency, [owner], case_number="2026-00777")
    assert [n.channel for n in db.session.scalars(sa.select(Notification))] == [Channel.SMS]
    report = delivery.deliver(ids)
    assert report.sent == 1
    (message,) = twilio.messages
    assert message.to == owner.phone and message.from_ == FROM_NUMBER
    assert "Riverside Police Department" in message.body and "2026-00777" in message.body
    assert f"YES {ask.reply_code}" in message.body and f"NO {ask.reply_code}" in message.body
    assert f"{BASE}/?ask={ask.id}" in message.body
    row = db.session.scalar(sa.select(SmsMessage))
    assert row.provider_sid == message.sid and row.status == "queued"
    assert message.status_callback == f"{BASE}/api/sms/status-callback?m={row.id}"
    db.session.expire_all()
    assert db.session.get(Ask, ask.id).state == AskState.NOTIFIED
    assert sms_app.test_client().get("/api/sms/status").json["mode"] == "twilio"


def test_outbox_mode_sends_nothing_and_says_so(app, world, client, caplog):
    owner = sms_owner()
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    with caplog.at_level(logging.WARNING, logger="app.notifications.sms"):
        assert delivery.deliver(ids).sent == 1
    row = db.session.scalar(sa.select(SmsMessage))
    assert row.status == "outbox" and row.provider_sid is None and f"YES {ask.reply_code}" in row.body
    assert any("SMS NOT SENT" in r.getMessage() and "outbox" in r.getMessage() for r in caplog.records)
    assert owner.phone not in caplog.text  # masked in the log
    status = client.get("/api/sms/status").json
    assert status["mode"] == "outbox" and status["sending"] is False and "NOT being sent" in status["message"]


def test_twilio_errors_are_retried_and_21610_means_opted_out(sms_app, sworld, twilio):
    owner, stopped = sms_owner(), sms_owner()
    _, (ask,), ids = scenario.issue(sworld.agency, [owner])
    t0 = utcnow()
    twilio.fail_next(500, 20500)
    delivery.deliver(ids, now=t0)
    n = db.session.scalar(sa.select(Notification))
    assert (n.status, n.attempts) == (DeliveryStatus.PENDING, 1) and "Twilio 500" in n.last_error
    assert db.session.scalar(sa.select(SmsMessage.status)) == "failed"
    assert delivery.deliver(ids, now=t0 + timedelta(seconds=30)).sent == 1
    assert len(twilio.to(owner.phone)) == 1
    assert db.session.scalar(sa.select(sa.func.count(SmsMessage.id))) == 1  # the same row, now with a SID

    _, _, ids = scenario.issue(sworld.agency, [stopped])
    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    delivery.deliver(ids)
    db.session.expire_all()
    assert db.session.get(Notification, ids[0]).status == DeliveryStatus.SKIPPED
    assert db.session.get(SmsOptOut, stopped.phone) is not None


# --- the provider's API base URL ---------------------------------------------------------------------

def test_the_twilio_client_sends_to_the_configured_api_base(make_app):
    # A provider's gateway behind a path, the setting given with a trailing slash: the real
    # twilio client posts the message there and looks messages up there.
    with LocalTwilio(prefix="/gateway/twilio") as provider:
        app = make_app(**{**provider.config(), "TWILIO_API_BASE_URL": provider.base_url + "/"})
        assert app.config["TWILIO_API_BASE_URL"] == provider.base_url
        with app.app_context():
            world = factories.World.build()
            owner = sms_owner()
            _, _, ids = scenario.issue(world.agency, [owner])
            assert delivery.deliver(ids).sent == 1
            (message,) = provider.to(owner.phone)
            found = sms.gateway(app).find_sent(owner.phone, message.body, utcnow() - timedelta(minutes=1))
            sms.close(app)
            db.session.remove()
    path = f"/2010-04-01/Accounts/{provider.account_sid}/Messages.json"
    assert provider.requests == [("POST", path), ("GET", path)] and not provider.errors
    assert found is not None and found.sid == message.sid


class ConnectRecorder:
    """An outbound HTTP proxy that writes down where each client wants a tunnel to, and refuses it."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        recorder = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                method, target, _ = self.rfile.readline().decode().split(" ", 2)
                recorder.targets.append(f"{method} {target}")
                self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.one_database
def test_the_default_base_is_twilios_and_an_https_base_replaces_its_host(make_app, monkeypatch):
    # Through an outbound proxy, the host each request is for shows in its CONNECT line.
    proxy = ConnectRecorder()
    for name in ("https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    account = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
               "TWILIO_FROM_NUMBER": FROM_NUMBER}
    try:
        for settings in ({}, {"TWILIO_API_BASE_URL": "https://sms.example.net/twilio"}):
            app = make_app(**account, **settings)
            with pytest.raises(sms.SendError, match="Twilio unreachable: ProxyError"):
                sms.gateway(app).send("+14145550123", "hello")
            sms.close(app)
    finally:
        proxy.close()
    assert make_app().config["TWILIO_API_BASE_URL"] == "https://api.twilio.com"
    assert proxy.targets == ["CONNECT api.twilio.com:443", "CONNECT sms.example.net:443"]


@pytest.mark.one_database
@pytest.mark.parametrize("value", [
    "api.twilio.com", "ftp://api.twilio.com", "https://", "https://AC1:token@api.twilio.com",
    "https://api.twilio.com/?region=ie1", "https://api.twilio.com/#top", "https://api.twilio.com:https",
    " https://api.twilio.com"])
def test_a_malformed_sms_api_base_url_stops_start_up_naming_the_setting(make_app, value):
    with pytest.raises(RuntimeError, match=r"^TWILIO_API_BASE_URL .*e\.g\. TWILIO_API_BASE_URL=https://api\.twilio"):
        make_app(TWILIO_API_BASE_URL=value)


def test_production_calls_the_sms_provider_over_https_except_on_loopback():
    with pytest.raises(RuntimeError, match="^TWILIO_API_BASE_URL must start with https:// in production"):
        production_app(TWILIO_API_BASE_URL="http://sms.example.net")
    local = production_app(TWILIO_API_BASE_URL="http://127.0.0.1:8099/twilio/")
    assert local.config["TWILIO_API_BASE_URL"] == "http://127.0.0.1:8099/twilio"
    assert production_app().config["TWILIO_API_BASE_URL"] == "https://api.twilio.com"


# --- inbound webhook ---------------------------------------------------------------------------------

def test_unsigned_or_forged_webhooks_are_refused(sms_app, sworld):
    client = sms_app.test_client()
    owner = sms_owner()
    scenario.issue(sworld.agency, [owner])
    params = {"MessageSid": "SM1", "From": owner.phone, "To": FROM_NUMBER, "Body": "YES"}
    assert client.post("/api/sms/inbound", data=params).status_code == 403
    forged = RequestValidator("not-the-token").compute_signature(INBOUND, params)
    r = signed_post(client, INBOUND, params, signature=forged)
    assert r.status_code == 403 and r.json["error"]["code"] == "invalid_signature"
    # Signed for other content: the body was changed on the way.
    good = RequestValidator(AUTH_TOKEN).compute_signature(INBOUND, params)
    assert signed_post(client, INBOUND, {**params, "Body": "NO"}, signature=good).status_code == 403
    # Signed for another URL.
    other = RequestValidator(AUTH_TOKEN).compute_signature(f"{BASE}/api/sms/elsewhere", params)
    assert signed_post(client, INBOUND, params, signature=other).status_code == 403
    assert db.session.scalar(sa.select(Ask.state)) == AskState.QUEUED
    assert client.post("/api/sms/status-callback", data={"MessageSid": "SM1",
                                                         "MessageStatus": "delivered"}).status_code == 403


@pytest.mark.one_database
def test_webhooks_are_refused_without_twilio_credentials(app, world, client):
    params = {"MessageSid": "SM1", "From": "+14145550123", "Body": "HELP"}
    assert signed_post(client, INBOUND, params).status_code == 403


@pytest.mark.one_database
@pytest.mark.parametrize("text,state", [
    ("YES {code}", AskState.APPROVED), ("no {code}", AskState.DECLINED), ("None {code}", AskState.NO_FOOTAGE),
    ("NO FOOTAGE {code}", AskState.NO_FOOTAGE), ("yes", AskState.APPROVED)])
def test_owner_answers_by_sms(sms_app, sworld, text, state):
    owner = sms_owner()
    _, (ask,), _ = scenario.issue(sworld.agency, [owner])
    reply = reply_text(inbound(sms_app.test_client(), owner.phone, text.format(code=ask.reply_code)))
    db.session.expire_all()
    ask = db.session.get(Ask, ask.id)
    assert ask.state == state and ask.answered_via == "sms"
    assert ask.reply_code in reply
    if state == AskState.APPROVED:
        assert reply.startswith("Thank you. Upload your clip") and BASE in reply
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == f"ask.{state.value}"))
    assert event.details["via"] == "sms"
    inbound_row = db.session.scalar(sa.select(SmsMessage).where(SmsMessage.direction == SmsDirection.INBOUND))
    assert inbound_row.user_id == owner.id and inbound_row.status == "received"


def _open_ask(agency, owner, *, label: str, case: str, start: datetime):
    """An open ask of ``owner`` about ``agency``'s request for the hour from ``start``."""
    request = scenario.request(agency, case_number=case, window_start=start, window_end=start + timedelta(hours=1))
    ask = scenario.ask(request, owner, label=label)
    db.session.commit()
    return ask


DEC_4_21H_CHICAGO = datetime(2025, 12, 5, 3, 0, tzinfo=UTC)


def test_a_bare_answer_with_several_open_asks_tells_them_apart(sms_app, sworld):
    owner = sms_owner()
    first = _open_ask(sworld.agency, owner, label="Gate", case="26-0412", start=DEC_4_21H_CHICAGO)
    second = _open_ask(sworld.agency, owner, label="Gate", case="26-0415", start=DEC_4_21H_CHICAGO + timedelta(hours=5))
    client = sms_app.test_client()
    # Each ask by its code, case, camera and window in the agency's time (Chicago), newest first.
    listed = ("{w} {b} for case 26-0415, camera Gate, Dec 5 02:00-03:00; "
              "{w} {a} for case 26-0412, camera Gate, Dec 4 21:00-22:00.")
    for text, word in (("YES", "YES"), ("y", "YES"), ("no", "NO"), ("None", "NONE"), ("no footage", "NONE")):
        reply = reply_text(inbound(client, owner.phone, text))
        assert reply == "2 requests are open. Reply " + listed.format(w=word, a=first.reply_code, b=second.reply_code)
        assert messages.sms_segments(reply) == 1
    assert db.session.scalars(sa.select(Ask.state)).all() == [AskState.QUEUED, AskState.QUEUED]

    reply = reply_text(inbound(client, owner.phone, "YES 0000"))
    assert reply == "No open request has code 0000. Reply " + listed.format(w="YES", a=first.reply_code,
                                                                              b=second.reply_code)
    reply = reply_text(inbound(client, owner.phone, f"no {second.reply_code}"))
    assert reply == f"Thank you; you declined request {second.reply_code}. Nothing is shared."
    db.session.expire_all()
    assert db.session.get(Ask, second.id).state == AskState.DECLINED
    reply = reply_text(inbound(client, owner.phone, f"YES {second.reply_code}"))
    assert reply == f"No open request has code {second.reply_code}. Reply YES {first.reply_code} for case 26-0412, " \
                    "camera Gate, Dec 4 21:00-22:00."  # already answered: no longer open
    assert db.session.get(Ask, second.id).state == AskState.DECLINED
    assert db.session.get(Ask, first.id).state == AskState.QUEUED


def test_asks_of_several_agencies_are_told_apart_by_agency_in_each_zone(sms_app, sworld):
    owner = sms_owner()
    eastern = factories.agency("Shorewood Police Department", timezone="America/New_York")
    riverside = _open_ask(sworld.agency, owner, label="Porch", case="26-0412", start=DEC_4_21H_CHICAGO)
    shorewood = _open_ask(eastern, owner, label="Porch", case="26-0412", start=DEC_4_21H_CHICAGO)
    reply = reply_text(inbound(sms_app.test_client(), owner.phone, "NONE"))
    assert reply == (f"2 requests are open. Reply NONE {shorewood.reply_code} for Shorewood Police Department case "
                     f"26-0412, camera Porch, Dec 4 22:00-23:00; NONE {riverside.reply_code} for Riverside Police "
                     "Department case 26-0412, camera Porch, Dec 4 21:00-22:00.")
    assert messages.sms_segments(reply) <= 2


def test_many_open_asks_list_what_fits_in_two_segments_and_point_to_the_app(sms_app, sworld):
    owner = sms_owner()
    asks = [_open_ask(sworld.agency, owner, label=f"Back yard camera {i}", case=f"2026-{i:05d}",
                      start=DEC_4_21H_CHICAGO + timedelta(hours=i)) for i in range(7)]
    reply = reply_text(inbound(sms_app.test_client(), owner.phone, "YES"))
    codes = re.findall(r"YES (\d{4}) for case", reply)
    assert reply.startswith("7 requests are open. Reply YES ")
    assert 1 < len(codes) < 7 and codes == [a.reply_code for a in reversed(asks)][:len(codes)]  # the newest first
    assert reply.endswith(f"; {7 - len(codes)} more in the app: {BASE}/#/inbox")
    assert messages.sms_segments(reply) == 2


def test_labels_outside_gsm7_cost_room_but_the_answer_still_fits(sms_app, sworld):
    owner = sms_owner()
    # A phone's keyboard typed the apostrophe: it becomes ' and the text stays GSM-7.
    typed = _open_ask(sworld.agency, owner, label="Joe\u2019s gate \u2013 east", case="26-0001",
                      start=DEC_4_21H_CHICAGO)
    reply = reply_text(inbound(sms_app.test_client(), owner.phone, "YES 9999"))
    assert f"YES {typed.reply_code} for case 26-0001, camera Joe's gate - east," in reply
    assert messages.sms_segments(reply) == 1
    # A letter outside GSM-7 makes the whole text UCS-2 (67 characters a part). One such ask
    # takes three segments with the link to the rest; both asks fit in three, so both are listed.
    inbound(sms_app.test_client(), owner.phone, f"NO {typed.reply_code}")
    lodz = [_open_ask(sworld.agency, owner, label=f"Brama \u0141\u00f3d\u017a {i}", case=f"26-001{i}",
                      start=DEC_4_21H_CHICAGO) for i in range(2)]
    reply = reply_text(inbound(sms_app.test_client(), owner.phone, "YES"))
    assert all(f"YES {a.reply_code} for case {a.request.case_number}, camera {a.camera_label}," in reply for a in lodz)
    assert "in the app" not in reply and messages.sms_segments(reply) == 3
    # With more of them the rest is counted, within those three segments.
    for i in range(2, 6):
        _open_ask(sworld.agency, owner, label=f"Brama \u0141\u00f3d\u017a {i}", case=f"26-001{i}",
                  start=DEC_4_21H_CHICAGO)
    reply = reply_text(inbound(sms_app.test_client(), owner.phone, "YES"))
    assert reply.startswith("6 requests are open. ") and reply.endswith(f"more in the app: {BASE}/#/inbox")
    assert messages.sms_segments(reply) == 3


def test_help_names_the_owners_agencies_and_how_to_reach_them(sms_app, sworld):
    client = sms_app.test_client()
    owner = sms_owner()
    factories.membership(owner, sworld.agency)
    db.session.commit()
    rules = "To answer a request, reply YES, NO or NONE and its code. Msg & data rates may apply. " \
            "Reply STOP to opt out, START to resume."
    assert reply_text(inbound(client, owner.phone, "HELP")) == (
        f"Porchlight: camera footage requests from Riverside Police Department. {rules} "
        f"Questions: contact the agency or visit {BASE}")
    factories.membership(owner, sworld.other_agency)
    db.session.commit()
    reply = reply_text(inbound(client, owner.phone, "info"))
    assert reply == (f"Porchlight: camera footage requests from Riverside Police Department and Hillcrest Police "
                     f"Department. {rules} Questions: contact the agencies or visit {BASE}")
    assert messages.sms_segments(reply) == 2
    # A number Porchlight does not know: the program and where to read about it.
    assert reply_text(inbound(client, "+14145559999", "help")) == (
        f"Porchlight: a voluntary camera registry of local police agencies. {rules} Info: {BASE}")


def test_replies_from_unknown_numbers_and_gibberish(sms_app, sworld):
    client = sms_app.test_client()
    assert reply_text(inbound(client, "+14145559999", "YES 1234")) == (
        "This number is not linked to a verified Porchlight account.")
    assert reply_text(inbound(client, "+14145559999", "who is this?")) == (
        "Sorry, that was not understood. To answer a request, reply YES, NO or NONE and its code; HELP for help.")
    unverified = scenario.owner(phone=scenario.phone_number(), verified=False)
    scenario.issue(sworld.agency, [unverified])
    assert "not linked" in reply_text(inbound(client, unverified.phone, "YES"))


def test_a_retried_webhook_is_handled_once(sms_app, sworld):
    owner = sms_owner()
    _, (ask,), _ = scenario.issue(sworld.agency, [owner])
    client = sms_app.test_client()
    assert "Upload" in reply_text(inbound(client, owner.phone, "YES", sid="SMdup"))
    assert reply_text(inbound(client, owner.phone, "YES", sid="SMdup")) == ""
    assert db.session.scalar(sa.select(sa.func.count(SmsMessage.id))
                             .where(SmsMessage.direction == SmsDirection.INBOUND)) == 1


def test_stop_stops_messages_until_start(sms_app, sworld, twilio):
    owner = sms_owner()
    client = sms_app.test_client()
    assert reply_text(inbound(client, owner.phone, "STOP")) == ""
    assert db.session.get(SmsOptOut, owner.phone) is not None
    assert service.channels_for([owner.id])[owner.id] == set()

    _, _, ids = scenario.issue(sworld.agency, [owner])
    assert ids == []  # no channel left: nothing recorded
    delivery.deliver(ids)
    assert twilio.messages == []

    # A message recorded before STOP arrived is not sent after it.
    other = sms_owner()
    _, _, ids = scenario.issue(sworld.agency, [other])
    inbound(client, other.phone, "stop")
    delivery.deliver(ids)
    db.session.expire_all()
    assert db.session.get(Notification, ids[0]).status == DeliveryStatus.SKIPPED
    assert twilio.messages == []

    assert "again" in reply_text(inbound(client, owner.phone, "START"))
    assert db.session.get(SmsOptOut, owner.phone) is None
    _, _, ids = scenario.issue(sworld.agency, [owner])
    delivery.deliver(ids)
    assert len(twilio.to(owner.phone)) == 1
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("sms.opt%"))
                                 .order_by(AuditEvent.seq)).all()
    assert actions == ["sms.opted_out", "sms.opted_out", "sms.opted_in"]


def test_start_confirms_the_texts_resume_and_stop_is_left_to_the_provider(sms_app, sworld):
    owner = sms_owner()
    factories.membership(owner, sworld.agency)
    db.session.commit()
    client = sms_app.test_client()
    # The provider confirms STOP itself (and refuses any text to the number after it).
    assert reply_text(inbound(client, owner.phone, "STOP")) == ""
    assert reply_text(inbound(client, owner.phone, "unstop")) == (
        "Porchlight: you will get texts again: camera footage requests from Riverside Police Department. "
        "Msg frequency varies. Msg & data rates may apply. Reply HELP for help, STOP to opt out.")
    assert db.session.get(SmsOptOut, owner.phone) is None
    inbound(client, "+14145559999", "STOP")
    assert reply_text(inbound(client, "+14145559999", "START")) == (
        "Porchlight: you will get texts again: Porchlight messages. Msg frequency varies. Msg & data rates may "
        "apply. Reply HELP for help, STOP to opt out.")


# --- delivery status callbacks -----------------------------------------------------------------------------

def test_status_callbacks_record_delivery(sms_app, sworld, twilio):
    owner = sms_owner()
    _, _, ids = scenario.issue(sworld.agency, [owner])
    delivery.deliver(ids)
    (message,) = twilio.messages
    client = sms_app.test_client()
    callback = message.status_callback
    for status in ("sent", "delivered", "sent"):  # the last one arrives late, out of order
        r = signed_post(client, callback, {"MessageSid": message.sid, "MessageStatus": status, "To": owner.phone})
        assert r.status_code == 204
    db.session.expire_all()
    assert db.session.scalar(sa.select(SmsMessage.status)) == "delivered"
    r = signed_post(client, callback, {"MessageSid": message.sid, "MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert r.status_code == 204
    db.session.expire_all()
    row = db.session.scalar(sa.select(SmsMessage))
    assert (row.status, row.error_code) == ("undelivered", "30003")


def test_a_status_callback_links_a_message_whose_sid_was_not_stored(sms_app, sworld):
    owner = sms_owner()
    row = SmsMessage(user_id=owner.id, direction=SmsDirection.OUTBOUND, to_number=owner.phone, body="x",
                     status="sending")
    db.session.add(row)
    db.session.commit()
    r = signed_post(sms_app.test_client(), f"{BASE}/api/sms/status-callback?m={row.id}",
                    {"MessageSid": "SMlate", "MessageStatus": "sent"})
    assert r.status_code == 204
    db.session.expire_all()
    assert (db.session.get(SmsMessage, row.id).provider_sid, db.session.get(SmsMessage, row.id).status) == (
        "SMlate", "sent")


# --- phone verification --------------------------------------------------------------------------------------

def test_phone_verification_by_texted_code(sms_app, sworld, twilio):
    owner = scenario.owner(phone="+14145550142", verified=False)
    factories.membership(owner, sworld.agency)
    db.session.commit()
    client = signed_in(sms_app, owner)
    r = client.post("/api/auth/phone/verification", json={})
    assert r.status_code == 202, r.json
    assert r.json["delivery"] == "twilio" and r.json["phone"] == owner.phone
    (message,) = twilio.to(owner.phone)
    code = re.search(r"\b(\d{6})\b", message.body).group(1)
    # The code is also the opt-in confirmation: the program, whose texts, how often, rates, HELP and STOP.
    assert message.body == (
        f"Your Porchlight code is {code} (valid 10 minutes; do not share it). Entering it signs this number up for "
        "camera footage requests from Riverside Police Department by text. Msg frequency varies. Msg & data rates "
        "may apply. Reply HELP for help, STOP to opt out.")
    assert messages.sms_segments(message.body) == 2
    stored = db.session.scalar(sa.select(PhoneVerification))
    assert code not in stored.code_hash and len(stored.code_hash) == 64
    assert stored.expires_at - stored.created_at == timedelta(minutes=10)

    wrong = f"{(int(code) + 1) % 10**6:06d}"
    r = client.post("/api/auth/phone/verify", json={"code": wrong})
    assert r.status_code == 422 and "4 tries left" in r.json["error"]["fields"]["code"][0]
    r = client.post("/api/auth/phone/verify", json={"code": code})
    assert r.status_code == 200 and r.json == {"phone": owner.phone, "phone_verified": True}
    db.session.expire_all()
    assert db.session.get(User, owner.id).phone_verified is True
    assert service.channels_for([owner.id])[owner.id] == {Channel.SMS}
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("phone.%"))
                                 .order_by(AuditEvent.seq)).all()
    assert actions == ["phone.verification_sent", "phone.verification_failed", "phone.verified"]
    assert client.post("/api/auth/phone/verification", json={}).json["error"]["code"] == "already_verified"


def test_a_new_number_is_verified_before_it_is_used(sms_app, sworld, twilio):
    owner = scenario.owner()  # signed up with e-mail only
    db.session.commit()
    client = signed_in(sms_app, owner)
    r = client.post("/api/auth/phone/verification", json={"phone": "(414) 555-0177"})
    assert r.status_code == 202 and r.json["phone"] == "+14145550177"
    db.session.expire_all()
    assert db.session.get(User, owner.id).phone is None  # not the account's number until verified
    code = re.search(r"\b(\d{6})\b", twilio.messages[0].body).group(1)
    assert client.post("/api/auth/phone/verify", json={"code": code}).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, owner.id).phone == "+14145550177"


def test_verification_codes_expire_and_guesses_are_limited(sms_app, sworld, twilio):
    owner = scenario.owner(phone="+14145550143", verified=False)
    db.session.commit()
    client = signed_in(sms_app, owner)
    assert client.post("/api/auth/phone/verify", json={"code": "123456"}).json["error"]["code"] == "no_code"
    client.post("/api/auth/phone/verification", json={})
    code = re.search(r"\b(\d{6})\b", twilio.messages[-1].body).group(1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert client.post("/api/auth/phone/verify", json={"code": wrong}).status_code == 422
    r = client.post("/api/auth/phone/verify", json={"code": code})  # right, but too late
    assert r.status_code == 429 and r.json["error"]["code"] == "too_many_attempts"

    client.post("/api/auth/phone/verification", json={})
    code = re.search(r"\b(\d{6})\b", twilio.messages[-1].body).group(1)
    db.session.execute(sa.update(PhoneVerification).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    r = client.post("/api/auth/phone/verify", json={"code": code})
    assert r.status_code == 410 and r.json["error"]["code"] == "code_expired"
    assert client.post("/api/auth/phone/verify", json={"code": "12345"}).status_code == 422

    for _ in range(3):
        assert client.post("/api/auth/phone/verification", json={}).status_code == 202
    r = client.post("/api/auth/phone/verification", json={})
    assert r.status_code == 429  # five codes an hour
    assert 1 <= int(r.headers["Retry-After"]) <= 3600  # when the oldest of them leaves the hour
    db.session.expire_all()
    assert db.session.get(User, owner.id).phone_verified is False


def test_verification_refuses_stopped_numbers_and_keeps_quiet_about_taken_ones(sms_app, sworld, twilio):
    taken = scenario.owner(phone="+14145550144")
    me_ = scenario.owner()
    db.session.add(SmsOptOut(phone="+14145550145"))
    db.session.commit()
    client = signed_in(sms_app, me_)
    # A well-formed request the account's state refuses (no number on file): 409, not 422.
    r = client.post("/api/auth/phone/verification", json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "no_phone"
    assert r.json["error"]["fields"] == {"phone": ["Give the mobile number to verify."]}
    # Any number may be claimed (the first to verify it owns it): the holder is told, the code goes nowhere.
    r = client.post("/api/auth/phone/verification", json={"phone": taken.phone})
    assert r.status_code == 202 and r.json["phone"] == taken.phone
    assert "someone tried to use this number" in twilio.to(taken.phone)[-1].body
    r = client.post("/api/auth/phone/verification", json={"phone": "+14145550145"})
    assert r.status_code == 409 and r.json["error"]["code"] == "sms_opted_out"
    assert signed_in(sms_app, sworld.officer).post("/api/auth/phone/verification", json={}).status_code == 403


def test_verification_in_outbox_mode_says_the_code_was_not_sent(app, world):
    owner = scenario.owner(phone="+14145550146", verified=False)
    db.session.commit()
    r = signed_in(app, owner).post("/api/auth/phone/verification", json={})
    assert r.status_code == 202 and r.json["delivery"] == "outbox" and "NOT being sent" in r.json["message"]
    row = db.session.scalar(sa.select(SmsMessage))
    assert row.status == "outbox" and re.search(r"\b\d{6}\b", row.body)


def test_sms_escalation_and_reminder_kinds_use_distinct_texts(app, world):
    owner = sms_owner()
    request, (ask,), _ = scenario.issue(world.agency, [owner])
    first = messages.sms_text(NotificationKind.REQUEST, ask, request, world.agency)
    reminder = messages.sms_text(NotificationKind.REMINDER, ask, request, world.agency)
    assert first != reminder and reminder.startswith("Porchlight reminder")
    assert messages.sms_segments(first) == messages.sms_segments(reminder) == 2


def test_a_number_twilio_reports_as_stopped_gets_no_code(sms_app, sworld, twilio):
    owner = scenario.owner(phone="+14145550147", verified=False)
    db.session.commit()
    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
    r = signed_in(sms_app, owner).post("/api/auth/phone/verification", json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "sms_opted_out"
    assert db.session.get(SmsOptOut, owner.phone) is not None
    assert db.session.scalar(sa.select(sa.func.count(PhoneVerification.id))) == 0


def test_twilio_down_during_verification_is_a_clear_503(sms_app, sworld, twilio):
    owner = scenario.owner(phone="+14145550148", verified=False)
    db.session.commit()
    twilio.fail_next(503, 20503, "Service unavailable")
    r = signed_in(sms_app, owner).post("/api/auth/phone/verification", json={})
    assert r.status_code == 503 and r.json["error"]["code"] == "sms_unavailable"
    assert db.session.scalar(sa.select(sa.func.count(PhoneVerification.id))) == 0


# --- the texts: segments, the longest ones, the samples an agency registers -----------------------------

def test_segments_are_counted_as_carriers_count_them():
    segments = messages.sms_segments
    assert [segments("a" * n) for n in (1, 160, 161, 306, 307, 459, 460)] == [1, 1, 2, 2, 3, 3, 4]
    assert segments("[" * 80) == 1 and segments("[" * 81) == 2  # GSM-7's extension: two septets each
    assert segments("é" * 160) == 1  # in GSM-7's basic table
    assert [segments("ó" * n) for n in (70, 71, 134, 135)] == [1, 2, 2, 3]  # not in it: UCS-2
    assert segments("a" * 159 + "ó") == 3  # one such character and the whole text is UCS-2
    assert segments("\U0001f6aa" * 35) == 1 and segments("\U0001f6aa" * 36) == 2  # two UTF-16 units each
    typed = messages.sms_plain("Joe\u2019s \u201cgate\u201d \u2013 east\u2026")
    assert typed == 'Joe\'s "gate" - east...' and segments(typed * 5) == 1


PUBLIC = "https://porchlight.example.gov"


def _in_memory_ask(agency: Agency, *, ask_id: int, code: str, label: str, case: str, start: datetime) -> Ask:
    request = FootageRequest(case_number=case, window_start=start, window_end=start + timedelta(hours=1),
                             expires_at=start + timedelta(days=3), agency_id=agency.id)
    request.agency = agency
    ask = Ask(id=ask_id, reply_code=code, camera_label=label)
    ask.request = request
    return ask


@pytest.mark.one_database
def test_the_longest_texts_keep_within_two_segments(make_app):
    with make_app(PUBLIC_BASE_URL=PUBLIC).app_context():
        agency = Agency(id=1, name="Metropolitan Nashville Police Department", timezone="America/Chicago")
        assert len(agency.name) == 40
        # The longest label there may be, a window across midnight, a long case number, a long ask id.
        ask = _in_memory_ask(agency, ask_id=9_999_999, code="4821", label="Front porch camera " * 6 + "end",
                             case="CR-2026-00012345", start=datetime(2025, 12, 5, 5, 30, tzinfo=UTC))
        texts = {kind: messages.sms_text(kind, ask, ask.request, agency) for kind in NotificationKind
                 if kind != NotificationKind.INVITATION}
        assert texts[NotificationKind.REQUEST] == (
            f'Porchlight: {agency.name} asks for footage from "Front porch camera..." (Thu Dec 4 23:30-Fri Dec 5 '
            "00:30 CST), case CR-2026-00012345. Reply YES 4821 to share, NO 4821 to decline, NONE 4821 if you "
            f"have none. Reply STOP to opt out. {PUBLIC}/?ask=9999999")
        # The reminder says until when, and leaves out the days of the week to fit.
        assert "(Dec 4 23:30-Dec 5 00:30 CST), case CR-2026-00012345, until Dec 7 23:30 CST." in (
            texts[NotificationKind.REMINDER])
        names = [agency.name, "Milwaukee County Sheriff's Office Patrol", "Shorewood Village Police Department"]
        texts |= {"help": messages.help_text(names), "start": messages.start_text(names),
                  "code": messages.verification_sms_text("123456", names)}
        many = [_in_memory_ask(agency, ask_id=i, code=f"{1000 + i}", label="Front porch camera " * 6, case=f"{i:016d}",
                               start=datetime(2025, 12, 5, 5, 30, tzinfo=UTC)) for i in range(12)]
        texts["choose"] = messages.open_asks_text("12 requests are open. ", many, "NONE")
        for name, text in texts.items():
            assert messages.sms_segments(text) <= 2, (name, len(text), text)
        # Three long names do not fit: the first is named, the others counted.
        assert f"requests from {agency.name} and 2 other agencies." in texts["help"]
        assert texts["choose"].endswith(f"more in the app: {PUBLIC}/#/inbox")


def sample_texts() -> dict[str, str]:
    """The texts docs/DEPLOY.md gives as the campaign's sample messages, made by the app's own code."""
    agency = Agency(id=1, name="Riverside Police Department", timezone="America/Chicago")
    gate = _in_memory_ask(agency, ask_id=4312, code="7185", label="Gate", case="26-0412",
                          start=datetime(2025, 12, 5, 3, 0, tzinfo=UTC))
    later = _in_memory_ask(agency, ask_id=4398, code="2269", label="Gate", case="26-0415",
                           start=datetime(2025, 12, 5, 8, 0, tzinfo=UTC))
    answer = SmsAnswer(CHOOSE, "approve", open_asks=(gate, later))
    return {"opt-in": messages.verification_sms_text("493021", [agency.name]),
            "request": messages.sms_text(NotificationKind.REQUEST, gate, gate.request, agency),
            "reminder": messages.sms_text(NotificationKind.REMINDER, gate, gate.request, agency),
            "which": messages.sms_answer_text(answer),
            "help": messages.help_text([agency.name]),
            "start": messages.start_text([agency.name])}


@pytest.mark.one_database
def test_the_deploy_guide_gives_the_real_texts_as_the_campaigns_samples(make_app):
    guide = (ROOT / "docs" / "DEPLOY.md").read_text()
    with make_app(PUBLIC_BASE_URL=PUBLIC).app_context():
        samples = sample_texts()
    missing = {name: text for name, text in samples.items() if text not in guide}
    assert not missing, f"docs/DEPLOY.md's SMS samples differ from what the app sends: {missing}"
    assert all(messages.sms_segments(text) <= 2 for text in samples.values())
    # The opt-in's words, as the settings screen shows them where the number is entered.
    screen = (ROOT / "pwa" / "js" / "views" / "account" / "settings.js").read_text()
    statement = re.search(r"const SMS_CONSENT = (.*?);\n", screen, re.S).group(1)
    consent = "".join(re.findall(r'"([^"]*)"', statement))
    assert consent.startswith("Verifying the number signs it up for Porchlight texts") and "Msg & data" in consent
    assert f'"{consent}"' in " ".join(guide.split())
