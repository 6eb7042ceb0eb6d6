"""E-mail as a channel for asks, end to end against a real SMTP server (aiosmtpd, STARTTLS).

An owner with only a verified e-mail address gets the request by e-mail (multipart,
threaded under one Message-ID per ask, one-click unsubscribe); the links only show a page
(mail scanners open them all), whose buttons answer by POST; unsubscribing is honoured
when a message is queued and again when it is sent; a refusal is recorded per message
and retried or not as the server's code says; without MAIL_URL the e-mail stays readable
in the outbox.
"""
from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app import links
from app.accounts.models import User
from app.audit.models import AuditEvent
from app.db import utcnow
from app.extensions import db
from app.footage import asks
from app.footage.models import Ask, AskState, RequestStatus
from app.jobs import tick
from app.notifications import ask_mail, delivery, mail, messages, webpush
from app.notifications.models import Channel, DeliveryStatus, MailMessage, Notification, NotificationKind
from tests.conftest import signed_in
from tests.peers import scenario
from tests.peers.push_service import LocalPushService
from tests.peers.smtp_server import LocalSmtpServer

BASE = "http://porchlight.test"


@pytest.fixture
def smtp(app, tmp_path):
    with LocalSmtpServer(tmp_path) as server:
        app.config.update(server.settings())
        mail.close(app)
        yield server
        mail.close(app)  # the mailer's idle connections, before the server goes


def email_owner(**kw):
    return scenario.owner(notify_email=True, **kw)


def notifications(ask_id=None):
    db.session.expire_all()
    query = sa.select(Notification).order_by(Notification.id)
    if ask_id is not None:
        query = query.where(Notification.ask_id == ask_id)
    return list(db.session.scalars(query))


def ask_state(ask) -> AskState:
    db.session.expire_all()
    return db.session.get(Ask, ask.id).state


def audit_actions(prefix: str) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like(f"{prefix}%"))
                                   .order_by(AuditEvent.seq)))


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.images = 0

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs)["href"])
        self.images += tag == "img"


def html_links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def path_of(url: str) -> str:
    assert url.startswith(BASE), url
    return url.removeprefix(BASE)


def deliver_due(now=None):
    now = now or utcnow()
    db.session.expire_all()
    report = delivery.deliver(delivery.due_ids(now, timedelta(0)), now=now)
    db.session.expire_all()
    return report


# --- delivery ------------------------------------------------------------------------------------

