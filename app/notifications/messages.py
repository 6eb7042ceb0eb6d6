"""What owners read: the Web Push payload and every SMS text (asks, answers, HELP, START, codes).

Everything here is a pure function of its arguments and the public base URL, so a
resend after a crash produces the same message (the SMS reconciliation compares
bodies). The SMS texts follow the US A2P 10DLC rules that docs/DEPLOY.md spells out
(the program named, "Msg & data rates may apply", HELP and STOP told), and keep within
two segments where they can: :func:`sms_segments` counts them as carriers do.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime

from app import links
from app.agencies.models import Agency
from app.agencies.service import agency_zone
from app.enrollment import codes
from app.footage import answers
from app.footage.models import Ask, FootageRequest
from app.notifications.models import NotificationKind

# Where the PWA shows one ask to its owner (served by the PWA's index page), and all of them.
ASK_PATH = "/?ask={ask_id}"
INBOX_PATH = "/#/inbox"
# Encrypted Web Push payloads must stay under 4 KiB; leave room for the encryption overhead.
MAX_PUSH_PAYLOAD = 3000


def ask_url(ask: Ask) -> str:
    return links.absolute_url(ASK_PATH.format(ask_id=ask.id))


# --- SMS: encoding, length, the program's words -----------------------------------------------

# GSM 03.38, the 7-bit alphabet every phone reads: its basic table (a septet each; the
# escape left out) and the extension table (an escape and a septet each).
GSM7_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                       "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
# A text is sent as one SMS up to 160 GSM-7 septets (70 UCS-2 units); longer, as parts of
# 153 (67): each part gives 7 bytes to the header that joins them.
GSM7_SINGLE, GSM7_PART, UCS2_SINGLE, UCS2_PART = 160, 153, 70, 67
# The most segments a text should take; past it, labels are shortened and lists cut.
SMS_SEGMENTS = 2
SHORT_LABEL = 24  # characters of a camera label in a list or a shortened text
SHORT_AGENCY = 32  # characters of an agency's name in a list of asks
LONG_AGENCY = 40  # characters of each agency's name where the texts name the owner's agencies

# Phones' keyboards type these for ' " - ...; a single one makes the whole text UCS-2,
# which more than halves what a segment holds.
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                             "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u2010": "-",
                             "\u2011": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...",
                             "\u00a0": " ", "\u2009": " ", "\u202f": " "})

PROGRAM = "Porchlight"
RATES = "Msg & data rates may apply."
FREQUENCY = "Msg frequency varies."


def sms_segments(text: str) -> int:
    """How many SMS ``text`` is sent as: GSM-7 when every character has a GSM-7 code, else UCS-2."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = len(text) + sum(ch in GSM7_EXTENSION for ch in text)
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        units = len(text.encode("utf-16-le")) // 2  # a character beyond the BMP takes two
        single, part = UCS2_SINGLE, UCS2_PART
    return 1 if units <= single else math.ceil(units / part)


def sms_plain(text: str) -> str:
    """``text`` with typographic quotes, dashes, ellipses and spaces in their GSM-7 forms."""
    return text.translate(_TYPOGRAPHY)


