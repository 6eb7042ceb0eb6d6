"""Supervisors' and civilian oversight's view of their agency's audit log: filter, page, export as CSV,
check the chain. Oversight's reads are audited themselves (app/oversight/audited.py)."""
import csv
import io
import json
from collections.abc import Iterator

from apiflask import APIBlueprint, Schema, fields
from apiflask.validators import Length, Range
from flask import Response, stream_with_context

from app.accounts.models import Role
from app.audit import viewer
from app.auth import SECURITY, me, require_role
from app.common.csv_cells import neutralise
from app.common.fields import INT32_MAX, StrictInteger

bp = APIBlueprint("audit", __name__, url_prefix="/api/agency", tag="Audit")
READERS = (Role.SUPERVISOR, Role.OVERSIGHT)


class AuditFilterQuery(Schema):
    action = fields.String(validate=Length(max=64),
                           metadata={"description": "An action (ask.declined), or a family ending in * (ask.*)."})
    actor_id = StrictInteger(validate=Range(1, INT32_MAX), strict=False)
    target_type = fields.String(validate=Length(max=32), metadata={"description": "e.g. footage_request, clip, ask."})
    target_id = fields.String(validate=Length(max=64))
    from_ = fields.DateTime(data_key="from", metadata={"description": "From this time (inclusive, ISO 8601)."})
    to = fields.DateTime(metadata={"description": "Before this time (exclusive, ISO 8601)."})
    cursor = StrictInteger(validate=Range(1, INT32_MAX), strict=False,
                           metadata={"description": "The next_cursor of the previous page (events written before "
                                                    "the event of this id)."})


class AuditQuery(AuditFilterQuery):
    limit = StrictInteger(load_default=100, validate=Range(1, 500), strict=False)


class AuditEventOut(Schema):
    id = fields.Integer()
    chain = fields.String(metadata={"description": "agency:<id>, the agency's chain, or history: the sealed chain "
                                                   "of the events from before chains were per agency."})
    seq = fields.Integer(metadata={"description": "The event's position in its chain."})
    occurred_at = fields.DateTime()
    action = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_role = fields.String(allow_none=True)
    target_type = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    details = fields.Dict()
    hash = fields.String()


class AuditPageOut(Schema):
    events = fields.List(fields.Nested(AuditEventOut))
    next_cursor = fields.Integer(allow_none=True, metadata={"description": "Pass as cursor for the next page."})


class ChainProblemOut(Schema):
    chain = fields.String()
    kind = fields.String(metadata={"enum": ["changed", "inserted", "deleted", "misplaced", "link"]})
    seq = fields.Integer()
    in_your_agency = fields.Boolean()
    event_id = fields.Integer(allow_none=True)
    message = fields.String()


class ChainOut(Schema):
    chain = fields.String(metadata={"description": "agency:<id> or history."})
    kind = fields.String(metadata={"enum": ["agency", "history"]})
    ok = fields.Boolean()
    length = fields.Integer(metadata={"description": "Events in the chain, as its head records."})
    last_hash = fields.String(metadata={"description": "The head: the chain's last hash (its link while empty)."})
    link_hash = fields.String(metadata={"description": "The hash its first event chains from: the history chain's "
                                                       "final hash (zeros for the history chain)."})
    sealed = fields.Boolean(metadata={"description": "Nothing more is appended (the history chain)."})
    events_checked = fields.Integer()
    problem = fields.Nested(ChainProblemOut, allow_none=True)


class ChainStatusOut(Schema):
    ok = fields.Boolean(metadata={"description": "Both chains verify."})
    events_checked = fields.Integer()
    checked_at = fields.DateTime()
    problem = fields.Nested(ChainProblemOut, allow_none=True, metadata={"description": "The first problem found."})
    chains = fields.List(fields.Nested(ChainOut), metadata={"description": "The agency's chain, then the history "
                                                                           "chain it continues."})


CSV_EXPORT = {"description": "The matching events as CSV (UTF-8 with BOM), oldest first; cells that a spreadsheet "
                             "would read as a formula start with a single quote",
              "content": {"text/csv": {"schema": {"type": "string"}}}}
CSV_HEADER = ["seq", "occurred_at", "action", "actor_id", "actor_role", "target_type", "target_id", "details",
              "hash", "prev_hash", "chain"]


def _filters(query: dict) -> dict:
    query = dict(query)
    query["from"] = query.pop("from_", None)
    return query


@bp.get("/audit")
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditPageOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(*READERS)
def list_events(query):
    """Your agency's audit events (its chain and its part of the history chain), newest first, filtered and paged"""
    return viewer.events_page(me(), _filters(query))


def _csv_lines(events: Iterator) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield "\ufeff" + buffer.getvalue()  # the BOM makes Excel read UTF-8
    buffer.seek(0)
    buffer.truncate()
    for count, e in enumerate(events, 1):
        writer.writerow([neutralise(v) for v in (
            e.seq, e.occurred_at, e.action, e.actor_id, e.actor_role, e.target_type, e.target_id,
            json.dumps(e.details or {}, sort_keys=True, ensure_ascii=False), e.hash, e.prev_hash, e.chain)])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@bp.get("/audit.csv")
@bp.input(AuditFilterQuery, location="query", arg_name="query")
@bp.doc(security=SECURITY, responses={200: CSV_EXPORT, 401: "Unauthenticated", 403: "Forbidden",
                                      422: "Validation error"})
@require_role(*READERS)
def export_events(query):
    """Export your agency's audit events as CSV, with the same filters (audited)"""
    supervisor = me()
    filters = _filters(query)
    viewer.record_export(supervisor, filters)
    return Response(stream_with_context(_csv_lines(viewer.events_for_csv(supervisor, filters))), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"',
                             "Cache-Control": "private, no-store"})


@bp.get("/audit/verification")
@bp.output(ChainStatusOut)
@bp.doc(security=SECURITY, responses=[401, 403])
@require_role(*READERS)
def chain_verification():
    """Whether your agency's tamper-evident chain and the history chain verify, and where each first breaks"""
    return viewer.chain_status(me())
