"""E-mail over SMTP, or into the local outbox when MAIL_URL is not set.

The only module that speaks SMTP (smtplib) and builds MIME messages (``email``).
``MAIL_URL`` chooses the server and how to reach it:

- ``smtp://user:password@host:587`` — a plain connection upgraded with STARTTLS, which
  is required: a server that does not offer it is refused, credentials never travel in
  the clear;
- ``smtps://user:password@host:465`` — TLS from the first byte (implicit TLS);

user and password are optional (a relay that trusts this machine), percent-encoded
when they hold ``@`` or ``:``. Certificates are checked against the system's CAs, or
MAIL_TLS_CA_FILE for a private CA. ``MAIL_FROM`` is the sender everyone sees.

Without MAIL_URL nothing is sent: the caller keeps the message in the outbox table
(``mail_messages``) and ``flask mail outbox`` shows it; the log names the message by
id, never its text (a verification link in it is a credential).

A sending worker holds a few open connections and reuses them for message after
message (a fan-out of a thousand e-mails opens a handful, not a thousand).
"""
from __future__ import annotations

import binascii
import logging
import secrets
import smtplib
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from typing import Protocol
from urllib.parse import unquote, urlsplit

from flask import Flask

from app.db import utcnow

log = logging.getLogger(__name__)

OUTBOX = "outbox"
SMTP = "smtp"
_MAILER = "porchlight.mailer"
_lock = threading.Lock()
_SCHEMES = {"smtp": 587, "smtps": 465}


# --- settings ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    implicit_tls: bool
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)


