"""What owners read: the Web Push payload and every SMS text (asks, answers, HELP, START, codes).

Everything here is a pure function of its arguments and the public base URL, so a
resend after a crash produces the same message (the SMS reconciliation compares
bodies). The SMS texts follow the US A2P 10DLC rules that docs/DEPLOY.md spells out
(the program named, "Msg & data rates may apply", HELP and STOP told), and keep within
two segments where they can: :func:`sms_segments` counts them as carriers do.

Every text is in the current language (app/i18n): the worker builds an owner's messages
inside ``in_language(owner.language)``, and an SMS reply in the language of its keyword.
Spanish SMS drop the accents GSM-7 has no code for (á í ó ú become a i o u; é ñ ü ¿ ¡
stay): one such letter would make the whole text UCS-2, 67 characters a segment instead of
153, and no Spanish ask would fit in two. Only our own words are folded (:func:`_sms`),
never an owner's camera label or an agency's name.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime

from flask_babel import gettext, ngettext

from app import links
from app.agencies.models import Agency
from app.agencies.service import agency_zone
from app.enrollment import codes
from app.footage import answers
from app.footage.models import Ask, FootageRequest
from app.i18n.dates import day_text
from app.notifications import keywords
from app.notifications.models import NotificationKind

# Where the PWA shows one ask to its owner (served by the PWA's index page), and all of them.
ASK_PATH = "/?ask={ask_id}"
FORGOT_PATH = "/#/forgot"  # the PWA's forgotten-password screen
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
# The letters of our Spanish words that GSM-7 lacks, and the ones it has for them.
_GSM_FOLD = str.maketrans("áíóúÁÍÓÚ", "aiouAIOU")


def gsm_fold(text: str) -> str:
    """``text`` with the accented letters GSM-7 has no code for replaced by plain ones."""
    return text.translate(_GSM_FOLD)


def _sms(template: str, **values: object) -> str:
    """A translated SMS template (``gettext(...)`` without values) folded to GSM-7, then filled."""
    return gsm_fold(template) % values if values else gsm_fold(template)


def rates() -> str:
    return gsm_fold(gettext("Msg & data rates may apply."))


def frequency() -> str:
    return gsm_fold(gettext("Msg frequency varies."))


def keyword(meaning: str) -> str:
    """The word an SMS is told to start with for ``meaning``, in the current language ('YES', 'SI', 'YOG')."""
    return keywords.reply_word(meaning)


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
        names = [*names[:most - 1], gsm_fold(ngettext("%(num)d other agency", "%(num)d other agencies", others))]
    if len(names) < 2:
        return "".join(names)
    return _sms(gettext("%(names)s and %(last)s"), names=", ".join(names[:-1]), last=names[-1])


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
    return day_text(moment, weekday)


def window_text(footage_request: FootageRequest, agency: Agency, *, weekdays: bool = True,
                zone_name: bool = True) -> str:
    """The request's time window in the agency's local time, e.g. 'Tue Mar 3 14:05-15:05 CST'."""
    return span_text(footage_request.window_start, footage_request.window_end, agency, weekdays=weekdays,
                     zone_name=zone_name)


def span_text(start: datetime, end: datetime, agency: Agency, *, weekdays: bool = True,
              zone_name: bool = True) -> str:
    """Two moments in the agency's local time, as window_text words a request's window."""
    zone = agency_zone(agency)
    start = start.astimezone(zone)
    end = end.astimezone(zone)
    first = f"{_day(start, weekdays)} {start:%H:%M}"
    last = f"{end:%H:%M}" if end.date() == start.date() else f"{_day(end, weekdays)} {end:%H:%M}"
    return f"{first}-{last} {end:%Z}".strip() if zone_name else f"{first}-{last}"


def offset_text(seconds: int) -> str:
    """A recorder clock's offset in words, as the PWA says it (pwa/js/recorder-clock.js): '5 min 2 s fast'."""
    if abs(seconds) <= 1:
        return gettext("right (it matches the phone it was read with)")
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [ngettext("%(num)d day", "%(num)d days", days) if days else "", f"{hours} h" if hours else "",
             f"{minutes} min" if minutes and not days else "", f"{secs} s" if secs and not days and not hours else ""]
    amount = " ".join(p for p in parts if p)
    return gettext("%(amount)s fast", amount=amount) if seconds > 0 else gettext("%(amount)s slow", amount=amount)


