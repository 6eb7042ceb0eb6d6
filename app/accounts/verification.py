"""Proving an e-mail address: the link sent at sign-up (and from Settings), and what a
held address gets instead. Phone numbers are proved with the texted code of
app/notifications/service.py, which follows the same rules.

Sign-up makes an account, unverified, whether or not its addresses are taken, and
answers 201 with a session either way. The other choice, "202, check your e-mail" with
no account for a taken address, would keep the PWA from going on to the owner's first
camera, and the account would still have to be made later on one side only; making it
either way gives the same status, body and cookie for taken and free addresses alike,
and the account's own profile (and data export) shows its addresses unverified in both
cases. So:

- a free address gets its link (e-mail) or code (SMS) for the new account;
- an address another owner-side account already proved gets nothing the new account
  could use: its holder is told instead (someone tried to sign up with your address; if
  it was you, sign in or reset your password). The new account keeps the address as a
  claim it can never prove; unproved claims count for nothing (no requests reach them)
  and end after UNVERIFIED_CLAIM_DAYS (app/privacy/claims.py), with the account when it
  proved nothing else;
- confirming a link is a POST from the page the link opens: mail scanners fetch links
  on their own, and a GET never changes anything.

Links and notices per address are limited (SENDS_PER_HOUR, counted in the one-time
tokens); beyond it the answer is still the same and nothing is sent.
"""
from __future__ import annotations

import html
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext

from app import links
from app.accounts import identities, tokens
from app.accounts.identities import EMAIL
from app.accounts.models import User
from app.audit import service as audit
from app.db import utcnow
from app.errors import ApiError
from app.extensions import db
from app.i18n import DEFAULT, in_language
from app.notifications import mail, mail_log
from app.notifications import service as notifications
from app.notifications.messages import FORGOT_PATH, PROGRAM

PURPOSE = "email_verification"
# Held-address notices are counted as tokens too (never redeemable), so one limit covers both.
NOTICE_PURPOSE = "signup_notice"
LINK_TTL = timedelta(days=2)
SENDS_PER_HOUR = 3
VERIFY_PATH = "/#/verify-email/{token}"


def _recently_sent(address: str) -> bool:
    since = utcnow() - timedelta(hours=1)
    return sum(tokens.sent_since(purpose, since, address=address) for purpose in (PURPOSE, NOTICE_PURPOSE)
               ) >= SENDS_PER_HOUR


def send_email_link(user: User, address: str | None = None) -> None:
    """E-mail the address its link, or its holder the notice (the caller commits).

    ``address`` is the account's own unproved address, or (Settings) a new one to add or
    change to, which becomes the account's only when its link is confirmed. Nothing in
    ``user``'s own records says which of the two messages went: its data export would tell.
    """
    change = address is not None and address != user.email
    address = address or user.email
    if address is None or (not change and user.email_verified_at is not None) or _recently_sent(address):
        return
    holder = identities.verified_holder(EMAIL, address, staff=user.is_staff, exclude_id=user.id)
    if holder is None:
        _, token = tokens.issue_link(user, PURPOSE, address, LINK_TTL)
        mail_log.send_soon(user, _verification_mail(address, token))
    else:
        tokens.issue_link(holder, NOTICE_PURPOSE, address, timedelta(0))
        with in_language(holder.language or DEFAULT):
            mail_log.send_soon(holder, _notice_mail(address, new_account=not change))
        audit.record("account.email_claimed_elsewhere", target=holder, actor=audit.NO_ACTOR,
                     details={"told": "email"})
    audit.record("account.email_verification_sent", target=user, actor=None, details={"change": change})


def send_phone_code(user: User) -> None:
    """Text ``user``'s unproved number its code (or its holder the notice), unless it had its share."""
    phone = user.phone
    if phone is None or user.phone_verified or notifications.is_opted_out(phone):
        return
    now = utcnow()
    if len(notifications.codes_sent_since(user, phone, now - timedelta(hours=1))) >= notifications.MAX_CODES_PER_HOUR:
        return
    _, holder = notifications.text_phone_code(user, phone, now)
    audit.record("phone.verification_sent", target=user, actor=None, details={"phone_changed": False})
    if holder is not None:
        audit.record("phone.claimed_elsewhere", target=holder, actor=audit.NO_ACTOR, details={"told": "sms"})


# --- the messages -------------------------------------------------------------------------

def verify_url(token: str) -> str:
    return links.absolute_url(VERIFY_PATH.format(token=token))


def _paragraphs_html(paragraphs: list[str], url: str, link_words: str) -> str:
    """The text's paragraphs as HTML, the link's paragraph as a link with its address beside it."""
    safe = html.escape(url, quote=True)
    return "".join(f'<p><a href="{safe}">{html.escape(link_words)}</a></p><p>{safe}</p>' if p == url
                   else f"<p>{html.escape(p)}</p>" for p in paragraphs)