def server(config) -> Server | None:
    """The SMTP server MAIL_URL names, or None (outbox mode); RuntimeError when it is malformed."""
    url = config.get("MAIL_URL")
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RuntimeError("MAIL_URL has an invalid port (see docs/DEPLOY.md)") from None
    # The URL carries a password: a message about it never repeats it.
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise RuntimeError("MAIL_URL must look like smtp://user:password@host:587 (STARTTLS) or "
                           "smtps://user:password@host:465 (TLS) (see docs/DEPLOY.md)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise RuntimeError("MAIL_URL takes no path, query or fragment: smtp://user:password@host:port")
    return Server(implicit_tls=parts.scheme == "smtps", host=parts.hostname, port=port or _SCHEMES[parts.scheme],
                  username=unquote(parts.username) if parts.username else None,
                  password=unquote(parts.password) if parts.password else None)


DEFAULT_SENDER = "Porchlight <porchlight@localhost>"


def sender(config) -> str:
    """MAIL_FROM as a header value; RuntimeError when it is not one address, or missing with MAIL_URL."""
    text = config.get("MAIL_FROM")
    if not text:
        if config.get("MAIL_URL"):
            # A server relays only for its own domains, and owners must know who writes to them.
            raise RuntimeError("MAIL_FROM must be set with MAIL_URL: the sender owners see, e.g. "
                               "'Riverside Police via Porchlight <porchlight@riverside.example.gov>'")
        text = DEFAULT_SENDER
    name, address = parseaddr(text)
    if "@" not in address or any(ch in text for ch in "\r\n"):
        raise RuntimeError(f"MAIL_FROM must be one e-mail address, e.g. 'Porchlight <no-reply@example.gov>', "
                           f"not {text!r}")
    return formataddr((name, address))


def check_config(config) -> None:
    """Stop start-up on a malformed MAIL_URL, MAIL_FROM or MAIL_TLS_CA_FILE."""
    found = server(config)
    sender(config)
    if found is not None and config.get("MAIL_TLS_CA_FILE"):
        try:
            ssl.create_default_context(cafile=config["MAIL_TLS_CA_FILE"])
        except (OSError, ssl.SSLError) as exc:
            raise RuntimeError(f"MAIL_TLS_CA_FILE cannot be read as CA certificates: {exc}") from None


def mode(app: Flask) -> str:
    return SMTP if app.config.get("MAIL_URL") else OUTBOX


# --- messages ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    # A stable id lets replies about the same thing thread under it; a new one otherwise.
    message_id: str | None = None
    in_reply_to: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # List-Unsubscribe and the like


def compose(mail: Mail, from_: str) -> EmailMessage:
    """The MIME message: text, and HTML as its alternative when given."""
    message = EmailMessage()
    message["From"] = from_
    message["To"] = Address(addr_spec=mail.to)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = mail.message_id or make_msgid(domain=parseaddr(from_)[1].rpartition("@")[2])
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
        message["References"] = mail.in_reply_to
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def message_id_for(mail: Mail, from_: str) -> str:
    return mail.message_id or make_msgid(domain=parseaddr(from_)[1].rpartition("@")[2])


# Header values longer than this go through the email package, which folds them.
_LONGEST_PLAIN_HEADER = 900


def _quoted_printable(text: str) -> bytes:
    return binascii.b2a_qp(text.encode()).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def serialize(mail: Mail, from_: str) -> tuple[str, bytes]:
    """The message id and the bytes to send (CRLF lines, 7-bit clean).

    A fan-out sends a thousand e-mails from one process, and the email package spends
    over a millisecond building and flattening each; this writes the one shape we send
    (text, or text and HTML as alternatives, quoted-printable UTF-8) directly, in tens of
    microseconds. Anything else - a non-ASCII address or header, a header that would
    need folding, a line break in a header (an injection attempt, which the email
    package refuses) - goes through the email package instead.
    """
    message_id = message_id_for(mail, from_)
    headers = [("From", from_), ("To", mail.to), ("Date", format_datetime(utcnow())), ("Message-ID", message_id)]
    if mail.in_reply_to:
        headers += [("In-Reply-To", mail.in_reply_to), ("References", mail.in_reply_to)]
    headers += list(mail.headers.items())
    subject = mail.subject
    plain = all(value.isascii() and "\r" not in value and "\n" not in value and len(value) < _LONGEST_PLAIN_HEADER
                for _, value in headers)
    if not plain or "\r" in subject or "\n" in subject or len(subject) > _LONGEST_PLAIN_HEADER:
        composed = compose(mail, from_)
        del composed["Message-ID"]
        composed["Message-ID"] = message_id
        international = not (mail.to.isascii() and from_.isascii())
        return message_id, composed.as_bytes(policy=policy.SMTPUTF8 if international else policy.SMTP)
    if not subject.isascii():
        subject = Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
    lines = [f"{name}: {value}" for name, value in headers[:2]] + [f"Subject: {subject}"]
    lines += [f"{name}: {value}" for name, value in headers[2:]]
    lines.append("MIME-Version: 1.0")
    text_part = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    if mail.html is None:
        head = "\r\n".join(lines).encode() + b"\r\n"
        return message_id, head + text_part + _quoted_printable(mail.text) + b"\r\n"
    boundary = f"=_porchlight_{secrets.token_hex(12)}"
    lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
    html_part = b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    separator = f"--{boundary}\r\n".encode()
    return message_id, b"".join([
        "\r\n".join(lines).encode(), b"\r\n\r\n",
        separator, text_part, _quoted_printable(mail.text), b"\r\n",
        separator, html_part, _quoted_printable(mail.html), b"\r\n",
        f"--{boundary}--\r\n".encode()])


@dataclass(frozen=True)
class Sent:
    message_id: str
    status: str  # "sent" or "outbox"


class SendError(Exception):
    """The server refused the message or could not be reached.

    ``retry`` is False for a permanent refusal (5xx: no such mailbox, rejected as spam):
    sending again changes nothing.
    """

    def __init__(self, message: str, *, retry: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.code = code


class Mailer(Protocol):
    mode: str

    def send(self, mail: Mail) -> Sent: ...

    def close(self) -> None: ...


class OutboxMailer:
    """Sends nothing: the caller keeps the message in the outbox table; the log says so."""

    mode = OUTBOX

    def __init__(self, from_: str) -> None:
        self._from = from_

    def send(self, mail: Mail) -> Sent:
        compose(mail, self._from)  # refuses what an SMTP send would (a line break in a header)
        return Sent(message_id=message_id_for(mail, self._from), status=OUTBOX)

    def close(self) -> None:
        pass


class SmtpMailer:
    """Sends through MAIL_URL's server, reusing up to ``pool_size`` open connections across threads."""

    mode = SMTP

    def __init__(self, found: Server, from_: str, *, ca_file: str | None = None, timeout: float = 20,
                 pool_size: int = 4) -> None:
        self._server, self._from = found, from_
        self._envelope_from = parseaddr(from_)[1]
        self._tls = ssl.create_default_context(cafile=ca_file)
        self._timeout = timeout
        self._pool_size = pool_size
        self._idle: list[smtplib.SMTP] = []
        self._idle_lock = threading.Lock()

    def _connect(self) -> smtplib.SMTP:
        s = self._server
        if s.implicit_tls:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=self._timeout, context=self._tls)
        else:
            connection = smtplib.SMTP(s.host, s.port, timeout=self._timeout)
        try:
            if not s.implicit_tls:
                connection.ehlo()
                if not connection.has_extn("starttls"):
                    raise SendError(f"{s.host} does not offer STARTTLS; refusing to send in the clear", retry=True)
                connection.starttls(context=self._tls)
                connection.ehlo()
            if s.username:
                connection.login(s.username, s.password or "")
        except BaseException:
            connection.close()  # a certificate, a login or STARTTLS refused: nothing of it is kept open
            raise
        return connection

    def _borrow(self) -> smtplib.SMTP:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give_back(self, connection: smtplib.SMTP) -> None:
        with self._idle_lock:
            if len(self._idle) < self._pool_size:
                self._idle.append(connection)
                return
        _quit(connection)

    def send(self, mail: Mail) -> Sent:
        message_id, data = serialize(mail, self._from)
        for attempt in (1, 2):
            try:
                connection = self._borrow()
            except smtplib.SMTPAuthenticationError as exc:
                raise SendError(f"the mail server refused the login ({exc.smtp_code})", retry=True,
                                code=exc.smtp_code) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise SendError(f"the mail server could not be reached: {type(exc).__name__}", retry=True) from None
            try:
                # A non-ASCII mailbox needs the server's SMTPUTF8 (send_message's rule too).
                options = () if mail.to.isascii() and self._envelope_from.isascii() else ("SMTPUTF8",)
                connection.sendmail(self._envelope_from, [mail.to], data, mail_options=options)
            except smtplib.SMTPServerDisconnected:
                # An idle connection the server closed meanwhile: once more on a fresh one.
                _quit(connection)
                if attempt == 2:
                    raise SendError("the mail server closed the connection", retry=True) from None
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                self._give_back(connection)
                code = next(iter(exc.recipients.values()))[0]
                raise SendError(f"the mail server refused the recipient ({code})", retry=code < 500,
                                code=code) from None
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
                self._give_back(connection)
                raise SendError(f"the mail server refused the message ({exc.smtp_code})",
                                retry=exc.smtp_code < 500, code=exc.smtp_code) from None
            except (OSError, smtplib.SMTPException) as exc:
                _quit(connection)
                raise SendError(f"sending failed: {type(exc).__name__}", retry=True) from None
            self._give_back(connection)
            return Sent(message_id=message_id, status="sent")
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            _quit(connection)


def _quit(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except (OSError, smtplib.SMTPException):
        connection.close()


def mailer(app: Flask) -> Mailer:
    """The app's mailer, built once per app."""
    found = app.extensions.get(_MAILER)
    if found is None:
        with _lock:
            found = app.extensions.get(_MAILER)
            if found is None:
                found = app.extensions[_MAILER] = new_mailer(app)
    return found


def new_mailer(app: Flask, pool_size: int | None = None) -> Mailer:
    """A mailer of its own, which the caller closes (the app's shared one is :func:`mailer`)."""
    config = app.config
    target = server(config)
    if target is None:
        return OutboxMailer(sender(config))
    return SmtpMailer(target, sender(config), ca_file=config.get("MAIL_TLS_CA_FILE"),
                      timeout=config["MAIL_TIMEOUT_SECONDS"],
                      pool_size=pool_size or config["NOTIFICATION_CONCURRENCY"])


# A callable (timeout in seconds) that :func:`close` calls first: app/notifications/mail_log.py
# registers one that waits for the account e-mails it has handed to its threads.
BEFORE_CLOSE = "porchlight.mail_before_close"
CLOSE_WAIT_S = 10.0


def close(app: Flask) -> None:
    before = app.extensions.get(BEFORE_CLOSE)
    if before is not None:
        before(CLOSE_WAIT_S)
    found = app.extensions.pop(_MAILER, None)
    if found is not None:
        found.close()