def overwrite_text(days_left: int | None) -> str | None:
    """How long before the recorder records over the time asked for, and the reminder (as the PWA says it)."""
    if days_left is None:
        return None
    when = (gettext("Your recorder may already have recorded over the start of this time.") if days_left <= 0
            else ngettext("Your recorder records over this time in about %(num)d day.",
                          "Your recorder records over this time in about %(num)d days.", days_left))
    return f"{when} " + gettext("Export it now, decide later: saving a copy from your recorder shares nothing.")


def local_time_text(moment: datetime, agency: Agency, *, weekday: bool = True) -> str:
    local = moment.astimezone(agency_zone(agency))
    return f"{_day(local, weekday)} {local:%H:%M} {local:%Z}".strip()


def short_window_text(footage_request: FootageRequest, agency: Agency) -> str:
    """The window in the agency's local time, short: 'Dec 4 21:00-22:00', 'Dec 4 23:30-Dec 5 00:30'."""
    return window_text(footage_request, agency, weekdays=False, zone_name=False)


def sms_text(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    """The SMS asking an owner for footage (first, escalation or reminder)."""
    replies = _sms(gettext("Reply %(yes)s %(code)s to share, %(no)s %(code)s to decline, %(none)s %(code)s if "
                           "you have none."), code=ask.reply_code, yes=keyword("approve"), no=keyword("decline"),
                   none=keyword("no_footage"))
    expires_at = footage_request.expires_at
    reminder = kind == NotificationKind.REMINDER and expires_at is not None

    def text(label: str, weekdays: bool) -> str:
        values = {"program": PROGRAM, "agency": agency.name, "label": label, "case": footage_request.case_number,
                  "window": gsm_fold(window_text(footage_request, agency, weekdays=weekdays)),
                  "replies": replies, "url": ask_url(ask), "stop": keyword("stop")}
        if reminder:
            until = gsm_fold(local_time_text(expires_at, agency, weekday=weekdays))
            return _sms(gettext('%(program)s reminder: %(agency)s asks for footage from "%(label)s" (%(window)s), '
                                "case %(case)s, until %(until)s. %(replies)s %(url)s"), until=until, **values)
        return _sms(gettext('%(program)s: %(agency)s asks for footage from "%(label)s" (%(window)s), case '
                            "%(case)s. %(replies)s Reply %(stop)s to opt out. %(url)s"), **values)

    return _fitted(text, ask.camera_label)


def _ask_in_list(ask: Ask, with_agency: bool) -> str:
    request = ask.request
    values = {"case": request.case_number, "camera": shorten(ask.camera_label),
              "window": gsm_fold(short_window_text(request, request.agency))}
    if with_agency:
        return _sms(gettext("%(agency)s case %(case)s, camera %(camera)s, %(window)s"),
                    agency=shorten(request.agency.name, SHORT_AGENCY), **values)
    return _sms(gettext("case %(case)s, camera %(camera)s, %(window)s"), **values)


# More asks than this never fit in a listing's segments.
MAX_LISTED = 8


def open_asks_text(lead: str, asks: Sequence[Ask], word: str) -> str:
    """``lead`` and "Reply YES 7185 for case 26-0412, camera Gate, Dec 4 21:00-22:00; YES 2269 for ...".

    As many asks as fit in SMS_SEGMENTS, the rest counted with the link to the inbox that
    shows them all. When one ask alone takes more (a label outside GSM-7 makes the text
    UCS-2), as many as fit in the segments that one takes.
    """
    with_agency = len({ask.request.agency_id for ask in asks}) > 1
    items = [_sms(gettext("%(word)s %(code)s for %(ask)s"), word=word, code=ask.reply_code,
                  ask=_ask_in_list(ask, with_agency)) for ask in asks[:MAX_LISTED]]
    texts = []  # the most asks first; measured as sent
    for count in range(len(items), 0, -1):
        rest = len(asks) - count
        tail = (gsm_fold(ngettext("; %(num)d more in the app: %(url)s", "; %(num)d more in the app: %(url)s", rest,
                                  url=links.absolute_url(INBOX_PATH))) if rest else ".")
        texts.append(sms_plain(lead + _sms(gettext("Reply %(asks)s"), asks="; ".join(items[:count])) + tail))
    budget = max(SMS_SEGMENTS, sms_segments(texts[-1]))
    return next(text for text in texts if sms_segments(text) <= budget)


def sms_answer_text(answer: answers.SmsAnswer) -> str:
    """The reply to an SMS answer: thanks (with the upload link), why not, or which ask it may be."""
    return sms_plain(_answer_text(answer))


def _answer_text(answer: answers.SmsAnswer) -> str:
    word = keyword(answer.action)
    if answer.outcome == answers.CHOOSE:
        count = len(answer.open_asks)
        lead = gsm_fold(ngettext("%(num)d request is open. ", "%(num)d requests are open. ", count))
        return open_asks_text(lead, answer.open_asks, word)
    if answer.outcome == answers.UNKNOWN_CODE:
        return open_asks_text(_sms(gettext("No open request has code %(code)s. "), code=answer.code),
                              answer.open_asks, word)
    if answer.outcome == answers.NONE_OPEN:
        if answer.code is not None:
            return _sms(gettext("No open request has code %(code)s; you have no open requests."), code=answer.code)
        return _sms(gettext("You have no open requests right now."))
    ask = answer.ask
    if ask is None:
        raise ValueError(f"an SMS answer {answer.outcome!r} names no ask")
    code = ask.reply_code
    if answer.outcome == answers.REFUSED:
        return _sms(gettext("Request %(code)s: %(why)s"), code=code, why=gsm_fold(str(answer.refusal)))
    if answer.action == "approve":
        return _sms(gettext("Thank you. Upload your clip for request %(code)s here: %(link)s"), code=code,
                    link=links.upload_link(ask))
    if answer.action == "decline":
        return _sms(gettext("Thank you; you declined request %(code)s. Nothing is shared."), code=code)
    return _sms(gettext("Thank you; noted that you have no footage for request %(code)s."), code=code)


def help_text(agency_names: Sequence[str]) -> str:
    """The answer to HELP: the program, whose requests, how to answer, where to ask, STOP and START."""
    rules = _sms(gettext("To answer a request, reply %(yes)s, %(no)s or %(none)s and its code. %(rates)s "
                         "Reply %(stop)s to opt out, %(start)s to resume."), yes=keyword("approve"),
                 no=keyword("decline"), none=keyword("no_footage"), rates=rates(), stop=keyword("stop"),
                 start=keyword("start"))
    if not agency_names:
        return sms_plain(_sms(gettext("%(program)s: a voluntary camera registry of local police agencies. "
                                      "%(rules)s Info: %(url)s"), program=PROGRAM, rules=rules, url=links.base_url()))
    # Agencies keep no contact details here: the owner is pointed to the agency and the app.
    if len(set(agency_names)) == 1:
        template = gettext("%(program)s: camera footage requests from %(names)s. %(rules)s Questions: contact "
                           "the agency or visit %(url)s")
    else:
        template = gettext("%(program)s: camera footage requests from %(names)s. %(rules)s Questions: contact "
                           "the agencies or visit %(url)s")
    return _naming(lambda names: _sms(template, program=PROGRAM, names=names, rules=rules, url=links.base_url()),
                   agency_names)


def not_understood_text() -> str:
    return _sms(gettext("Sorry, that was not understood. To answer a request, reply %(yes)s, %(no)s or %(none)s "
                        "and its code; %(help)s for help."), yes=keyword("approve"), no=keyword("decline"),
                none=keyword("no_footage"), help=keyword("help"))


def confirmed_text(count: int) -> str:
    """The answer to CONFIRM (the yearly re-confirmation of the owner's cameras)."""
    if not count:
        return _sms(gettext("%(program)s: none of your cameras is waiting for a confirmation."), program=PROGRAM)
    return gsm_fold(ngettext("%(program)s: thank you, %(num)d camera confirmed. We will ask again in a year.",
                             "%(program)s: thank you, %(num)d cameras confirmed. We will ask again in a year.",
                             count, program=PROGRAM))


def not_linked_text() -> str:
    return _sms(gettext("This number is not linked to a verified Porchlight account."))


def stop_text() -> str:
    """The answer to a stop word Twilio does not know (ALTO, NRES): the opt-out confirmed, how to undo it."""
    return _sms(gettext("%(program)s: you will get no more texts. Reply %(start)s to get them again."),
                program=PROGRAM, start=keyword("start"))


def start_text(agency_names: Sequence[str]) -> str:
    """The answer to START: the texts resume (the opt-in confirmed again)."""
    def build(names: str) -> str:
        what = (_sms(gettext("camera footage requests from %(names)s"), names=names) if names
                else _sms(gettext("%(program)s messages"), program=PROGRAM))
        return _sms(gettext("%(program)s: you will get texts again: %(what)s. %(frequency)s %(rates)s Reply "
                            "%(help)s for help, %(stop)s to opt out."), program=PROGRAM, what=what,
                    frequency=frequency(), rates=rates(), help=keyword("help"), stop=keyword("stop"))

    return _naming(build, agency_names)


def verification_sms_text(code: str, agency_names: Sequence[str]) -> str:
    """The texted code that verifies an owner's number, which is also the opt-in confirmation.

    Verifying signs the number up for footage requests by text, so this first message
    names the program and says what the others will be (A2P 10DLC).
    """
    return _naming(lambda names: _sms(gettext(
        "Your %(program)s code is %(code)s (valid 10 minutes; do not share it). Entering it signs this number up "
        "for camera footage requests from %(names)s by text. %(frequency)s %(rates)s Reply %(help)s for help, "
        "%(stop)s to opt out."), program=PROGRAM, code=code,
        names=names or gsm_fold(gettext("the police agencies you join")), frequency=frequency(), rates=rates(),
        help=keyword("help"), stop=keyword("stop")), agency_names)


def number_claimed_sms_text() -> str:
    """To a verified number that someone gave for another account (at sign-up or in Settings)."""
    return _sms(gettext("%(program)s: someone tried to use this number for another account. It stays on yours; "
                        "nothing changed. If it was you, sign in, or reset your password: %(url)s %(rates)s"),
                program=PROGRAM, url=links.absolute_url(FORGOT_PATH), rates=rates())


# The notification's buttons (browsers show two at most); "no footage" is on the ask's page.
BUTTONS = ("approve", "decline")


def _actions(ask: Ask) -> dict[str, str]:
    """Signed links for the notification's buttons: POST to base + path, no session needed."""
    try:
        return links.action_urls(ask, BUTTONS)
    except ValueError:  # the request is no longer active
        return {}


def push_payload(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency,
                 window: str | None = None) -> str:
    """The JSON the service worker turns into a notification (title, body, buttons, link).

    ``window``: the request's window_text in the current language, when the caller has it
    (a fan-out words it once per request, not once per owner).
    """
    window = window or window_text(footage_request, agency)
    if kind == NotificationKind.REMINDER:
        title = gettext("Reminder: %(agency)s asks for footage", agency=agency.name)
    else:
        title = gettext("%(agency)s asks for footage", agency=agency.name)
    body = gettext("%(camera)s · %(window)s · case %(case)s", camera=ask.camera_label, window=window,
                   case=footage_request.case_number)
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
    # The member has no account, so no language: the agency's default (English until it has one).
    return _sms(gettext("Porchlight: %(district)s invites %(business)s to join %(agency)s's voluntary camera "
                        "registry. Sign up with code %(code)s: %(url)s Reply STOP to opt out."),
                district=district.name, business=business, agency=agency.name, code=display,
                url=codes.enrollment_url(code.code))


# --- notices: the request ended --------------------------------------------------------------

NOTICE_TYPE = "footage_request_closed"  # the service worker shows it without buttons
# How long a push service keeps an undelivered notice: the request has ended, so only
# a phone back on line within a day still needs to hear it.
NOTICE_TTL_SECONDS = 24 * 3600


def _approved(ask: Ask) -> bool:
    # An ask the request's end closed and the owner had answered: the owner approved it
    # (a decline or "no footage" is final, so the end left those alone).
    return ask.responded_at is not None


# app/clips/uploads.py: a closed request takes no clips (its upload link answers 409 or
# 410), an unfinished upload was deleted when it closed, and an approved ask that the end
# closed had no clip delivered (the first one makes it ``delivered``, which stays).
def _upload_ended() -> str:
    return gettext("Its upload link no longer works; an unfinished upload was deleted and nothing was shared.")


def notice_sms_text(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    """The SMS telling an owner the request this ask belongs to was withdrawn or has expired."""
    values = {"code": ask.reply_code, "agency": agency.name, "case": footage_request.case_number}
    upload = gsm_fold(_upload_ended()) + " " if _approved(ask) else ""

    def text(label: str, _weekdays: bool) -> str:
        if kind == NotificationKind.WITHDRAWN:
            ended = _sms(gettext('%(agency)s withdrew its request %(code)s for footage from "%(label)s" '
                                 "(case %(case)s)."), label=label, **values)
        else:
            ended = _sms(gettext('The request %(code)s from %(agency)s for footage from "%(label)s" (case '
                                 "%(case)s) has expired."), label=label, **values)
        return f"{PROGRAM}: {ended} {upload}" + _sms(gettext("No need to reply."))

    return _fitted(text, ask.camera_label)


def notice_push_payload(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    """The JSON of the notification that replaces the ask's earlier one: what ended, no buttons, to the inbox."""
    body = gettext("%(camera)s · case %(case)s.", camera=ask.camera_label, case=footage_request.case_number) + " "
    if _approved(ask):
        body += gettext("It takes no more clips; an unfinished upload was deleted and nothing was shared.") + " "
    body += gettext("No need to answer.")
    payload = {
        "type": NOTICE_TYPE,
        "kind": kind.value,
        "ask_id": ask.id,
        "tag": f"ask-{ask.id}",  # the earlier notification's tag: this one takes its place
        "title": (gettext("Withdrawn: %(agency)s's request for footage", agency=agency.name)
                  if kind == NotificationKind.WITHDRAWN
                  else gettext("Expired: %(agency)s's request for footage", agency=agency.name)),
        "body": body,
        "agency": agency.name,
        "case": footage_request.case_number,
        "camera": ask.camera_label,
        "url": links.absolute_url(INBOX_PATH),
        "actions": {},
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


# --- a delivered clip's fate (app/clips): first viewed, held, released, purged ---------------------

FATE_TYPE = "clip_fate"  # the service worker shows it without buttons and opens the History
HISTORY_PATH = "/#/history"


def fate_sentence(kind: NotificationKind, agency_name: str, label: str, case: str) -> str:
    """What happened to the clip, in one sentence (push body, SMS, e-mail)."""
    values = {"agency": agency_name, "label": label, "case": case}
    if kind == NotificationKind.CLIP_VIEWED:
        return gettext('%(agency)s opened the clip you shared from "%(label)s" (case %(case)s) for the first time.',
                       **values)
    if kind == NotificationKind.HOLD_PLACED:
        return gettext('%(agency)s placed the clip you shared from "%(label)s" (case %(case)s) under an evidence '
                       "hold: it is kept past the usual retention until the hold is released.", **values)
    if kind == NotificationKind.HOLD_RELEASED:
        return gettext('%(agency)s released the evidence hold on the clip you shared from "%(label)s" (case '
                       "%(case)s): it is deleted when its retention ends.", **values)
    if kind == NotificationKind.CLIP_PURGED:
        return gettext('%(agency)s deleted the clip you shared from "%(label)s" (case %(case)s): its retention '
                       "ended.", **values)
    raise ValueError(f"{kind} is not a clip's fate")


def fate_title(kind: NotificationKind) -> str:
    return {NotificationKind.CLIP_VIEWED: gettext("Your clip was opened"),
            NotificationKind.HOLD_PLACED: gettext("Your clip is under an evidence hold"),
            NotificationKind.HOLD_RELEASED: gettext("The evidence hold on your clip was released"),
            NotificationKind.CLIP_PURGED: gettext("Your clip was deleted")}[NotificationKind(kind)]


def fate_sms_text(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    """The SMS telling an owner what happened to the clip they delivered for this ask."""
    def text(label: str, _weekdays: bool) -> str:
        said = gsm_fold(fate_sentence(kind, agency.name, label, footage_request.case_number))
        return (f"{PROGRAM}: {said} " + _sms(gettext("Your history: %(url)s"), url=links.absolute_url(HISTORY_PATH))
                + " " + _sms(gettext("No need to reply.")))

    return _fitted(text, ask.camera_label)


def fate_push_payload(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    payload = {"type": FATE_TYPE, "kind": kind.value, "ask_id": ask.id, "tag": f"clip-{ask.id}-{kind.value}",
               "title": fate_title(kind),
               "body": fate_sentence(kind, agency.name, ask.camera_label, footage_request.case_number),
               "agency": agency.name, "case": footage_request.case_number, "camera": ask.camera_label,
               "url": links.absolute_url(HISTORY_PATH), "actions": {}}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
