"""The e-mail log: every e-mail the app sends is a ``mail_messages`` row.

Without MAIL_URL the row is all there is (the outbox, read with ``flask mail outbox``);
with it, the row records what was sent, or how the server refused it. Messages about
a request go out through the delivery worker (app/notifications/delivery.py), which
keeps its row here too.

Messages to one person about their account go out in one of two ways:

- :func:`send_soon` (verification links, sign-up notices, password resets, "your password
  was changed"): the row is written in the caller's transaction and the message is sent
  after the commit, on a thread of the app process, with a few retries on a temporary
  refusal. The answer never waits for the mail server, so its timing cannot tell whether
  a message went (the password reset answers alike for every login), and a slow or
  refusing server costs the person nothing but the e-mail: the row records what the
  server said. A process that dies while sending leaves the row ``sending``; the person
  asks again (each of these screens has "send again").
- :func:`send_now` (a staff invitation): sent within the request, so the supervisor who
  typed the address learns at once that the server refused it.
"""
from __future__ import annotations

import dataclasses
import logging
import queue as stdqueue
import threading
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from app.accounts.models import User
from app.errors import ApiError
from app.extensions import db
from app.notifications import mail
from app.notifications.models import MailMessage

log = logging.getLogger(__name__)

_AFTER_COMMIT = "porchlight.mail_after_commit"
_SENDER = "porchlight.account_mail_sender"
# Waits before the second and third try of a temporarily refused message (4xx, no connection).
RETRY_DELAYS_S = (2.0, 15.0)
SENDER_THREADS = 2
_senders_lock = threading.Lock()


def record(mail_: mail.Mail, *, user: User | None, status: str, message_id: str, notification_id: int | None = None,
           error: str | None = None) -> MailMessage:
    row = MailMessage(user_id=user.id if user else None, notification_id=notification_id, to_address=mail_.to,
                      subject=mail_.subject[:300], body_text=mail_.text, body_html=mail_.html,
                      message_id=message_id[:255], status=status, error=error[:500] if error else None)
    db.session.add(row)
    return row


def send_now(user: User | None, mail_: mail.Mail) -> MailMessage:
    """Send one e-mail within this request and log it (the caller commits); 503 if it cannot go."""
    mailer = mail.mailer(current_app._get_current_object())
    try:
        sent = mailer.send(mail_)
    except mail.SendError as exc:
        # The address is personal data and the text may hold a link: the log names neither.
        current_app.logger.warning("e-mail for %s failed: %s", f"user {user.id}" if user else "no account", exc)
        if not exc.retry:
            raise ApiError(422, "email_refused", "The mail server refused this address; check it and try again.",
                           fields={"email": ["The mail server refused this address."]})
        raise ApiError(503, "email_unavailable", "The e-mail could not be sent; try again in a minute.")
    row = record(mail_, user=user, status=sent.status, message_id=sent.message_id)
    if sent.status == mail.OUTBOX:
        current_app.logger.warning("E-MAIL NOT SENT (no MAIL_URL configured): %s kept in the outbox; read it "
                                   "with `flask mail outbox`", f"a message for user {user.id}" if user else "a message")
    return row


def send_soon(user: User | None, mail_: mail.Mail) -> MailMessage:
    """Log one e-mail in the caller's transaction and send it once that commits (see the module doc).

    In outbox mode the row is the message, as with :func:`send_now`.
    """
    app = current_app._get_current_object()
    mailer = mail.mailer(app)
    if mailer.mode == mail.OUTBOX:
        sent = mailer.send(mail_)
        row = record(mail_, user=user, status=sent.status, message_id=sent.message_id)
        current_app.logger.warning("E-MAIL NOT SENT (no MAIL_URL configured): %s kept in the outbox; read it "
                                   "with `flask mail outbox`", f"a message for user {user.id}" if user else "a message")
        return row
    # The Message-ID is fixed now so that the row and every try of the message agree.
    mail_ = dataclasses.replace(mail_, message_id=mail.message_id_for(mail_, mail.sender(app.config)))
    row = record(mail_, user=user, status="sending", message_id=mail_.message_id)
    db.session.flush()
    db.session.info.setdefault(_AFTER_COMMIT, []).append((row.id, mail_))
    return row


