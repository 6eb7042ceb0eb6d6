"""Yearly re-confirmation: once a year an owner confirms that each camera is still theirs and recording.

A registry of cameras nobody looks after any more sends requests into the void, and
keeps people "enrolled" who forgot they were. So CAMERA_CONFIRM_DAYS (365) after a
camera was last confirmed (or registered) the scheduler asks its owner to confirm it:
one notice per owner listing the cameras due, by e-mail to a verified address and by
SMS to a verified number (each where the owner chose that channel), and a "Confirm"
button on the camera in the app. A camera still unconfirmed CAMERA_CONFIRM_GRACE_DAYS
(30) after the notice pauses (``pause_reason`` "unconfirmed"): no requests reach it.
The owner is told, with how to resume: confirming it (one tap in the app), which
resumes it at once. Every step is audited.

Both steps run in the scheduler's tick (app/jobs.py), a bounded batch at a time, each
change a conditional UPDATE so that two schedulers never do one twice. Notices are sent
after the commit: one that fails is logged, and the app still shows the camera as due.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext, lazy_gettext

from app import links
from app.accounts.models import User
from app.audit import service as audit
from app.cameras.models import Camera, CameraStatus
from app.cameras.service import UNCONFIRMED, confirm
from app.common.settings import setting
from app.errors import ApiError
from app.extensions import db
from app.i18n import in_language
from app.i18n.dates import day_text
from app.links import absolute_url
from app.notifications import keywords, mail, mail_log
from app.notifications.messages import PROGRAM, gsm_fold, keyword
from app.notifications.service import _send_direct, is_opted_out

log = logging.getLogger(__name__)

CAMERAS_PATH = "/#/cameras"
# Cameras handled per tick and step: a year's worth of a large city arrives spread out anyway.
BATCH = 500


def confirm_every() -> timedelta:
    return timedelta(days=setting("CAMERA_CONFIRM_DAYS"))


def grace() -> timedelta:
    return timedelta(days=setting("CAMERA_CONFIRM_GRACE_DAYS"))


# --- the scheduler's steps ------------------------------------------------------------------------

def _round(owner_id: int, moment: datetime) -> sa.Select:
    """The owner's cameras asked for confirmation at ``moment`` (to the second: a link carries no more)."""
    return (sa.select(Camera).where(Camera.owner_id == owner_id, Camera.confirm_requested_at >= moment,
                                    Camera.confirm_requested_at < moment + timedelta(seconds=1))
            .order_by(Camera.id))


def cameras_for_link(token: str) -> tuple[User, list[Camera]]:
    """The account an e-mailed confirmation link names and the cameras it still confirms; 404 if altered."""
    owner_id, moment = links.read_camera_confirm_token(token)
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.active:
        raise ApiError(404, "invalid_link", lazy_gettext("This link is not valid; use the link from your latest "
                                                         "e-mail, or confirm your cameras in the app."))
    return owner, list(db.session.scalars(_round(owner.id, moment)))


def confirm_from_link(token: str) -> tuple[User, list[Camera]]:
    """The button on the e-mailed link's page: confirm every camera of that round (commits)."""
    owner, cameras = cameras_for_link(token)
    for camera in cameras:
        confirm(camera, owner, "email")
    db.session.commit()
    return owner, cameras


def request_due_confirmations(now: datetime) -> int:
    """Ask the owners of cameras last confirmed a year ago to confirm them; returns how many cameras."""
    due = db.session.execute(
        sa.select(Camera.id, Camera.owner_id, Camera.label)
        .where(Camera.confirm_requested_at.is_(None), Camera.confirmed_at <= now - confirm_every())
        .order_by(Camera.id).limit(BATCH)).all()
    asked: dict[int, list[str]] = defaultdict(list)
    for camera_id, owner_id, label in due:
        if db.session.execute(sa.update(Camera).where(Camera.id == camera_id, Camera.confirm_requested_at.is_(None))
                              .values(confirm_requested_at=now)).rowcount:
            asked[owner_id].append(label)
            audit.record("camera.confirmation_requested", target_type="camera", target_id=camera_id,
                         actor=audit.NO_ACTOR, details={"due_by": (now + grace()).isoformat()})
    db.session.commit()
    _tell(asked, _request_texts, now + grace(), now)
    return sum(len(labels) for labels in asked.values())


