"""Staff join by invitation, as tests need it: a supervisor's client invites, the link is
read from the e-mail log (outbox or sent), and the invitee joins with a real TOTP code."""
from __future__ import annotations

import re

import pyotp
import sqlalchemy as sa

from app.extensions import db
from app.notifications.models import MailMessage

JOIN_LINK = re.compile(r"/#/join/(\S+)")


def invitation_token(email: str) -> str:
    """The token of the newest invitation link e-mailed to ``email``."""
    body = db.session.scalars(sa.select(MailMessage.body_text).where(MailMessage.to_address == email)
                              .order_by(MailMessage.id.desc())).first()
    return JOIN_LINK.search(body).group(1)


def join(app, token: str, password: str):
    """The invitee's browser: password and QR, then a code from the app. Returns (client, answer)."""
    client = app.test_client()
    setup = client.post(f"/api/invitations/{token}/second-factor", json={"password": password})
    assert setup.status_code == 200, setup.json
    code = pyotp.TOTP(setup.json["secret"]).now()
    return client, client.post(f"/api/invitations/{token}/accept", json={"password": password, "code": code})


def invite_and_join(app, supervisor, password: str, **invitation):
    """Invite (``email``, ``role``, ...) with the supervisor's client and join; returns (client, answer)."""
    invited = supervisor.post("/api/staff/invitations", json=invitation)
    assert invited.status_code == 201, invited.json
    return join(app, invitation_token(invitation["email"].lower()), password)