def _hand_over(session: sa.orm.Session) -> None:
    waiting = session.info.pop(_AFTER_COMMIT, None)
    if not waiting:
        return
    app = current_app._get_current_object()
    with _senders_lock:
        senders = app.extensions.get(_SENDER)
        if senders is None:
            senders = app.extensions[_SENDER] = _Senders(app)
            app.extensions[mail.BEFORE_CLOSE] = senders.wait_until_sent
    for row_id, mail_ in waiting:
        senders.put(row_id, mail_)


class _Senders:
    """The process's account-mail threads and the letters waiting for them.

    Daemon threads: a retry's wait never holds up the process's exit (the row stays
    ``sending``, as when the process dies). Closing the app's mailer (:func:`mail.close`)
    first waits a moment for the letters already handed over.
    """

    def __init__(self, app: Flask) -> None:
        self._letters: stdqueue.SimpleQueue = stdqueue.SimpleQueue()
        self._unsent = 0
        self._changed = threading.Condition()
        for n in range(SENDER_THREADS):
            threading.Thread(target=self._run, args=(app,), daemon=True, name=f"account-mail-{n}").start()

    def put(self, row_id: int, mail_: mail.Mail) -> None:
        with self._changed:
            self._unsent += 1
        self._letters.put((row_id, mail_))

    def _run(self, app: Flask) -> None:
        while True:
            row_id, mail_ = self._letters.get()
            try:
                _deliver(app, row_id, mail_)
            finally:
                with self._changed:
                    self._unsent -= 1
                    self._changed.notify_all()

    def wait_until_sent(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._unsent == 0, timeout)


def _drop_waiting(session: sa.orm.Session, previous_transaction=None) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def _deliver(app: Flask, row_id: int, mail_: mail.Mail) -> None:
    """Send one logged message, trying again after a temporary refusal; record how it went."""
    with app.app_context():
        # A connection of its own, closed when done: one message now and then needs no pool,
        # and nothing is left open when the app's shared mailer is closed meanwhile.
        mailer = mail.new_mailer(app, pool_size=1)
        try:
            for delay in (*RETRY_DELAYS_S, None):
                try:
                    sent = mailer.send(mail_)
                except mail.SendError as exc:
                    if exc.retry and delay is not None:
                        time.sleep(delay)
                        continue
                    log.warning("e-mail %s failed: %s", row_id, exc)
                    _set(row_id, status="failed", error=str(exc)[:500])
                    return
                _set(row_id, status="sent", error=None, message_id=sent.message_id[:255])
                return
        except Exception:  # a thread's failure must not vanish silently
            log.exception("e-mail %s: sending failed", row_id)
        finally:
            mailer.close()
            db.session.remove()


def _set(row_id: int, **values: Any) -> None:
    db.session.execute(sa.update(MailMessage).where(MailMessage.id == row_id).values(**values))
    db.session.commit()


def send_after_commit() -> None:
    """Make every commit of ``db.session`` hand its :func:`send_soon` messages to the sender (create_app
    calls it; the listeners sit on the session class, for every app and thread, added once)."""
    if not sa.event.contains(db.session, "after_commit", _hand_over):
        sa.event.listen(db.session, "after_commit", _hand_over)
        sa.event.listen(db.session, "after_soft_rollback", _drop_waiting)


def status() -> dict[str, Any]:
    if mail.mode(current_app) == mail.OUTBOX:
        return {"mode": "outbox", "sending": False,
                "message": "E-mails are NOT being sent: no MAIL_URL is configured, so e-mails are kept in the "
                           "server's outbox (the mail_messages table; `flask mail outbox` shows them)."}
    return {"mode": "smtp", "sending": True, "message": "E-mails are sent through the configured SMTP server."}


def outbox(limit: int) -> list[MailMessage]:
    """The latest e-mails kept in the outbox, oldest first."""
    rows = db.session.scalars(sa.select(MailMessage).where(MailMessage.status == mail.OUTBOX)
                              .order_by(MailMessage.id.desc()).limit(limit)).all()
    return list(reversed(rows))