def pause_unconfirmed(now: datetime) -> int:
    """Pause the active cameras whose confirmation did not come within the grace period; returns how many."""
    due = db.session.execute(
        sa.select(Camera.id, Camera.owner_id, Camera.label)
        .where(Camera.confirm_requested_at <= now - grace(), Camera.status == CameraStatus.ACTIVE)
        .order_by(Camera.id).limit(BATCH)).all()
    paused: dict[int, list[str]] = defaultdict(list)
    for camera_id, owner_id, label in due:
        if db.session.execute(sa.update(Camera).where(Camera.id == camera_id, Camera.status == CameraStatus.ACTIVE,
                                                      Camera.confirm_requested_at <= now - grace())
                              .values(status=CameraStatus.PAUSED, pause_reason=UNCONFIRMED)).rowcount:
            paused[owner_id].append(label)
            audit.record("camera.paused", target_type="camera", target_id=camera_id, actor=audit.NO_ACTOR,
                         details={"reason": UNCONFIRMED})
    db.session.commit()
    _tell(paused, _paused_texts, None, None)
    return sum(len(labels) for labels in paused.values())


# --- telling the owner ----------------------------------------------------------------------------

def _names(labels: Sequence[str]) -> str:
    return ", ".join(f"“{label}”" for label in labels[:5]) + (" …" if len(labels) > 5 else "")


def _request_texts(labels: Sequence[str], by: datetime | None) -> tuple[str, str, str]:
    """(subject, e-mail text, SMS) asking to confirm ``labels`` by ``by``, in the current language."""
    values = {"program": PROGRAM, "cameras": _names(labels), "url": absolute_url(CAMERAS_PATH),
              "date": day_text(by, weekday=False) if by else ""}
    subject = gettext("Please confirm your cameras in %(program)s", program=PROGRAM)
    text = gettext("Once a year %(program)s asks you to confirm that each camera you registered is still yours and "
                   "still recording: %(cameras)s.\n\nOpen %(url)s and press “Confirm” on each one by %(date)s. A "
                   "camera not confirmed by then is paused: no requests reach it until you confirm it.", **values)
    sms = gsm_fold(gettext("%(program)s: once a year, please confirm your cameras are still yours and recording: "
                           "reply %(word)s, or open %(url)s and press Confirm, by %(date)s, or they pause.",
                           word=keyword(keywords.CONFIRM), **values))
    return subject, text, sms


def _paused_texts(labels: Sequence[str], _by: datetime | None) -> tuple[str, str, str]:
    """(subject, e-mail text, SMS) saying ``labels`` paused for want of a confirmation, and how to resume."""
    values = {"program": PROGRAM, "cameras": _names(labels), "url": absolute_url(CAMERAS_PATH)}
    subject = gettext("Your cameras in %(program)s are paused", program=PROGRAM)
    text = gettext("These cameras were not confirmed within a month of our reminder, so they are paused and no "
                   "requests reach them: %(cameras)s.\n\nTo resume one, open %(url)s and press “Confirm” on it.",
                   **values)
    sms = gsm_fold(gettext("%(program)s: cameras you did not confirm are paused; no requests reach them. To resume, "
                           "reply %(word)s or open %(url)s and press Confirm.", word=keyword(keywords.CONFIRM),
                           **values))
    return subject, text, sms


def _tell(by_owner: dict[int, list[str]], texts: Callable[[Sequence[str], datetime | None], tuple[str, str, str]],
          by: datetime | None, round_: datetime | None) -> None:
    """One notice per owner on each of their channels that takes one (verified e-mail, verified phone).

    With ``round_`` (the time they were asked), the e-mail carries a link that confirms them all
    (``/confirm/<token>``, app/notifications/email_pages.py): the e-mail is proof of the address.
    """
    if not by_owner:
        return
    for owner in db.session.scalars(sa.select(User).where(User.id.in_(sorted(by_owner)), User.active)):
        with in_language(owner.language):
            subject, text, sms = texts(by_owner[owner.id], by)
            if round_ is not None:
                text += "\n\n" + gettext("Or confirm them all at once with this link:") + "\n" + \
                    links.camera_confirm_link(owner.id, round_)
        try:
            if owner.email and owner.email_verified and owner.notify_email:
                mail_log.send_now(owner, mail.Mail(to=owner.email, subject=subject, text=text + "\n"))
            if owner.phone and owner.phone_verified and owner.notify_sms and not is_opted_out(owner.phone):
                _send_direct(owner, owner.phone, sms)
            db.session.commit()
        except Exception:
            # The camera stays marked as due in the app; this owner's notice is not retried.
            db.session.rollback()
            log.exception("could not tell owner %d about camera confirmations", owner.id)
