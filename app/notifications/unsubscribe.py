"""Turning off e-mail about requests from a link in the e-mail itself (RFC 8058 one-click).

Every ask e-mail carries ``List-Unsubscribe: <https://…/unsubscribe/<token>>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``: the mail client POSTs
``List-Unsubscribe=One-Click`` to the URL, without cookies and without asking anything
more. A GET only shows a page with the button (scanners open links). The owner turns
e-mail back on in Settings (``PATCH /api/auth/me`` ``notify_email``). The choice is read
when a message is queued and again when it is sent (app/notifications/service.py
``email_reaches``), so an e-mail queued before the click is skipped.
"""
from __future__ import annotations

from app import links
from app.accounts.models import User
from app.audit import service as audit
from app.errors import ApiError
from app.extensions import db


def owner_for_link(token: str) -> User:
    """The account an unsubscribe link names; 404 invalid_link for an altered or unknown one."""
    user = db.session.get(User, links.read_unsubscribe_token(token))
    if user is None:
        raise ApiError(404, "invalid_link", "This unsubscribe link is not valid; use the link from your "
                                                  "latest e-mail.")
    return user


def unsubscribe(token: str, *, one_click: bool) -> User:
    """E-mail off for the link's owner, audited once (pressing again changes nothing); commits."""
    user = owner_for_link(token)
    if user.notify_email:
        user.notify_email = False
        audit.record("email.unsubscribed", target=user, actor=user,
                     details={"via": "one_click" if one_click else "page"})
        db.session.commit()
    return user
