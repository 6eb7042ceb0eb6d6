"""Each agency's policy: the scope limits a request may reach without a supervisor, and retention.

An agency without a stored policy runs on the defaults (the model's column defaults);
reading never writes one, and the first change a supervisor makes stores it.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.accounts.models import User
from app.audit import service as audit
from app.db import utcnow
from app.errors import field_error, forbidden
from app.extensions import db
from app.footage import purpose
from app.footage.models import AgencyPolicy
from app.sql import dialect_insert

POLICY_FIELDS = ("max_radius_m", "max_window_minutes", "request_lifetime_hours", "escalation_minutes",
                 "reminder_before_expiry_hours", "clip_retention_days", "max_clip_bytes", "max_clips_per_ask",
                 "allow_self_approval")
# Lists kept on the policy (null: the defaults of app/footage/purpose.py); read as they apply.
PURPOSE_FIELDS = {"offense_categories": purpose.offense_categories, "prohibited_purposes": purpose.prohibited_purposes}


def staff_agency_id(user: User) -> int:
    """The agency a staff member works for; 403 for an account of none."""
    if user.agency_id is None:
        raise forbidden("Your account belongs to no agency.")
    return user.agency_id


def current_policy(agency_id: int) -> AgencyPolicy:
    """The agency's policy, or an unsaved one holding the defaults: reading writes nothing."""
    return db.session.get(AgencyPolicy, agency_id) or AgencyPolicy.defaults(agency_id)


def policy_for(agency_id: int) -> AgencyPolicy:
    """The agency's stored policy, created with the defaults on first use (in the caller's transaction)."""
    policy = db.session.get(AgencyPolicy, agency_id)
    if policy is None:
        # Two first requests at once must not fail on the primary key: insert-or-ignore.
        defaults = AgencyPolicy.defaults(agency_id)
        values = {key: getattr(defaults, key) for key in POLICY_FIELDS}
        db.session.execute(dialect_insert(AgencyPolicy).values(agency_id=agency_id, **values)
                           .on_conflict_do_nothing(index_elements=["agency_id"]))
        policy = db.session.get(AgencyPolicy, agency_id)
    return policy


def agency_policy(user: User) -> AgencyPolicy:
    """The policy of the staff member's agency, as it applies now."""
    return current_policy(staff_agency_id(user))


def _policy_snapshot(policy: AgencyPolicy) -> dict[str, int | bool]:
    return {key: getattr(policy, key) for key in POLICY_FIELDS}


def update_policy(supervisor: User, data: dict[str, Any]) -> AgencyPolicy:
    """Change the fields given; the audit event holds each changed field's before and after."""
    policy = policy_for(staff_agency_id(supervisor))
    before = _policy_snapshot(policy)
    after = {**before, **{k: v for k, v in data.items() if k in POLICY_FIELDS}}
    if after["reminder_before_expiry_hours"] >= after["request_lifetime_hours"]:
        field = "reminder_before_expiry_hours" if "reminder_before_expiry_hours" in data else "request_lifetime_hours"
        raise field_error(field, f"The reminder ({after['reminder_before_expiry_hours']} h before expiry) must come "
                                 f"before the request lifetime ({after['request_lifetime_hours']} h) runs out.")
    changed = {k: {"before": before[k], "after": after[k]} for k in POLICY_FIELDS if before[k] != after[k]}
    if "offense_categories" in data:
        purpose.check_taxonomy(data["offense_categories"])
    for key, effective in PURPOSE_FIELDS.items():
        if key in data and data[key] != effective(policy):
            changed[key] = {"before": effective(policy), "after": data[key]}
    if changed:
        for key, change in changed.items():
            setattr(policy, key, change["after"])
        policy.updated_by_id = supervisor.id
        policy.updated_at = utcnow()
        audit.record("policy.updated", target_type="agency_policy", target_id=policy.agency_id,
                     agency_id=policy.agency_id, details=changed)
    db.session.commit()
    return policy


def exceeded_limits(policy: AgencyPolicy, radius_m: float, window_start: datetime, window_end: datetime) -> list[str]:
    """Which of the policy's limits a request's scope goes over: "radius", "window", both or none."""
    exceeded = []
    if radius_m > policy.max_radius_m:
        exceeded.append("radius")
    if window_end - window_start > timedelta(minutes=policy.max_window_minutes):
        exceeded.append("window")
    return exceeded
