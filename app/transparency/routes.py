"""The public transparency report: JSON and CSV per agency, no sign-in."""
from apiflask import APIBlueprint
from flask import Response

from app.audit import checkpoints
from app.audit.models import agency_chain
from app.transparency import service
from app.transparency.schemas import CheckpointsOut, CsvReportQuery, PublicAgencyOut, ReportOut, ReportQuery

bp = APIBlueprint("transparency", __name__, url_prefix="/api/public", tag="Transparency")

# Aggregates change slowly and anyone may read them: let browsers and proxies keep them a while.
CACHE = {"Cache-Control": "public, max-age=300"}

_DEFINITIONS = (
    "Months are calendar months in the agency's time zone; each figure is counted in the month of its "
    "own event. Rates are shares of the month's asks that reached an outcome (approved, declined, no "
    "footage, expired); cancelled and still-open asks are no outcome. Cameras are counted over grid "
    "cells of 0.01 degrees; a cell with fewer than 5 cameras is never shown, and the totals are sums "
    "over the shown cells only. Counts of requests by legal basis, offense category and re-ask follow the "
    "same rule: from 1 to 4 is never shown. No owner, camera, case number or exact location is ever included."
)


@bp.get("/agencies")
@bp.output(PublicAgencyOut(many=True))
def list_agencies():
    """Agencies with a public transparency report"""
    return service.public_agencies(), 200, CACHE


@bp.get("/agencies/<string:slug>/report")
@bp.input(ReportQuery, location="query", arg_name="query")
@bp.output(ReportOut)
@bp.doc(description=_DEFINITIONS, responses=[404, 422])
def agency_report(slug, query):
    """An agency's transparency report: monthly figures and camera counts per area"""
    return service.report(slug, query.get("from_"), query.get("to")), 200, CACHE


@bp.get("/agencies/<string:slug>/report.csv")
@bp.input(CsvReportQuery, location="query", arg_name="query")
@bp.doc(description="The monthly table of the report as CSV (one row per month), or with `table=purposes` the "
                    "requests by legal basis and offense category. " + _DEFINITIONS,
        responses={200: {"description": "The table asked for, CSV with a header row",
                         "content": {"text/csv": {"schema": {"type": "string"}}}},
                   404: "Agency not found", 422: "Invalid from/to"})
def agency_report_csv(slug, query):
    """An agency's monthly transparency figures, CSV"""
    data = service.report(slug, query.get("from_"), query.get("to"))
    table = query["table"]
    text = service.report_csv(data) if table == "months" else service.purposes_csv(data)
    return Response(text, mimetype="text/csv", headers={
        **CACHE, "Content-Disposition": f'attachment; filename="{service.csv_filename(data, table)}"'})


# --- signed audit checkpoints ----------------------------------------------------------------------

_CHECKPOINTS = ("Signed checkpoints of the audit log: each says that a chain held the event at `seq` with `hash` "
                "when it was signed. A log later trimmed or rewritten no longer matches a checkpoint published "
                "before, which anyone holding a copy of this document can show.")


@bp.get("/audit/checkpoints")
@bp.output(CheckpointsOut)
@bp.doc(description=_CHECKPOINTS)
def installation_checkpoints():
    """The installation's signed audit checkpoints (its own chain and the sealed history chain) and public key"""
    return checkpoints.published(checkpoints.installation_chains()), 200, CACHE


@bp.get("/agencies/<string:slug>/checkpoints")
@bp.output(CheckpointsOut)
@bp.doc(description=_CHECKPOINTS, responses=[404])
def agency_checkpoints(slug):
    """An agency's signed audit checkpoints and the installation's public key"""
    agency = service.agency_by_slug(slug)
    return checkpoints.published([agency_chain(agency.id)]), 200, CACHE
