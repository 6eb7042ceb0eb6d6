"""Password recovery: a reset link by e-mail or a six-digit code by SMS, to a verified address.

Nobody learns from this whether a login has an account: a request is answered the
same (202) whether or not one matches, whether or not anything was sent, and it takes
at least PASSWORD_RESET_MIN_RESPONSE_MS either way. A reset e-mail leaves after the
commit (app/notifications/mail_log.py, ``send_soon``), so the mail server's time is no part
of the answer's; a reset SMS is handed to the provider within the request, whose API
answers well inside that floor. Only the holder of the address
hears of it, by the message itself. Only a *verified* address gets one: an address
someone merely typed into a sign-up never lets them take the account over.

One address may hold two accounts (an owner's and a staff account, kept apart): each
gets its own link, and each message names the account it resets. Links and codes are
single-use, live 30 minutes and are stored only as hashes (app/accounts/tokens.py).

A reset ends every session of the account and signs nobody in: the person signs in
again with the new password, and a police account still needs its second factor.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from app import links
from app.accounts import sessions, tokens
from app.accounts.models import Role, User
from app.accounts.service import _checked_password
from app.audit import service as audit
from app.common.fields import parse_login
from app.db import utcnow
from app.errors import ApiError
from app.extensions import db
from app.i18n import in_language
from app.notifications import mail, mail_log
from app.notifications.messages import gsm_fold
from app.notifications.models import SmsOptOut
from app.notifications.service import _send_direct

log = logging.getLogger(__name__)

PURPOSE = "password_reset"
TTL = timedelta(minutes=30)
RESET_PATH = "/#/reset/{token}"
ACCEPTED = "If an account uses this address, we sent it a link or code to reset the password. It works for 30 minutes."


@dataclass(frozen=True)
class Channel:
    kind: str  # "email" or "sms"
    address: str


def account_label(user: User) -> str:
    """Which account a message is about, as its holder knows it."""
    if user.role == Role.OWNER:
        return gettext("camera owner account")
    # Staff read English for now; their words go through the catalog all the same.
    if user.role == Role.MANAGER:
        district = user.district.name if user.district else gettext("a district")
        return gettext("district manager account (%(district)s)", district=district)
    agency = user.agency.name if user.agency else gettext("your agency")
    return gettext("%(role)s account at %(agency)s", role=user.role.value, agency=agency)


def _verified_accounts(kind: str, value: str | None) -> list[User]:
    """Active accounts whose verified e-mail or phone is ``value`` (owner and staff may share one)."""
    if value is None:
        return []
    if kind == "email":
        where = sa.and_(User.email == value, User.email_verified_at.is_not(None))
    else:
        where = sa.and_(User.phone == value, User.phone_verified.is_(True))
    return list(db.session.scalars(sa.select(User).where(where, User.active.is_(True)).order_by(User.id)))


def _fingerprint(text: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"password-reset:{text}".encode(), hashlib.sha256).hexdigest()[:16]


# --- asking for a reset ----------------------------------------------------------------------------

def request_reset(login: str) -> None:
    """Send a reset link or code to each account whose verified address ``login`` is.

    Answers nothing: the caller says the same thing whatever happened here.
    """
    started = time.monotonic()
    kind, value = parse_login(login)
    accounts = _verified_accounts(kind, value)
    hour_ago = utcnow() - timedelta(hours=1)
    if not accounts:
        # The reads a match makes, so the database's share of the time is alike; the
        # floor below covers handing an SMS to the provider.
        if value is not None:
            tokens.sent_since(PURPOSE, hour_ago, user_id=0)
            tokens.sent_since(PURPOSE, hour_ago, address=value)
        log.info("password reset asked for a login with no verified account (%s)", _fingerprint(value or login))
    for user in accounts:
        _send_one(user, Channel("email" if kind == "email" else "sms", value), hour_ago)
    _wait_out(started)


def _send_one(user: User, channel: Channel, hour_ago: datetime) -> None:
    config = current_app.config
    per_account = tokens.sent_since(PURPOSE, hour_ago, user_id=user.id)
    per_address = tokens.sent_since(PURPOSE, hour_ago, address=channel.address)
    details = {"channel": channel.kind}
    if (per_account >= config["PASSWORD_RESET_PER_ACCOUNT_PER_HOUR"]
            or per_address >= config["PASSWORD_RESET_PER_ADDRESS_PER_HOUR"]):
        audit.record("account.password_reset_limited", target=user, actor=None,
                     agency_id=user.agency_id, details=details)
        db.session.commit()
        return
    if channel.kind == "sms" and db.session.get(SmsOptOut, channel.address) is not None:
        audit.record("account.password_reset_not_sent", target=user, actor=None, agency_id=user.agency_id,
                     details={**details, "reason": "sms_opted_out"})
        db.session.commit()
        return
    try:
        # In the account's language, else the one the asker reads the app in.
        with in_language(user.language):
            if channel.kind == "email":
                _, token = tokens.issue_link(user, PURPOSE, channel.address, TTL)
                mail_log.send_soon(user, _reset_mail(user, channel.address, token))
            else:
                _, code = tokens.issue_code(user, PURPOSE, channel.address, TTL)
                _send_direct(user, channel.address, _reset_sms(user, code))
    except ApiError as exc:
        # The asker is told nothing either way; the account's audit trail and the log say why.
        db.session.rollback()
        log.warning("password reset for user %s not sent: %s", user.id, exc.extra_data["code"])
        audit.record("account.password_reset_not_sent", target=user, actor=None, agency_id=user.agency_id,
                     details={**details, "reason": exc.extra_data["code"]})
        db.session.commit()
        return
    audit.record("account.password_reset_requested", target=user, actor=None, agency_id=user.agency_id,
                 details=details)
    db.session.commit()


def _wait_out(started: float) -> None:
    floor = current_app.config["PASSWORD_RESET_MIN_RESPONSE_MS"] / 1000
    left = floor - (time.monotonic() - started)
    if left > 0:
        time.sleep(left)


def reset_url(token: str) -> str:
    return links.absolute_url(RESET_PATH.format(token=token))


def _reset_mail(user: User, address: str, token: str) -> mail.Mail:
    url = reset_url(token)
    label = account_label(user)
    asked = gettext("Someone (we hope you) asked to reset the password of your Porchlight %(account)s "
                    "(%(address)s).", account=label, address=address)
    ignore = gettext("If you did not ask, ignore this e-mail: your password stays as it is.")
    text = (f"{asked}\n\n" + gettext("Choose a new password here (the link works once, for 30 minutes):")
            + f"\n{url}\n\n{ignore}\n")
    page = (f"<p>{html.escape(asked)}</p>"
            f'<p><a href="{html.escape(url)}">{html.escape(gettext("Choose a new password"))}</a> '
            f'{html.escape(gettext("(the link works once, for 30 minutes)."))}</p>'
            f'<p>{html.escape(gettext("Or copy this address into your browser:"))} {html.escape(url)}</p>'
            f"<p>{html.escape(ignore)}</p>")
    return mail.Mail(to=address, subject=gettext("Reset the password of your Porchlight %(account)s", account=label),
                     text=text, html=page)


def _reset_sms(user: User, code: str) -> str:
    return gsm_fold(gettext("Porchlight: %(code)s is your code to reset the password of your %(account)s. It works "
                            "for 30 minutes. Did not ask? Ignore this.", code=code, account=account_label(user)))


# --- using a link or code ----------------------------------------------------------------------------

def reset_password(*, password: str, token: str | None = None, login: str | None = None,
                   code: str | None = None) -> User:
    """A new password with the e-mailed link's ``token``, or with the ``code`` texted to ``login``."""
    if token:
        return reset_with_link(token, password)
    if login and code:
        return reset_with_code(login, code, password)
    raise ApiError(422, "validation_error", "Give the link's token, or the mobile number and the texted code.",
                   fields={"token": ["Give the link's token, or login and code."]})


