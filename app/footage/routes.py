"""Footage requests (officers, supervisors), agency policy, and asks (owners)."""
from apiflask import APIBlueprint
from flask import jsonify

from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.footage import answers, filters, inbox, lifecycle, policy, requests
from app.footage.schemas import (
    ActionResultOut,
    AskListQuery,
    AskOut,
    DeclineIn,
    FiltersIn,
    FiltersOut,
    PolicyOut,
    PolicyPatchIn,
    PreviewIn,
    PreviewOut,
    RequestIn,
    RequestListQuery,
    RequestOut,
    ReviewIn,
)

bp = APIBlueprint("footage", __name__, url_prefix="/api", tag="Footage requests")

STAFF = (Role.OFFICER, Role.SUPERVISOR)
ASKS = {"tags": ["Asks"]}


# --- agency policy ---------------------------------------------------------------------

@bp.get("/agency/policy")
@bp.output(PolicyOut)
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(*STAFF)
def get_policy():
    """Your agency's scope limits, retention, offense categories and prohibited purposes"""
    return policy.agency_policy(me())


@bp.patch("/agency/policy")
@bp.input(PolicyPatchIn, arg_name="data")
@bp.output(PolicyOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.SUPERVISOR)
def update_policy(data):
    """Change your agency's policy (only the fields given change)"""
    return policy.update_policy(me(), data)


# --- footage requests -----------------------------------------------------------------------

@bp.post("/requests")
@bp.input(RequestIn, arg_name="data")
@bp.output(RequestOut, status_code=201)
@bp.doc(security=SECURITY, responses=[401, 403, 409, 422])
@require_role(*STAFF)
def create_request(data):
    """Ask camera owners for footage of an incident

    Every request states its `legal_basis` (a warrant with `warrant_number` and
    `warrant_court`; exigent circumstances with `exigent_reason`), an `offense_category`
    of your agency's list and `affirm_no_prohibited_purpose: true` (both lists:
    `GET /api/agency/policy`); owners see the legal basis and category. Within your
    agency's limits the request goes out at once; over a limit, or asking again owners
    who declined or did not answer an overlapping request in the last 30 days
    (`re_ask`), it needs a `justification` and waits for a supervisor (`status`
    `pending_approval`).
    """
    return lifecycle.issue_request(me(), data)


@bp.post("/requests/preview")
@bp.input(PreviewIn, arg_name="data")
@bp.output(PreviewOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(*STAFF)
def preview_request(data):
    """How many cameras a request would ask, without sending it"""
    return lifecycle.preview_request(me(), data)


@bp.get("/requests")
@bp.input(RequestListQuery, location="query", arg_name="query")
@bp.output(RequestOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(*STAFF)
def list_requests(query):
    """Your agency's requests, newest first

    `?status=pending_approval` is the supervisor's approval queue.
    """
    return requests.list_requests(me(), query.get("status"), query["limit"])


@bp.get("/requests/<int:request_id>")
@bp.output(RequestOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404])
@require_role(*STAFF)
def get_request(request_id):
    """One request, with how many asks are in each state (never which owner)"""
    return requests.get_request(me(), request_id)


@bp.post("/requests/<int:request_id>/approve")
@bp.input(ReviewIn, arg_name="data")
@bp.output(RequestOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409, 422])
@require_role(Role.SUPERVISOR)
def approve_request(request_id, data):
    """Approve a request over the limits: it goes out, and the override is recorded

    Four eyes: the supervisor who made the request cannot approve it (403
    `self_approval_not_allowed`; it waits for another supervisor) unless the agency's
    policy sets `allow_self_approval`; then the request is marked `self_approved`,
    and counted on the public transparency report.
    """
    return lifecycle.approve_request(me(), request_id, data["reason"])


@bp.post("/requests/<int:request_id>/reject")
@bp.input(ReviewIn, arg_name="data")
@bp.output(RequestOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409, 422])
@require_role(Role.SUPERVISOR)
def reject_request(request_id, data):
    """Reject a request over the limits"""
    return lifecycle.reject_request(me(), request_id, data["reason"])


@bp.post("/requests/<int:request_id>/cancel")
@bp.output(RequestOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409])
@require_role(*STAFF)
def cancel_request(request_id):
    """Withdraw a request (its officer or a supervisor): unanswered asks are cancelled"""
    return lifecycle.cancel_request(me(), request_id)


# --- asks (owners) -------------------------------------------------------------------------------

@bp.get("/asks")
@bp.input(AskListQuery, location="query", arg_name="query")
@bp.output(AskOut(many=True))
@bp.doc(security=SECURITY, responses=[401, 403, 422], **ASKS)
@require_role(Role.OWNER)
def list_asks(query):
    """Footage requests made to you, open and past, newest first"""
    # The API's busiest read comes as plain rows that are already what AskOut dumps, field
    # for field (app/footage/inbox.py; tests/test_inbox.py holds the two together): sent
    # as they are, since a Response skips the schema's dump.
    return jsonify(inbox.inbox(me(), query["limit"], query.get("before_id")))


@bp.get("/asks/<int:ask_id>")
@bp.output(AskOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404], **ASKS)
@require_role(Role.OWNER)
def get_ask(ask_id):
    """One request made to you (opening it marks it seen)"""
    return answers.view_ask(me(), ask_id)


@bp.post("/asks/<int:ask_id>/approve")
@bp.output(AskOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409], **ASKS)
@require_role(Role.OWNER)
def approve_ask(ask_id):
    """Agree to share footage; then upload clips"""
    # A plain dict, already AskOut's document (app/footage/inbox.py): sent as it is.
    return jsonify(answers.answer_own_ask(me(), ask_id, "approve"))


@bp.post("/asks/<int:ask_id>/decline")
@bp.input(DeclineIn, arg_name="data")
@bp.output(AskOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409, 422], **ASKS)
@require_role(Role.OWNER)
def decline_ask(ask_id, data):
    """Decline (the reason is optional and only you see it)"""
    # A plain dict, already AskOut's document (app/footage/inbox.py): sent as it is.
    return jsonify(answers.answer_own_ask(me(), ask_id, "decline", data.get("reason")))


@bp.post("/asks/<int:ask_id>/no-footage")
@bp.output(AskOut)
@bp.doc(security=SECURITY, responses=[401, 403, 404, 409], **ASKS)
@require_role(Role.OWNER)
def no_footage(ask_id):
    """Say you have no footage of that time"""
    # A plain dict, already AskOut's document (app/footage/inbox.py): sent as it is.
    return jsonify(answers.answer_own_ask(me(), ask_id, "no_footage"))


@bp.post("/ask-actions/<token>")
@bp.output(ActionResultOut)
@bp.doc(responses=[403, 409, 410], **ASKS)
def ask_action(token):
    """Answer from a notification's button: the signed link is the authority, no session needed

    A link that was altered is answered 403; one whose request has ended, 410.
    """
    return answers.answer_with_token(token)


# --- the owner's filters ------------------------------------------------------------------------

@bp.get("/me/filters")
@bp.output(FiltersOut)
@bp.doc(security=SECURITY, responses=[401, 403], **ASKS)
@require_role(Role.OWNER)
def get_filters():
    """Your filters: requests they catch are declined without asking you"""
    return filters.filters_view(me())


@bp.patch("/me/filters")
@bp.input(FiltersIn, arg_name="data")
@bp.output(FiltersOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422], **ASKS)
@require_role(Role.OWNER)
def update_filters(data):
    """Change your filters, or pause every request until a date (only the fields given change)"""
    return filters.update_filters(me(), data)