def _verification_mail(address: str, token: str) -> mail.Mail:
    url = verify_url(token)
    paragraphs = [
        gettext("Someone, probably you, gave this e-mail address for a %(program)s account.", program=PROGRAM),
        gettext('To confirm it, open this link and press "Confirm" (it works for two days):'),
        url,
        gettext("Until then no requests from police agencies reach you by e-mail. If it was not you, ignore this "
                "message: the other account cannot use this address, and loses it after a week."),
    ]
    text = "\n\n".join(paragraphs).replace(":\n\n" + url, ":\n" + url) + "\n"
    body = _paragraphs_html(paragraphs, url, gettext("Confirm my e-mail address"))
    return mail.Mail(to=address, subject=gettext("Confirm your e-mail address for %(program)s", program=PROGRAM),
                     text=text, html=body)


def _notice_mail(address: str, *, new_account: bool = True) -> mail.Mail:
    url = links.absolute_url(FORGOT_PATH)
    paragraphs = [
        gettext("Someone just gave this e-mail address for a new %(program)s account, but it is already yours. "
                "Your account is unchanged, and the other one cannot use this address.", program=PROGRAM)
        if new_account else
        gettext("Someone just asked to move another %(program)s account to this e-mail address, but it is "
                "already yours. Your account is unchanged, and the other one cannot use this address.",
                program=PROGRAM),
        gettext("If it was you, sign in to your account instead; if you forgot the password, reset it here:"),
        url,
        gettext("If it was not you, nothing needs doing."),
    ]
    text = "\n\n".join(paragraphs).replace(":\n\n" + url, ":\n" + url) + "\n"
    body = _paragraphs_html(paragraphs, url, gettext("Reset my password"))
    return mail.Mail(to=address, subject=gettext("Someone tried to sign up to %(program)s with your e-mail address",
                                                 program=PROGRAM), text=text, html=body)


def _changed_mail(old: str, new: str) -> mail.Mail:
    """To the address an account had verified, once it has proved another in its place."""
    url = links.absolute_url(FORGOT_PATH)
    paragraphs = [
        gettext("The e-mail address of your %(program)s account was changed to %(address)s. Messages from "
                "%(program)s now go there, and you sign in with it.", program=PROGRAM, address=new),
        gettext("If this was not you, reset your password now and tell your agency:"),
        url,
    ]
    text = "\n\n".join(paragraphs).replace(":\n\n" + url, ":\n" + url) + "\n"
    body = _paragraphs_html(paragraphs, url, gettext("Reset my password"))
    return mail.Mail(to=old, subject=gettext("Your %(program)s e-mail address was changed", program=PROGRAM),
                     text=text, html=body)


# --- proving it ---------------------------------------------------------------------------

def _invalid_link() -> ApiError:
    return ApiError(410, "link_invalid", lazy_gettext("This link has been used, replaced by a newer one or has "
                                                      "expired: ask for a new one in Settings."))


def confirm_email(token: str) -> User:
    """Prove an e-mail address with its link's token: the account is now its holder."""
    row = tokens.peek_link(PURPOSE, token)
    user = db.session.get(User, row.user_id)
    # The account may have lost the claim since (another account proved the address first).
    if (user is None or not user.active or (user.email == row.address and user.email_verified_at is not None)
            or identities.verified_elsewhere(user, EMAIL, row.address)):
        raise _invalid_link()
    tokens.redeem_link(PURPOSE, token)
    # A link to another address than the account's is a change asked for in Settings.
    old, old_verified = user.email, user.email_verified_at is not None
    ended = identities.mark_verified(user, EMAIL, row.address)
    audit.record("account.email_verified", target=user, actor=user,
                 details={"claims_ended": len(ended), "changed": old != row.address})
    if old is not None and old != row.address and old_verified:
        with in_language(user.language or DEFAULT):
            mail_log.send_soon(user, _changed_mail(old, row.address))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Another account proved the same address a moment before (the unique index): it won.
        db.session.rollback()
        raise _invalid_link() from None
    return user


def resend(user: User, address: str | None = None) -> dict:
    """Settings' "Verify" / "Resend" (the account's unproved address) and "Add" / "Change" (``address``)."""
    address = address or user.email
    if address is None:
        raise ApiError(409, "no_email", lazy_gettext("This account has no e-mail address: give one."),
                       fields={"email": [lazy_gettext("Give the e-mail address to verify.")]})
    if address == user.email and user.email_verified_at is not None:
        raise ApiError(409, "already_verified", lazy_gettext("This e-mail address is already verified."))
    send_email_link(user, address)
    db.session.commit()
    return {"email": address, "message": gettext(
        "We sent a link to %(address)s: open it and press Confirm. Check the spam folder if it does not arrive "
        "within a few minutes.", address=address)}
