"""The e-mail log: every e-mail the app sends is a ``mail_messages`` row.

Without MAIL_URL the row is all there is (the outbox, read with ``flask mail outbox``);
with it, the row records what was sent, or how the server refused it. Messages about
a request go out through the delivery worker (app/notifications/delivery.py), which
keeps its row here too; :func:`send_now` is for messages a person is waiting for
(a verification link, a password reset), sent within their request.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.accounts.models import User
from app.errors import ApiError
from app.extensions import db
from app.notifications import mail
from app.notifications.models import MailMessage


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