def check_link(token: str) -> tuple[User, datetime]:
    """The account a live reset link is for and when it ends, without using it (410 if it is not live)."""
    row = tokens.peek_link(PURPOSE, token)
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        raise tokens._invalid_link()
    return user, row.expires_at


def reset_with_link(token: str, password: str) -> User:
    """Set a new password with a link from the e-mail; the link is used up."""
    user, _ = check_link(token)
    # The password is checked before the link is used, so a refused one leaves the link working.
    password_hash = _checked_password(password, user.email, user.phone)
    tokens.redeem_link(PURPOSE, token)
    return _finish(user, password_hash, "email")


def _wrong_code() -> ApiError:
    # One answer for a wrong, used, expired or never-sent code, and for a number with no
    # account: telling them apart would tell who has an account.
    message = "That code is wrong, used or expired. Check it, or ask for a new code."
    return ApiError(422, "code_invalid", message, fields={"code": [message]})


def reset_with_code(login: str, code: str, password: str) -> User:
    """Set a new password with the code texted to the account's verified phone; the code is used up."""
    kind, value = parse_login(login)
    code = "".join(code.split())  # typed as "123 456" too
    # Checked against what was typed first, the same for every login; the account's own
    # e-mail is checked once the code has proved who this is.
    _checked_password(password, value)
    accounts = _verified_accounts(kind, value) if kind == "phone" else []
    for user in accounts:
        try:
            tokens.redeem_code(user, PURPOSE, code)
        except ApiError:
            continue
        return _finish(user, _checked_password(password, user.email, user.phone), "sms")
    audit.record("account.password_reset_failed", target_type="user", actor=None,
                 details={"channel": "sms", "login_fingerprint": _fingerprint(value or login.strip())})
    db.session.commit()
    raise _wrong_code()