def test_an_email_only_owner_gets_the_request(app, world, smtp):
    owner = email_owner()
    request, (ask,), ids = scenario.issue(world.agency, [owner], case_number="2026-00777",
                                          incident_type="hit_and_run")
    assert [(n.channel, n.kind) for n in notifications()] == [(Channel.EMAIL, NotificationKind.REQUEST)]
    report = delivery.deliver(ids)
    assert report.sent == 1
    [received] = smtp.wait_for(1)
    message = received.message
    assert received.recipients == (owner.email,)
    assert message["Subject"] == f'Riverside Police Department asks for footage from your camera "{ask.camera_label}"'
    assert message.get_content_type() == "multipart/alternative"
    window = messages.window_text(request, world.agency)
    deadline = messages.local_time_text(request.expires_at, world.agency)
    for part in (received.text, received.html):
        for fact in ("Riverside Police Department", "hit and run", "2026-00777", window, ask.camera_label, deadline):
            assert fact in part, fact
    # Accessible HTML: a language, a heading, real text, no images, links that say where they go.
    html = received.html
    assert '<html lang="en">' in html and "<h1" in html and "<img" not in html
    assert "Open this request to answer it" in html and "Stop e-mails about requests" in html
    # Threading: the ask's own Message-ID, stable and derivable.
    assert message["Message-ID"] == ask_mail.thread_id(ask.id)
    assert re.fullmatch(rf"<ask-{ask.id}\.[0-9a-f]{{20}}@riverside\.example\.gov>", message["Message-ID"])
    assert message["In-Reply-To"] is None
    # RFC 8058 one-click unsubscribe.
    assert re.fullmatch(rf"<{BASE}/unsubscribe/[^>]+>", message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    (n,) = notifications()
    assert (n.status, n.attempts) == (DeliveryStatus.SENT, 1)
    row = db.session.scalar(sa.select(MailMessage))
    assert (row.notification_id, row.status, row.user_id, row.message_id) == (n.id, "sent", owner.id,
                                                                              message["Message-ID"])
    assert ask_state(ask) == AskState.NOTIFIED
    # A second run has nothing to send (the claim is idempotent).
    assert delivery.deliver(ids).claimed == 0 and len(smtp.received) == 1


def test_an_unverified_or_switched_off_address_gets_nothing(app, world, smtp):
    unverified = email_owner(email_verified_at=None)
    switched_off = scenario.owner(notify_email=False)
    _, _, ids = scenario.issue(world.agency, [unverified, switched_off])
    assert ids == [] and notifications() == []


def test_a_batch_reuses_one_connection(app, world, smtp):
    owners = [email_owner() for _ in range(6)]
    _, _, ids = scenario.issue(world.agency, owners)
    app.config["NOTIFICATION_CONCURRENCY"] = 1
    assert delivery.deliver(ids).sent == 6
    smtp.wait_for(6)
    assert smtp.connections == 1


def test_reminders_and_escalations_thread_under_the_ask(app, world, smtp):
    t0 = utcnow()
    owner = email_owner()
    request, (ask,), ids = scenario.issue(world.agency, [owner], now=t0)
    delivery.deliver(ids, now=t0)
    later = request.expires_at - timedelta(hours=11)
    assert tick(later)["reminders"] == 1
    deliver_due(later)
    first, reminder = smtp.wait_for(2)
    assert reminder.message["Subject"].startswith("Reminder: Riverside Police Department asks")
    assert reminder.message["Message-ID"] != first.message["Message-ID"]
    assert reminder.message["In-Reply-To"] == first.message["Message-ID"] == ask_mail.thread_id(ask.id)
    assert reminder.message["References"] == first.message["Message-ID"]
    assert {(n.channel, n.kind) for n in notifications()} == {(Channel.EMAIL, NotificationKind.REQUEST),
                                                              (Channel.EMAIL, NotificationKind.REMINDER)}


def test_an_unanswered_push_escalates_to_email_when_sms_cannot_reach(app, world, smtp):
    with LocalPushService(webpush.public_key(app)) as push:
        push.allow_in(app)
        t0 = utcnow()
        owner = email_owner(subscription=push.new_subscriber().subscription())
        _, (ask,), ids = scenario.issue(world.agency, [owner], now=t0)
        assert [n.channel for n in notifications()] == [Channel.PUSH]  # push first
        delivery.deliver(ids, now=t0)
        later = t0 + timedelta(minutes=60)
        assert tick(later)["escalations"] == 1
        deliver_due(later)
        [received] = smtp.wait_for(1)
        # The first e-mail about the ask opens its thread.
        assert received.message["Message-ID"] == ask_mail.thread_id(ask.id)
        assert [(n.channel, n.kind, n.status) for n in notifications()] == [
            (Channel.PUSH, NotificationKind.REQUEST, DeliveryStatus.SENT),
            (Channel.EMAIL, NotificationKind.ESCALATION, DeliveryStatus.SENT)]


def test_a_permanent_refusal_fails_at_once_and_is_recorded(app, world, smtp):
    owner = email_owner()
    smtp.refuse(owner.email, 550)
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    report = delivery.deliver(ids)
    assert (report.sent, report.failed, report.retried) == (0, 1, 0)
    (n,) = notifications()
    assert n.status == DeliveryStatus.FAILED and "550" in n.last_error
    row = db.session.scalar(sa.select(MailMessage))
    assert (row.notification_id, row.status) == (n.id, "failed") and "550" in row.error
    assert ask_state(ask) == AskState.QUEUED  # nobody was reached: the officer sees it waiting


def test_a_temporary_refusal_is_retried_with_backoff(app, world, smtp):
    owner = email_owner()
    smtp.refuse(owner.email, 451)
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    t0 = utcnow()
    assert delivery.deliver(ids, now=t0).retried == 1
    (n,) = notifications()
    assert (n.status, n.attempts, n.due_at) == (DeliveryStatus.PENDING, 1, t0 + timedelta(seconds=30))
    row = db.session.scalar(sa.select(MailMessage))
    assert row.status == "failed" and "451" in row.error
    smtp.refusals.clear()
    assert delivery.deliver(ids, now=t0 + timedelta(seconds=30)).sent == 1
    [received] = smtp.wait_for(1)
    (n,) = notifications()
    assert (n.status, n.attempts) == (DeliveryStatus.SENT, 2)
    # One row per message, whatever the attempts; the retry kept the Message-ID.
    (row,) = db.session.scalars(sa.select(MailMessage)).all()
    assert row.status == "sent" and row.error is None and row.message_id == received.message["Message-ID"]
    assert ask_state(ask) == AskState.NOTIFIED


def test_an_unreachable_server_is_retried(app, world, smtp):
    owner = email_owner()
    _, _, ids = scenario.issue(world.agency, [owner])
    app.config["MAIL_URL"] = smtp.url.rsplit(":", 1)[0] + ":9"  # nothing listens there
    mail.close(app)
    assert delivery.deliver(ids).retried == 1
    assert "could not be reached" in notifications()[0].last_error


def test_outbox_mode_keeps_the_email_readable(app, world, runner):
    assert not app.config.get("MAIL_URL")
    owner = email_owner()
    _, (ask,), ids = scenario.issue(world.agency, [owner])
    assert delivery.deliver(ids).sent == 1
    row = db.session.scalar(sa.select(MailMessage))
    assert row.status == "outbox" and row.message_id == ask_mail.thread_id(ask.id)
    assert ask_state(ask) == AskState.NOTIFIED
    result = runner.invoke(args=["mail", "outbox"])
    assert result.exit_code == 0
    assert f"to {owner.email}: Riverside Police Department asks for footage" in result.output
    assert f"{BASE}/m/" in result.output  # the answer page's link, to follow


# --- the links and the answer page ------------------------------------------------------------------

def sent_email(world, smtp, owner=None, **kw):
    owner = owner or email_owner()
    before = len(smtp.received)
    request, (ask,), ids = scenario.issue(world.agency, [owner], **kw)
    delivery.deliver(ids)
    return request, ask, smtp.wait_for(before + 1)[-1]


def test_prefetching_every_link_changes_nothing(app, world, smtp):
    _, ask, received = sent_email(world, smtp)
    urls = set(html_links(received.html)) | set(re.findall(r"https?://\S+", received.text))
    urls.add(received.message["List-Unsubscribe"].strip("<>"))
    assert len(urls) >= 6
    before = audit_actions("")
    client = app.test_client()
    for url in urls:
        for method in (client.get, client.head):
            r = method(path_of(url))
            r.close()
            assert r.status_code == 200, (url, r.status_code)
    assert ask_state(ask) == AskState.NOTIFIED
    db.session.expire_all()
    assert db.session.get(User, ask.owner_id).notify_email is True
    assert audit_actions("") == before


def test_the_page_shows_the_ask_and_a_post_answers_it(app, world, smtp):
    request, ask, received = sent_email(world, smtp, case_number="2026-00900")
    page_url = html_links(received.html)[0]
    client = app.test_client()
    r = client.get(path_of(page_url))
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-store"
    assert "2026-00900" in html and ask.camera_label in html
    assert messages.window_text(request, world.agency) in html
    forms = re.findall(r'<form method="post" action="(/m/[^"]+)">\s*<button type="submit" name="answer" '
                       r'value="(\w+)"', html)
    # Every answer an ask takes, in the order offered: Approve, No footage, Decline.
    assert [action for _, action in forms] == ["approve", "no_footage", "decline"]
    assert set(ask_mail.ANSWER_WORDS) == set(asks.ACTIONS)
    # The CSP the page gets allows it: its own stylesheets, its own form targets, no inline code.
    csp = r.headers["Content-Security-Policy"]
    assert "form-action 'self'" in csp and "style=" not in html and "<script" not in html

    approve = dict((a, p) for p, a in forms)["approve"]
    r = client.post(approve, data={"answer": "approve"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "you approved this request" in html and "Upload your clip" in html
    assert re.search(rf'href="{BASE}/u/[^"]+"', html)
    db.session.expire_all()
    answered = db.session.get(Ask, ask.id)
    assert (answered.state, answered.answered_via) == (AskState.APPROVED, "email")
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ask.approved"))
    assert event.details["via"] == "email" and event.actor_id == ask.owner_id

    # Pressing it again is harmless; another answer now is refused plainly.
    assert client.post(approve).status_code == 200
    decline = dict((a, p) for p, a in forms)["decline"]
    r = client.post(decline)
    assert r.status_code == 409 and "You approved this request" in r.get_data(as_text=True)
    assert ask_state(ask) == AskState.APPROVED
    # The page's own link now says where it stands.
    r = client.get(path_of(page_url))
    assert r.status_code == 200 and "You approved this request" in r.get_data(as_text=True)


@pytest.mark.parametrize("action, state, words", [("decline", AskState.DECLINED, "you declined this request"),
                                                   ("no_footage", AskState.NO_FOOTAGE, "you have no footage")])
def test_declining_or_no_footage_from_the_page(app, world, smtp, action, state, words):
    _, ask, received = sent_email(world, smtp)
    client = app.test_client()
    html = client.get(path_of(html_links(received.html)[0])).get_data(as_text=True)
    path = next(p for p, a in re.findall(r'action="(/m/[^"]+)">\s*<button[^>]*value="(\w+)"', html) if a == action)
    r = client.post(path)
    assert r.status_code == 200 and words in r.get_data(as_text=True)
    assert ask_state(ask) == state


def test_an_answer_link_puts_its_answer_first(app, world, smtp):
    _, _, received = sent_email(world, smtp)
    links_ = html_links(received.html)
    decline_link = next(link for link in links_[1:4] if "Decline" in received.html.split(link)[1][:40])
    html = app.test_client().get(path_of(decline_link)).get_data(as_text=True)
    first = re.search(r'<button type="submit" name="answer" value="(\w+)" class="primary"', html)
    assert first.group(1) == "decline"


def test_withdrawn_expired_and_forged_links_say_so(app, world, smtp):
    request, ask, received = sent_email(world, smtp)
    page = path_of(html_links(received.html)[0])
    client = app.test_client()
    html = client.get(page).get_data(as_text=True)
    approve = re.search(r'action="(/m/[^"]+)">\s*<button[^>]*value="approve"', html).group(1)

    request.status = RequestStatus.CANCELLED
    db.session.commit()
    r = client.get(page)
    assert r.status_code == 410 and "This request was withdrawn" in r.get_data(as_text=True)
    assert "<form" not in r.get_data(as_text=True)
    r = client.post(approve)
    assert r.status_code == 410 and "This request was cancelled" in r.get_data(as_text=True)
    # API clients get the one JSON error shape.
    r = client.post(approve, headers={"Accept": "application/json"})
    assert r.status_code == 410 and r.json["error"]["code"] == "request_closed"

    request.status = RequestStatus.ACTIVE
    request.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    r = client.get(page)
    assert r.status_code == 410 and "This request has expired" in r.get_data(as_text=True)
    r = client.post(approve)
    assert r.status_code == 410 and "expired" in r.get_data(as_text=True)
    assert ask_state(ask) == AskState.NOTIFIED

    forged = page[:-3] + ("AAA" if not page.endswith("AAA") else "BBB")
    r = client.get(forged)
    assert r.status_code == 403 and "This link can’t be used" in r.get_data(as_text=True)
    r = client.post(forged, headers={"Accept": "application/json"})
    assert r.status_code == 403 and r.json["error"]["code"] == "invalid_token"
    # The page's own ("view") link never answers.
    r = client.post(page)
    assert r.status_code == 403


def test_the_answer_page_passes_the_csp_with_a_signed_in_browser(app, world, smtp):
    """A signed-in owner pressing the button: same-origin POST, so the CSRF guard lets it through."""
    owner = email_owner()
    _, ask, received = sent_email(world, smtp, owner=owner)
    client = signed_in(app, owner)
    html = client.get(path_of(html_links(received.html)[0])).get_data(as_text=True)
    approve = re.search(r'action="(/m/[^"]+)">\s*<button[^>]*value="approve"', html).group(1)
    r = client.post(approve, headers={"Origin": BASE, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200
    assert ask_state(ask) == AskState.APPROVED


# --- unsubscribe -------------------------------------------------------------------------------------

def test_one_click_unsubscribe_is_honoured_at_queue_and_send_time(app, world, smtp):
    waiting = email_owner()
    _, (queued_ask,), queued_ids = scenario.issue(world.agency, [waiting])  # queued, not sent yet
    reader = email_owner()
    _, ask, received = sent_email(world, smtp, owner=reader)
    unsubscribe = path_of(received.message["List-Unsubscribe"].strip("<>"))
    client = app.test_client()

    # GET shows a page with a button, and changes nothing.
    r = client.get(unsubscribe)
    assert r.status_code == 200 and "Stop e-mails about requests" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, reader.id).notify_email is True

    # The mail client's one-click POST (RFC 8058), without cookies.
    r = client.post(unsubscribe, data="List-Unsubscribe=One-Click",
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200 and "<strong>off</strong>" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, reader.id).notify_email is False
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "email.unsubscribed"))
    assert event.details == {"via": "one_click"} and event.target_id == str(reader.id)
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert audit_actions("email.") == ["email.unsubscribed"]  # once

    # Queue time: a new request records nothing for this owner.
    _, _, ids = scenario.issue(world.agency, [db.session.get(User, reader.id)])
    assert ids == []

    # Send time: the other owner's message was queued before their click; it is skipped.
    client.post(path_of(links.unsubscribe_link(waiting.id)), data={"List-Unsubscribe": "One-Click"})
    report = delivery.deliver(queued_ids)
    assert (report.sent, report.skipped) == (0, 1)
    (n,) = notifications(queued_ask.id)
    assert n.status == DeliveryStatus.SKIPPED and "email" in n.last_error
    assert len(smtp.received) == 1

    # Back on in Settings.
    r = signed_in(app, db.session.get(User, reader.id)).patch("/api/auth/me", json={"notify_email": True})
    assert r.status_code == 200 and r.json["notify_email"] is True
    _, _, ids = scenario.issue(world.agency, [db.session.get(User, reader.id)])
    assert len(ids) == 1


def test_a_forged_unsubscribe_link_is_refused(app, world, client):
    r = client.get("/unsubscribe/not-a-token")
    assert r.status_code == 404 and "not valid" in r.get_data(as_text=True)
    r = client.post("/unsubscribe/not-a-token", data={"List-Unsubscribe": "One-Click"},
                    headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json["error"]["code"] == "invalid_link"


# --- a worker that died mid-send ---------------------------------------------------------------------

def test_a_worker_that_died_resends_with_the_same_message_id_and_never_twice_once_sent(app, world, smtp):
    t0 = utcnow()
    dying, done = email_owner(), email_owner()
    _, (ask, done_ask), ids = scenario.issue(world.agency, [dying, done], now=t0)
    assert delivery.claim(ids, t0) == ids
    rows = {n.ask_id: n for n in notifications()}
    # The worker had written both write-ahead rows; one message went out and was recorded
    # as sent, then the process died before recording the deliveries.
    db.session.add_all([
        MailMessage(user_id=dying.id, notification_id=rows[ask.id].id, to_address=dying.email, subject="s",
                    body_text="t", message_id=ask_mail.thread_id(ask.id), status="sending"),
        MailMessage(user_id=done.id, notification_id=rows[done_ask.id].id, to_address=done.email, subject="s",
                    body_text="t", message_id=ask_mail.thread_id(done_ask.id), status="sent")])
    db.session.commit()
    later = t0 + timedelta(minutes=10)
    assert delivery.recover_stale(later) == 2
    report = delivery.deliver(ids, now=later)
    assert report.sent == 2
    [received] = smtp.wait_for(1)
    assert received.recipients == (dying.email,) and received.message["Message-ID"] == ask_mail.thread_id(ask.id)
    assert {n.status for n in notifications()} == {DeliveryStatus.SENT}
    assert db.session.scalar(sa.select(sa.func.count(MailMessage.id))) == 2


def test_the_page_links_are_kept_out_of_the_logs():
    from app.logs import redact

    assert redact('"GET /m/eyJhc2siOjF9.abc HTTP/1.1" 200') == '"GET /m/[redacted] HTTP/1.1" 200'
    assert redact('"POST /unsubscribe/eyJ1c2VyIjoxfQ.x HTTP/1.1" 200') == '"POST /unsubscribe/[redacted] HTTP/1.1" 200'
