"""What owners read: the Web Push payload and the SMS texts about an ask.

Everything here is a pure function of the ask, its request and agency, so a resend
after a crash produces the same message (the SMS reconciliation compares bodies).
"""
from __future__ import annotations

import json
from datetime import datetime

from app import links
from app.agencies.models import Agency
from app.agencies.service import agency_zone
from app.enrollment import codes
from app.footage.models import Ask, FootageRequest
from app.notifications.models import NotificationKind

# Where the PWA shows one ask to its owner (served by the PWA's index page).
ASK_PATH = "/?ask={ask_id}"
# Encrypted Web Push payloads must stay under 4 KiB; leave room for the encryption overhead.
MAX_PUSH_PAYLOAD = 3000
HELP_TEXT = ("Porchlight: reply YES <code> to share footage, NO <code> to decline, NONE <code> if you have "
             "no footage. Text STOP to end messages, START to resume.")


def ask_url(ask: Ask) -> str:
    return links.absolute_url(ASK_PATH.format(ask_id=ask.id))


def window_text(footage_request: FootageRequest, agency: Agency) -> str:
    """The request's time window in the agency's local time, e.g. 'Tue Mar 3 14:05-15:05 CST'."""
    zone = agency_zone(agency)
    start = footage_request.window_start.astimezone(zone)
    end = footage_request.window_end.astimezone(zone)
    first = f"{start:%a %b} {start.day} {start:%H:%M}"
    last = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %b} {end.day} {end:%H:%M}"
    return f"{first}-{last} {end:%Z}".strip()


def local_time_text(moment: datetime, agency: Agency) -> str:
    local = moment.astimezone(agency_zone(agency))
    return f"{local:%a %b} {local.day} {local:%H:%M} {local:%Z}".strip()


def sms_text(kind: NotificationKind, ask: Ask, footage_request: FootageRequest, agency: Agency) -> str:
    code = ask.reply_code
    window = window_text(footage_request, agency)
    what = f'footage from "{ask.camera_label}" ({window}), case {footage_request.case_number}'
    replies = f"Reply YES {code} to share, NO {code} to decline, NONE {code} if you have none."
    if kind == NotificationKind.REMINDER and footage_request.expires_at is not None:
        closes = local_time_text(footage_request.expires_at, agency)
        return f"Porchlight reminder: {agency.name} still asks for {what}. It closes {closes}. {replies} {ask_url(ask)}"
    return f"Porchlight: {agency.name} asks for {what}. {replies} {ask_url(ask)}"


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