def _finish(user: User, password_hash: str, channel: str) -> User:
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    ended = sessions.end_all(user, "password_changed")
    audit.record("account.password_reset", target=user, actor=user, agency_id=user.agency_id,
                 details={"channel": channel, "sessions_ended": ended})
    db.session.commit()
    _tell_changed(user)
    return user


def _tell_changed(user: User) -> None:
    """"Your password was changed" to every verified address of the account; a failure stops nothing."""
    label = account_label(user)
    text = (f"The password of your Porchlight {label} was just changed with a reset link or code, and every "
            "device signed in to it was signed out.\n\nIf this was not you, reset it again now (\"Forgot "
            "password?\" on the sign-in screen) and tell your agency.\n")
    sends = []
    if user.email and user.email_verified_at is not None:
        sends.append(lambda: mail_log.send_soon(user, mail.Mail(
            to=user.email, subject=f"Your Porchlight password was changed ({label})", text=text,
            html="".join(f"<p>{html.escape(p)}</p>" for p in text.strip().split("\n\n")))))
    if user.phone and user.phone_verified and db.session.get(SmsOptOut, user.phone) is None:
        sends.append(lambda: _send_direct(user, user.phone, f"Porchlight: the password of your {label} was "
                                          "changed. Not you? Reset it again now and tell your agency."))
    for send in sends:
        try:
            send()
            db.session.commit()
        except ApiError as exc:
            db.session.rollback()
            log.warning("password-changed notice for user %s not sent: %s", user.id, exc.extra_data["code"])


# --- the operator's link (flask accounts reset-password) ---------------------------------------------

def operator_links(email: str) -> list[tuple[User, str]]:
    """A one-time reset link for each active account with this e-mail, for the operator to hand over.

    The accounts that proved the address; only when none has, those that merely gave it
    (the operator vouches for the person: the link goes to them, not to the address).
    """
    _kind, value = parse_login(email)
    accounts = list(db.session.scalars(sa.select(User).where(User.email == value, User.active.is_(True))
                                       .order_by(User.id)))
    accounts = [u for u in accounts if u.email_verified_at is not None] or accounts
    made = []
    for user in accounts:
        _, token = tokens.issue_link(user, PURPOSE, user.email, TTL)
        audit.record("account.password_reset_link_issued", target=user, actor=None, agency_id=user.agency_id,
                     details={"via": "cli", "actor": "operator"})
        made.append((user, reset_url(token)))
    db.session.commit()
    return made