def shorten(text: str, limit: int = SHORT_LABEL) -> str:
    """``text`` in at most ``limit`` characters, cut at a word when one ends in its second half."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 3]
    space = cut.rfind(" ", limit // 2)
    return (cut[:space] if space > 0 else cut).rstrip() + "..."


def names_text(names: Sequence[str], most: int = 3) -> str:
    """'A', 'A and B', 'A, B and C', 'A, B and 2 other agencies' (``most`` 3): the agencies a text speaks for."""
    names = list(dict.fromkeys(shorten(name, LONG_AGENCY) for name in names))
    if len(names) > most:
        others = len(names) - most + 1
        names = [*names[:most - 1], f"{others} other {'agency' if others == 1 else 'agencies'}"]
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _naming(build: Callable[[str], str], names: Sequence[str]) -> str:
    """``build(the agencies' names)`` in GSM-7 forms, naming fewer of them if it takes more than SMS_SEGMENTS."""
    text = ""
    for most in (3, 2):
        text = sms_plain(build(names_text(names, most)))
        if sms_segments(text) <= SMS_SEGMENTS:
            break
    return text


def _fitted(build: Callable[[str, bool], str], label: str) -> str:
    """``build(label, weekdays)`` in GSM-7 forms, shortened while it takes more than SMS_SEGMENTS:
    first the camera label, then the days of the week."""
    text = ""
    for shown, weekdays in ((label, True), (shorten(label), True), (shorten(label), False)):
        text = sms_plain(build(shown, weekdays))
        if sms_segments(text) <= SMS_SEGMENTS:
            break
    return text


def _day(moment: datetime, weekday: bool) -> str:
    return f"{moment:%a %b} {moment.day}" if weekday else f"{moment:%b} {moment.day}"


def window_text(footage_request: FootageRequest, agency: Agency, *, weekdays: bool = True,
                zone_name: bool = True) -> str:
    """The request's time window in the agency's local time, e.g. 'Tue Mar 3 14:05-15:05 CST'."""
    zone = agency_zone(agency)
    start = footage_request.window_start.astimezone(zone)
    end = footage_request.window_end.astimezone(zone)
    first = f"{_day(start, weekdays)} {start:%H:%M}"
    last = f"{end:%H:%M}" if end.date() == start.date() else f"{_day(end, weekdays)} {end:%H:%M}"
    return f"{first}-{last} {end:%Z}".strip() if zone_name else f"{first}-{last}"


def local_time_text(moment: datetime, agency: Agency, *, weekday: bool = True) -> str:
    local = moment.astimezone(agency_zone(agency))
    return f"{_day(local, weekday)} {local:%H:%M} {local:%Z}".strip()


def short_window_text(footage_request: FootageRequest, agency: Agency) -> str:
    """The window in the agency's local time, short: 'Dec 4 21:00-22:00', 'Dec 4 23:30-Dec 5 00:30'."""
    return window_text(footage_request, agency, weekdays=False, zone_name=False)


def sms_text(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    """The SMS asking an owner for footage (first, escalation or reminder)."""
    code = ask.reply_code
    replies = f"Reply YES {code} to share, NO {code} to decline, NONE {code} if you have none."
    expires_at = footage_request.expires_at
    reminder = kind == NotificationKind.REMINDER and expires_at is not None

    def text(label: str, weekdays: bool) -> str:
        window = window_text(footage_request, agency, weekdays=weekdays)
        what = f'footage from "{label}" ({window}), case {footage_request.case_number}'
        if reminder:
            until = local_time_text(expires_at, agency, weekday=weekdays)
            return f"{PROGRAM} reminder: {agency.name} asks for {what}, until {until}. {replies} {ask_url(ask)}"
        return f"{PROGRAM}: {agency.name} asks for {what}. {replies} Reply STOP to opt out. {ask_url(ask)}"

    return _fitted(text, ask.camera_label)


def _ask_in_list(ask: Ask, with_agency: bool) -> str:
    request = ask.request
    case = f"{shorten(request.agency.name, SHORT_AGENCY)} case" if with_agency else "case"
    return (f"{case} {request.case_number}, camera {shorten(ask.camera_label)}, "
            f"{short_window_text(request, request.agency)}")


# More asks than this never fit in a listing's segments.
MAX_LISTED = 8


def open_asks_text(lead: str, asks: Sequence[Ask], word: str) -> str:
    """``lead`` and "Reply YES 7185 for case 26-0412, camera Gate, Dec 4 21:00-22:00; YES 2269 for ...".

    As many asks as fit in SMS_SEGMENTS, the rest counted with the link to the inbox that
    shows them all. When one ask alone takes more (a label outside GSM-7 makes the text
    UCS-2), as many as fit in the segments that one takes.
    """
    with_agency = len({ask.request.agency_id for ask in asks}) > 1
    items = [f"{word} {ask.reply_code} for {_ask_in_list(ask, with_agency)}" for ask in asks[:MAX_LISTED]]
    texts = []  # the most asks first; measured as sent
    for count in range(len(items), 0, -1):
        rest = len(asks) - count
        tail = f"; {rest} more in the app: {links.absolute_url(INBOX_PATH)}" if rest else "."
        texts.append(sms_plain(f"{lead}Reply {'; '.join(items[:count])}{tail}"))
    budget = max(SMS_SEGMENTS, sms_segments(texts[-1]))
    return next(text for text in texts if sms_segments(text) <= budget)


def sms_answer_text(answer: answers.SmsAnswer) -> str:
    """The reply to an SMS answer: thanks (with the upload link), why not, or which ask it may be."""
    return sms_plain(_answer_text(answer))


def _answer_text(answer: answers.SmsAnswer) -> str:
    word = answers.SMS_WORDS[answer.action]
    if answer.outcome == answers.CHOOSE:
        return open_asks_text(f"{len(answer.open_asks)} requests are open. ", answer.open_asks, word)
    if answer.outcome == answers.UNKNOWN_CODE:
        return open_asks_text(f"No open request has code {answer.code}. ", answer.open_asks, word)
    if answer.outcome == answers.NONE_OPEN:
        if answer.code is not None:
            return f"No open request has code {answer.code}; you have no open requests."
        return "You have no open requests right now."
    ask = answer.ask
    if ask is None:
        raise ValueError(f"an SMS answer {answer.outcome!r} names no ask")
    if answer.outcome == answers.REFUSED:
        return f"Request {ask.reply_code}: {answer.refusal}"
    if answer.action == "approve":
        return f"Thank you. Upload your clip for request {ask.reply_code} here: {links.upload_link(ask)}"
    if answer.action == "decline":
        return f"Thank you; you declined request {ask.reply_code}. Nothing is shared."
    return f"Thank you; noted that you have no footage for request {ask.reply_code}."


def help_text(agency_names: Sequence[str]) -> str:
    """The answer to HELP: the program, whose requests, how to answer, where to ask, STOP and START."""
    rules = (f"To answer a request, reply YES, NO or NONE and its code. {RATES} "
             "Reply STOP to opt out, START to resume.")
    if not agency_names:
        return sms_plain(f"{PROGRAM}: a voluntary camera registry of local police agencies. {rules} "
                         f"Info: {links.base_url()}")
    # Agencies keep no contact details here: the owner is pointed to the agency and the app.
    them = "the agency" if len(set(agency_names)) == 1 else "the agencies"
    return _naming(lambda names: f"{PROGRAM}: camera footage requests from {names}. {rules} "
                                 f"Questions: contact {them} or visit {links.base_url()}", agency_names)


NOT_UNDERSTOOD = ("Sorry, that was not understood. To answer a request, reply YES, NO or NONE and its code; "
                  "HELP for help.")
NOT_LINKED = "This number is not linked to a verified Porchlight account."


def start_text(agency_names: Sequence[str]) -> str:
    """The answer to START: the texts resume (the opt-in confirmed again)."""
    def build(names: str) -> str:
        what = f"camera footage requests from {names}" if names else f"{PROGRAM} messages"
        return f"{PROGRAM}: you will get texts again: {what}. {FREQUENCY} {RATES} Reply HELP for help, STOP to opt out."

    return _naming(build, agency_names)


def verification_sms_text(code: str, agency_names: Sequence[str]) -> str:
    """The texted code that verifies an owner's number, which is also the opt-in confirmation.

    Verifying signs the number up for footage requests by text, so this first message
    names the program and says what the others will be (A2P 10DLC).
    """
    return _naming(lambda names: (
        f"Your {PROGRAM} code is {code} (valid 10 minutes; do not share it). Entering it signs this number up for "
        f"camera footage requests from {names or 'the police agencies you join'} by text. {FREQUENCY} {RATES} "
        "Reply HELP for help, STOP to opt out."), agency_names)


# The notification's buttons (browsers show two at most); "no footage" is on the ask's page.
BUTTONS = ("approve", "decline")


def _actions(ask: Ask) -> dict[str, str]:
    """Signed links for the notification's buttons: POST to base + path, no session needed."""
    try:
        return {action: links.absolute_url(links.action_path(ask, action)) for action in BUTTONS}
    except ValueError:  # the request is no longer active
        return {}


def push_payload(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    """The JSON the service worker turns into a notification (title, body, buttons, link)."""
    window = window_text(footage_request, agency)
    if kind == NotificationKind.REMINDER:
        title = f"Reminder: {agency.name} asks for footage"
    else:
        title = f"{agency.name} asks for footage"
    body = f"{ask.camera_label} · {window} · case {footage_request.case_number}"
    payload = {
        "type": "footage_request",
        "kind": kind.value,
        "ask_id": ask.id,
        # Same tag for every message about an ask: a later one replaces the earlier on screen.
        "tag": f"ask-{ask.id}",
        "title": title,
        "body": body,
        "agency": agency.name,
        "case": footage_request.case_number,
        "incident_type": footage_request.incident_type,
        "summary": footage_request.summary,
        "window": {"start": footage_request.window_start.isoformat(), "end": footage_request.window_end.isoformat(),
                   "text": window},
        "camera": ask.camera_label,
        "reply_code": ask.reply_code,
        "expires_at": footage_request.expires_at.isoformat() if footage_request.expires_at else None,
        "url": ask_url(ask),
        "actions": _actions(ask),
    }
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    while len(data.encode()) > MAX_PUSH_PAYLOAD and payload["summary"]:
        # The summary is the only long field; the ask's page shows it whole.
        overflow = len(data.encode()) - MAX_PUSH_PAYLOAD
        summary = payload["summary"].removesuffix("...")
        keep = len(summary) - overflow - 3
        payload["summary"] = summary[:keep] + "..." if keep > 0 else ""
        data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return data


def push_topic(ask_id: int, kind: NotificationKind) -> str:
    """RFC 8030 Topic (at most 32 base64url characters): one per message, so a resend replaces it."""
    return f"ask{ask_id}-{kind.value}"[:32]


# --- district invitations ------------------------------------------------------

def invitation_sms_text(member, code, district, agency: Agency) -> str:
    """The SMS inviting a district member business to enroll with its single-use code."""
    business = member.business_name if len(member.business_name) <= 60 else member.business_name[:57] + "..."
    display = f"{code.code[:4]}-{code.code[4:]}"
    return (f"Porchlight: {district.name} invites {business} to join {agency.name}'s voluntary camera registry. "
            f"Sign up with code {display}: {codes.enrollment_url(code.code)} Reply STOP to opt out.")
