"""E-mail over SMTP against a real server (aiosmtpd, STARTTLS or TLS, AUTH), and the outbox.

What the transport (app/notifications/mail.py) must do: speak STARTTLS and refuse a
server without it, implicit TLS for smtps://, log in, check the certificate, send text
with an HTML alternative, reuse connections, tell a permanent refusal from a temporary
one; and what the log (app/notifications/mail_log.py) keeps: every e-mail, sent or in
the outbox, which `flask mail outbox` and /api/mail/status tell about.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.notifications import mail, mail_log
from app.notifications.models import MailMessage
from tests.conftest import production_app
from tests.peers.smtp_server import LocalSmtpServer

pytestmark = pytest.mark.one_database  # the transport and its settings; the log's rows are plain inserts

LETTER = mail.Mail(to="resident@example.org", subject="A request for footage near Rosewood Lane",
                   text="Riverside Police ask for footage.\n\nOpen: https://porchlight.example.gov/#/asks/1",
                   html="<p>Riverside Police ask for footage.</p>")


@pytest.fixture
def smtp(app, tmp_path):
    with LocalSmtpServer(tmp_path) as server:
        yield server
        mail.close(app)  # the mailer's idle connections, before the server goes


def mailer_for(app, server: LocalSmtpServer):
    app.config.update(server.settings())
    mail.close(app)
    return mail.mailer(app)


def test_starttls_login_and_a_multipart_message(app, smtp):
    sent = mailer_for(app, smtp).send(LETTER)
    [received] = smtp.wait_for(1)
    assert sent.status == "sent" and received.message["Message-ID"] == sent.message_id
    assert received.recipients == ("resident@example.org",)
    assert received.envelope_from == "porchlight@riverside.example.gov"
    assert received.message["From"] == "Riverside Police via Porchlight <porchlight@riverside.example.gov>"
    assert received.message["Subject"] == LETTER.subject and received.message["Date"]
    assert received.message.get_content_type() == "multipart/alternative"
    assert "Open: https://porchlight.example.gov/#/asks/1" in received.text
    assert received.html.strip() == "<p>Riverside Police ask for footage.</p>"


LETTERS = [
    LETTER,
    mail.Mail(to="resident@example.org", subject="Une demande – caméra « Porte »", text="Bonjour,\nà bientôt\n",
              html="<p>Caméra</p>"),
    mail.Mail(to="r@example.org", subject="Demande: caméra du jardin " + "très longue " * 12,
              text="line one\n.leading dot\nFrom here\n" + "x" * 200 + "\ttab \n", html=None,
              message_id="<ask-1.abc@riverside.example.gov>", in_reply_to="<ask-1.abc@riverside.example.gov>",
              headers={"List-Unsubscribe": "<https://p.example.gov/unsubscribe/a.b>",
                       "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}),
]


@pytest.mark.parametrize("letter", LETTERS, ids=["ascii", "international", "text-only-threaded"])
def test_the_fast_serialization_reads_as_the_email_package_writes_it(letter):
    import email
    from email import policy

    from_ = "Riverside Police via Porchlight <porchlight@riverside.example.gov>"
    message_id, data = mail.serialize(letter, from_)
    assert all(line.endswith(b"\r") or not line for line in data.split(b"\n")[:-1])
    ours = email.message_from_bytes(data, policy=policy.default)
    theirs = email.message_from_bytes(mail.compose(letter, from_).as_bytes(policy=policy.SMTPUTF8),
                                      policy=policy.default)
    for name in ("From", "To", "Subject", "In-Reply-To", "References", "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert ours[name] == theirs[name], name
    assert ours["Message-ID"] == message_id and (letter.message_id is None or message_id == letter.message_id)
    for kind in (("plain",), ("html",)):
        mine, reference = ours.get_body(kind), theirs.get_body(kind)
        # Line ends: both are CRLF on the wire; the email package adds a final one.
        assert (mine and mine.get_content().replace("\r\n", "\n").rstrip("\n")) == (
            reference and reference.get_content().replace("\r\n", "\n").rstrip("\n"))


def test_a_line_break_in_a_header_is_refused():
    with pytest.raises(ValueError):
        mail.serialize(mail.Mail(to="r@example.org", subject="Hi\r\nBcc: x@evil.example", text="t"), "p@x.example")


def test_implicit_tls(app, tmp_path):
    with LocalSmtpServer(tmp_path, implicit_tls=True) as server:
        assert server.url.startswith("smtps://")
        mailer_for(app, server).send(LETTER)
        assert len(server.wait_for(1)) == 1
        mail.close(app)


def test_no_starttls_no_sending(app, tmp_path):
    """Credentials and texts never travel in the clear: a server without STARTTLS is refused."""
    with LocalSmtpServer(tmp_path, starttls=False) as server:
        with pytest.raises(mail.SendError, match="STARTTLS") as refused:
            mailer_for(app, server).send(LETTER)
        assert refused.value.retry and server.received == []
        mail.close(app)


def test_an_untrusted_certificate_is_refused(app, smtp):
    app.config.update(smtp.settings(), MAIL_TLS_CA_FILE=None)
    mail.close(app)
    with pytest.raises(mail.SendError) as refused:
        mail.mailer(app).send(LETTER)
    assert refused.value.retry and smtp.received == []


def test_a_wrong_password_is_a_refused_login(app, smtp):
    app.config.update(smtp.settings(), MAIL_URL=smtp.url.replace("smtp-test-password", "wrong"))
    mail.close(app)
    with pytest.raises(mail.SendError, match="refused the login"):
        mail.mailer(app).send(LETTER)


def test_permanent_and_temporary_refusals(app, smtp):
    mailer = mailer_for(app, smtp)
    smtp.refuse("gone@example.org", 550)
    smtp.refuse("busy@example.org", 451)
    with pytest.raises(mail.SendError) as gone:
        mailer.send(mail.Mail(to="gone@example.org", subject="x", text="x"))
    with pytest.raises(mail.SendError) as busy:
        mailer.send(mail.Mail(to="busy@example.org", subject="x", text="x"))
    assert (gone.value.code, gone.value.retry) == (550, False)
    assert (busy.value.code, busy.value.retry) == (451, True)
    # The connection survives a refused recipient: the next message goes through it.
    mailer.send(LETTER)
    assert len(smtp.wait_for(1)) == 1


def test_connections_are_reused(app, smtp):
    mailer = mailer_for(app, smtp)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: mailer.send(mail.Mail(to=f"owner{n}@example.org", subject="x", text="x")),
                      range(60)))
    assert len(smtp.wait_for(60)) == 60
    assert smtp.connections <= 4


def test_a_connection_the_server_closed_is_replaced(app, smtp):
    mailer = mailer_for(app, smtp)
    mailer.send(LETTER)
    for connection in mailer._idle:  # the server hung up while it was idle
        connection.sock.close()
    mailer.send(LETTER)
    assert len(smtp.wait_for(2)) == 2


def test_send_now_logs_every_mail_and_the_outbox_keeps_what_is_not_sent(app, world, smtp, runner):
    row = mail_log.send_now(world.owner, LETTER)
    db.session.commit()
    assert row.status == "outbox" and mail.mode(app) == "outbox"
    assert runner.invoke(args=["mail", "outbox"]).output.count("Open: https://porchlight.example.gov/#/asks/1") == 1
    status = app.test_client().get("/api/mail/status").json
    assert status["mode"] == "outbox" and status["sending"] is False and "NOT" in status["message"]

    mailer_for(app, smtp)
    sent = mail_log.send_now(world.owner, LETTER)
    db.session.commit()
    assert sent.status == "sent" and smtp.wait_for(1)[0].message["Message-ID"] == sent.message_id
    assert app.test_client().get("/api/mail/status").json["mode"] == "smtp"
    rows = db.session.scalars(sa.select(MailMessage).order_by(MailMessage.id)).all()
    assert [(r.user_id, r.to_address, r.status) for r in rows] == [
        (world.owner.id, "resident@example.org", "outbox"), (world.owner.id, "resident@example.org", "sent")]


def test_send_now_answers_503_or_422_and_keeps_nothing(app, world, smtp):
    from app.errors import ApiError

    mailer_for(app, smtp)
    smtp.refuse("gone@example.org", 550)
    with pytest.raises(ApiError) as refused:
        mail_log.send_now(world.owner, mail.Mail(to="gone@example.org", subject="x", text="x"))
    assert refused.value.status_code == 422
    smtp.refuse("busy@example.org", 451)
    with pytest.raises(ApiError) as busy:
        mail_log.send_now(world.owner, mail.Mail(to="busy@example.org", subject="x", text="x"))
    assert busy.value.status_code == 503
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailMessage)) == 0


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "smtp://mail.example.org/path",
                                 "smtp://mail.example.org:99999", "smtp://mail.example.org?x=1"])
def test_a_malformed_mail_url_stops_start_up(url):
    with pytest.raises(RuntimeError, match="MAIL_URL") as stopped:
        production_app(MAIL_URL=url, MAIL_FROM="porchlight@example.gov")
    assert "password" not in str(stopped.value) or "user:password" in str(stopped.value)


def test_mail_from_is_required_with_mail_url_and_must_be_one_address():
    with pytest.raises(RuntimeError, match="MAIL_FROM must be set"):
        production_app(MAIL_URL="smtp://mail.example.org:587")
    with pytest.raises(RuntimeError, match="MAIL_FROM must be one e-mail address"):
        production_app(MAIL_URL="smtp://mail.example.org:587", MAIL_FROM="not an address")
    app = production_app(MAIL_URL="smtps://u%40x:p%3Aw@mail.example.org", MAIL_FROM="Porchlight <p@example.gov>")
    found = mail.server(app.config)
    assert (found.implicit_tls, found.host, found.port, found.username, found.password) == (
        True, "mail.example.org", 465, "u@x", "p:w")
    assert "p:w" not in repr(found)


def test_an_unreadable_ca_file_stops_start_up(tmp_path):
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(RuntimeError, match="MAIL_TLS_CA_FILE"):
        production_app(MAIL_URL="smtp://mail.example.org", MAIL_FROM="p@example.gov",
                       MAIL_TLS_CA_FILE=str(tmp_path / "ca.pem"))

