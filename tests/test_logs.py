"""The logs (security round two, finding 7): in outbox mode nothing logged carries an SMS
body, a verification or reply code, a token, a link with a token or a full phone number —
the log names messages by id — and request lines of the development server have their
credential paths and query values redacted."""
from __future__ import annotations

import logging
import re
import threading
import urllib.request
from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from app.db import utcnow
from app.districts.models import DistrictMember
from app.enrollment.models import EnrollmentCode
from app.extensions import db
from app.footage.models import Ask
from app.links import action_path, upload_token
from app.notifications import delivery
from app.notifications.models import Notification, SmsDirection, SmsMessage
from app.notifications.sms import mask_numbers
from tests import factories
from tests.conftest import signed_in
from tests.test_districts import imported
from tests.test_footage import body as request_body

URL = re.compile(r"https?://\S+")


def logged(caplog) -> str:
    """Everything the records say: messages with their arguments, and any traceback."""
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


def outbound() -> list[SmsMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(SmsMessage).where(SmsMessage.direction == SmsDirection.OUTBOUND)
                                   .order_by(SmsMessage.id)))


def deliver_due() -> None:
    db.session.expire_all()
    delivery.deliver(delivery.due_ids(utcnow() + timedelta(seconds=1), timedelta(0)))


def test_outbox_mode_logs_ids_never_bodies_codes_tokens_or_numbers(app, world, as_officer, as_manager, caplog):
    caplog.set_level(logging.DEBUG)
    owner, phone = world.owner, "+14145550187"
    as_owner = signed_in(app, owner)
    factories.camera(owner, shared_with=[world.agency])
    db.session.commit()

    # A phone verification: the code goes to the outbox only.
    r = as_owner.post("/api/auth/phone/verification", json={"phone": phone})
    assert r.status_code == 202 and r.json["delivery"] == "outbox", r.json
    (verification,) = outbound()
    code = re.search(r"\b(\d{6})\b", verification.body)[1]
    assert as_owner.post("/api/auth/phone/verify", json={"code": code}).status_code == 200

    # A footage request fanned out to this owner, who has SMS and no push: reply code and ask link.
    as_owner.patch("/api/auth/me", json={"notify_push": False})
    r = as_officer.post("/api/requests", json=request_body())
    assert r.status_code == 201, r.json
    deliver_due()
    ask = db.session.scalar(sa.select(Ask).where(Ask.owner_id == owner.id))
    request_sms = outbound()[-1]
    assert ask.reply_code in request_sms.body and request_sms.to_number == phone
    notification = db.session.scalar(sa.select(Notification).where(Notification.ask_id == ask.id))

    # YES by SMS (`flask sms receive` in outbox mode): the reply carries the signed upload link.
    result = app.test_cli_runner().invoke(args=["sms", "receive", "--from", phone, f"YES {ask.reply_code}"])
    upload_link = URL.search(result.output)[0]
    assert "/u/" in upload_link, result.output

    # A district's SMS invitations: enrollment codes and their links.
    imported(as_manager)
    assert as_manager.post("/api/district/invitations/sms", json={}).status_code == 202
    deliver_due()
    members = [m for m in db.session.scalars(sa.select(DistrictMember)) if m.sms_sent_at is not None]
    enrollment_codes = [db.session.get(EnrollmentCode, m.enrollment_code_id).code for m in members]
    invitations = db.session.scalars(sa.select(Notification.id).where(Notification.district_member_id.is_not(None)))

    # A masked number keeps its last four digits on purpose; a random four-digit reply code
    # may equal them, which is not a leak of the code.
    text = logged(caplog)
    without_masked_numbers = re.sub(r"\+\d{1,3}\*+\d{4}\b", "+<masked number>", text)
    secrets_ = {"verification code": code, "reply code": ask.reply_code, "upload link": upload_link,
                "upload token": upload_link.rsplit("/", 1)[1], "owner's phone": phone}
    for n, message in enumerate(outbound()):
        secrets_[f"SMS body {n}"] = message.body
        secrets_[f"number {n}"] = message.to_number
        for m, link in enumerate(URL.findall(message.body)):
            secrets_[f"link {m} of SMS {n}"] = link.rstrip(".")
    for n, enrollment_code in enumerate(enrollment_codes):
        secrets_[f"enrollment code {n}"] = enrollment_code
        secrets_[f"enrollment code {n}, printed"] = f"{enrollment_code[:4]}-{enrollment_code[4:]}"
    assert len(outbound()) >= 2 + len(members) and members
    for name, secret in secrets_.items():
        assert not re.search(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", without_masked_numbers), \
            f"the log holds the {name}"

    # What it holds instead: which message, to a masked number.
    assert f"a message for user {owner.id} to +14*****0187 kept in the outbox" in text
    assert f"notification {notification.id} to +14*****0187 kept in the outbox" in text
    for invitation in invitations:
        assert f"notification {invitation} to " in text
    # The operator still reads the outbox itself.
    shown = app.test_cli_runner().invoke(args=["sms", "outbox", "--limit", "50"]).output
    assert code in shown and ask.reply_code in shown and enrollment_codes[0] in shown


def test_twilio_errors_are_logged_with_the_number_masked():
    message = "Twilio 400 (code 21211): The 'To' number +1 (414) 555-0187 is not a valid phone number."
    assert mask_numbers(message) == ("Twilio 400 (code 21211): The 'To' number +14*****0187 is not a valid "
                                     "phone number.")


@pytest.fixture
def dev_server(app):
    """The app under werkzeug's development server, as `make run` serves it."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_request_lines_and_refusals_never_log_credential_paths(app, world, as_owner, dev_server, caplog):
    caplog.set_level(logging.DEBUG)
    from tests.peers import scenario

    _, (ask,), _ = scenario.issue(world.agency, [world.owner])
    token = upload_token(ask)
    code = factories.enrollment_code(world.agency).code
    db.session.commit()
    action = action_path(ask, "approve")
    requests = [("GET", f"/u/{token}"), ("GET", f"/e/{code}"), ("GET", f"/api/enrollment/lookup/{code}"),
                ("GET", f"/api/upload-links/{token}"), ("HEAD", f"/api/uploads/0123456789abcdef?token={token}")]
    for method, path in requests:
        try:
            with urllib.request.urlopen(urllib.request.Request(dev_server + path, method=method), timeout=10) as r:
                r.read()
        except urllib.error.HTTPError as error:
            error.read()
            error.close()
    # A cross-site POST to a notification button's link is refused, and logged.
    r = as_owner.post(action, headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403

    text = logged(caplog)
    for secret in (token, code, action.rsplit("/", 1)[1]):
        assert secret not in text
    for shown in ("GET /u/[redacted] HTTP/1.1", "GET /e/[redacted] HTTP/1.1",
                  "GET /api/enrollment/lookup/[redacted] HTTP/1.1", "GET /api/upload-links/[redacted] HTTP/1.1",
                  "HEAD /api/uploads/0123456789abcdef?token=[redacted] HTTP/1.1",
                  "refused a cross-site POST /api/ask-actions/[redacted]"):
        assert shown in text, text
