"""Supervisors' view of their agency's audit log: filter, page, export as CSV, check the chain."""
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



class AuditFilterQuery(Schema):
    action = fields.String(validate=Length(max=64),
                           metadata={"description": "An action (ask.declined), or a family ending in * (ask.*)."})
    actor_id = StrictInteger(validate=Range(1, INT32_MAX), strict=False)
    target_type = fields.String(validate=Length(max=32), metadata={"description": "e.g. footage_request, clip, ask."})
    target_id = fields.String(validate=Length(max=64))
    from_ = fields.DateTime(data_key="from", metadata={"description": "From this time (inclusive, ISO 8601)."})
    to = fields.DateTime(metadata={"description": "Before this time (exclusive, ISO 8601)."})
    cursor = StrictInteger(validate=Range(1, INT32_MAX), strict=False,
                           metadata={"description": "The next_cursor of the previous page (events before this seq)."})


class AuditQuery(AuditFilterQuery):
    limit = StrictInteger(load_default=100, validate=Range(1, 500), strict=False)


class AuditEventOut(Schema):
    id = fields.Integer()
    seq = fields.Integer()
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
    kind = fields.String(metadata={"enum": ["changed", "inserted", "deleted"]})
    seq = fields.Integer()
    in_your_agency = fields.Boolean()
    event_id = fields.Integer(allow_none=True)
    message = fields.String()


class ChainStatusOut(Schema):
    ok = fields.Boolean()
    events_checked = fields.Integer()
    checked_at = fields.DateTime()
    problem = fields.Nested(ChainProblemOut, allow_none=True)


CSV_EXPORT = {"description": "The matching events as CSV (UTF-8 with BOM), oldest first; cells that a spreadsheet "
                             "would read as a formula start with a single quote",
              "content": {"text/csv": {"schema": {"type": "string"}}}}
CSV_HEADER = ["seq", "occurred_at", "action", "actor_id", "actor_role", "target_type", "target_id", "details",
              "hash", "prev_hash"]


def _filters(query: dict) -> dict:
    query = dict(query)
    query["from"] = query.pop("from_", None)
    return query


@bp.get("/audit")
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditPageOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.SUPERVISOR)
def list_events(query):
    """Your agency's audit events, newest first, filtered and paged by seq"""
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
            json.dumps(e.details or {}, sort_keys=True, ensure_ascii=False), e.hash, e.prev_hash)])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@bp.get("/audit.csv")
@bp.input(AuditFilterQuery, location="query", arg_name="query")
@bp.doc(security=SECURITY, responses={200: CSV_EXPORT, 401: "Unauthenticated", 403: "Forbidden",
                                      422: "Validation error"})
@require_role(Role.SUPERVISOR)
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
@require_role(Role.SUPERVISOR)
def chain_verification():
    """Whether the tamper-evident chain verifies, and where it first breaks"""
    return viewer.chain_status(me())
