"""The e-mails about an ask: what they say, how they thread, how to stop them.

Like app/notifications/messages.py for push and SMS, everything here is a function of
its arguments, the settings and the public base URL, so a retry after a crash sends the
same message with the same Message-ID (mail clients drop a second copy of an id).

- Threading: the first e-mail about an ask (request or escalation) has the ask's own
  Message-ID, ``<ask-<id>.<hmac>@<MAIL_FROM's domain>>``, derived from the ask's id and
  SECRET_KEY (nothing stored; unguessable, so nobody outside can thread into it); every
  later one (a reminder, a notice) has its own id and ``In-Reply-To``/``References`` to it.
- Links: the answer page (``/m/<token>``, app/notifications/email_pages.py) for the ask
  and for each answer, which only show the ask (mail scanners open every link), and the
  ask in the app. ``List-Unsubscribe`` with ``List-Unsubscribe-Post`` (RFC 8058) lets the
  mail client turn e-mail off in one click.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
from email.utils import parseaddr

from flask import current_app, render_template
from flask_babel import gettext, lazy_gettext

from app import links
from app.agencies.models import Agency
from app.footage import purpose
from app.footage.models import Ask, FootageRequest
from app.notifications import mail, messages
from app.notifications.models import NotificationKind

# Kinds that open an ask's thread: whichever of them goes by e-mail is its first e-mail.
FIRST_KINDS = (NotificationKind.REQUEST, NotificationKind.ESCALATION)
# What the answer links and buttons say, in the order they are offered: Approve, No footage, Decline.
# Lazy: each is rendered in the language of the e-mail or page that shows it.
ANSWER_WORDS = {"approve": lazy_gettext("Approve: share footage"), "no_footage": lazy_gettext("I have no footage"),
                "decline": lazy_gettext("Decline")}


def _domain() -> str:
    return _domain_of(current_app.config.get("MAIL_FROM") or mail.DEFAULT_SENDER)


@functools.lru_cache(maxsize=8)
def _domain_of(sender: str) -> str:
    # Parsing an address is slow enough to show in a fan-out of a thousand e-mails.
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def _digest(ask_id: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"ask-mail:{ask_id}".encode(), hashlib.sha256).hexdigest()[:20]


def thread_id(ask_id: int) -> str:
    """The Message-ID of the first e-mail about this ask, which later ones reply to."""
    return f"<ask-{ask_id}.{_digest(ask_id)}@{_domain()}>"


def message_id(ask_id: int, kind: str) -> str:
    """The Message-ID of the ``kind`` e-mail about this ask (the same on every retry)."""
    if kind in FIRST_KINDS:
        return thread_id(ask_id)
    return f"<ask-{ask_id}.{kind}.{_digest(ask_id)}@{_domain()}>"


def unsubscribe_headers(unsubscribe_link: str) -> dict[str, str]:
    """RFC 2369 List-Unsubscribe and RFC 8058 one-click: the client POSTs to the URL."""
    return {"List-Unsubscribe": f"<{unsubscribe_link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            # Tells vacation responders and the like not to answer.
            "Auto-Submitted": "auto-generated"}


def incident_words(footage_request: FootageRequest) -> str:
    # Incident types are the agency's own words (its list of types), shown as the agency wrote them.
    return footage_request.incident_type.replace("_", " ")


def ask_facts(ask: Ask, footage_request: FootageRequest, agency: Agency) -> dict:
    """What an e-mail and the answer page both show about an ask, as text."""
    expires_at = footage_request.expires_at
    return {
        "agency": agency.name,
        "incident": incident_words(footage_request),
        "case": footage_request.case_number,
        "summary": footage_request.summary or "",
        "legal_basis": purpose.legal_basis_words(footage_request.legal_basis.value, footage_request.warrant_court),
        "category": purpose.category_label(footage_request.offense_category, footage_request.offense_category_label),
        "window": messages.window_text(footage_request, agency),
        "camera": ask.camera_label,
        "deadline": messages.local_time_text(expires_at, agency) if expires_at else None,
        "reply_code": ask.reply_code,
    }


def subject(kind: str, ask: Ask, agency: Agency) -> str:
    if kind == NotificationKind.REMINDER:
        return gettext('Reminder: %(agency)s asks for footage from your camera "%(camera)s"', agency=agency.name,
                       camera=ask.camera_label)
    return gettext('%(agency)s asks for footage from your camera "%(camera)s"', agency=agency.name,
                   camera=ask.camera_label)


def ask_mail(kind: str, ask: Ask, footage_request: FootageRequest, agency: Agency, to: str) -> mail.Mail:
    """The e-mail asking the owner for footage (first, escalation or reminder): text and HTML."""
    facts = ask_facts(ask, footage_request, agency)
    unsubscribe = links.unsubscribe_link(ask.owner_id)
    answers = [(words, links.ask_page_link(ask, action)) for action, words in ANSWER_WORDS.items()]
    context = {**facts, "reminder": kind == NotificationKind.REMINDER, "subject": subject(kind, ask, agency),
               "page": links.ask_page_link(ask), "answers": answers, "app_link": messages.ask_url(ask),
               "unsubscribe": unsubscribe}
    return mail.Mail(
        to=to, subject=context["subject"],
        text=render_template("email/ask.txt", **context), html=render_template("email/ask.html", **context),
        message_id=message_id(ask.id, kind),
        in_reply_to=None if kind in FIRST_KINDS else thread_id(ask.id),
        headers=unsubscribe_headers(unsubscribe))


# --- the request ended -------------------------------------------------------------------

def _ended_subject(kind: str, ask: Ask, agency: Agency) -> str:
    asked = subject(NotificationKind.REQUEST, ask, agency)
    if NotificationKind(kind) == NotificationKind.WITHDRAWN:
        return gettext("Withdrawn: %(subject)s", subject=asked)
    return gettext("Expired: %(subject)s", subject=asked)


def notice_mail(kind: str, ask: Ask, footage_request: FootageRequest, agency: Agency, to: str) -> mail.Mail:
    """The e-mail telling the owner that the request was withdrawn or has expired, in the ask's thread."""
    facts = ask_facts(ask, footage_request, agency)
    unsubscribe = links.unsubscribe_link(ask.owner_id)
    context = {**facts, "withdrawn": kind == NotificationKind.WITHDRAWN,
               "subject": _ended_subject(kind, ask, agency),
               # An ask the end closed that the owner had answered was approved (declines are final).
               "approved": ask.responded_at is not None,
               "inbox": links.absolute_url(messages.INBOX_PATH), "unsubscribe": unsubscribe}
    return mail.Mail(
        to=to, subject=context["subject"],
        text=render_template("email/notice.txt", **context), html=render_template("email/notice.html", **context),
        message_id=message_id(ask.id, kind), in_reply_to=thread_id(ask.id),
        headers=unsubscribe_headers(unsubscribe))


# --- a delivered clip's fate ----------------------------------------------------------------

def fate_mail(kind: str, ask: Ask, footage_request: FootageRequest, agency: Agency, to: str) -> mail.Mail:
    """The e-mail telling the owner what happened to the clip they delivered (in the ask's thread)."""
    facts = ask_facts(ask, footage_request, agency)
    unsubscribe = links.unsubscribe_link(ask.owner_id)
    kind = NotificationKind(kind)
    context = {**facts, "subject": f"{messages.PROGRAM}: {messages.fate_title(kind)}",
               "said": messages.fate_sentence(kind, agency.name, ask.camera_label, footage_request.case_number),
               "history": links.absolute_url(messages.HISTORY_PATH), "unsubscribe": unsubscribe}
    return mail.Mail(
        to=to, subject=context["subject"],
        text=render_template("email/fate.txt", **context), html=render_template("email/fate.html", **context),
        message_id=message_id(ask.id, kind), in_reply_to=thread_id(ask.id),
        headers=unsubscribe_headers(unsubscribe))
