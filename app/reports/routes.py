"""The annual report: public (JSON, CSV, PDF per agency and year, no sign-in), and the
fields a supervisor enters on it."""
from apiflask import APIBlueprint
from flask import Response

from app.accounts.models import Role
from app.auth import SECURITY, me, require_role
from app.ratelimits import RATE_LIMITED, client_ip, limited
from app.reports import service
from app.reports.pdf import annual_report_pdf
from app.reports.schemas import AnnualEntriesIn, AnnualEntriesOut, AnnualReportOut

bp = APIBlueprint("reports", __name__, tag="Annual report")

# As the transparency report: aggregates anyone may read, kept a while by browsers and proxies.
CACHE = {"Cache-Control": "public, max-age=300"}

_DEFINITIONS = (
    "Per agency and calendar year (in the agency's time zone), generated from Porchlight's records when asked; "
    "each figure counts in the year of its own event. Counts only: no owner, camera, case number or place. "
    "Small-cell rule (k = 5): a count of 1 to 4 is never shown (null in JSON, empty in CSV, a dash in the PDF), "
    "nor a sub-count whose rest would be 1 to 4, and within a group enough further counts are hidden that the "
    "hidden ones add up to 0 or at least 5, so none can be worked out by subtraction. The `entered` fields are "
    "entered by the agency, not computed."
)
_FILE_RESPONSES = {404: "Agency not found", 422: "Year outside 2000 to the current year", 429: RATE_LIMITED}


def _limited(view):
    # Each report verifies the agency's audit chain: generating them is what a client may not repeat at will.
    return limited("RATELIMIT_ANNUAL_REPORT", client_ip, "annual reports generated for this address",
                   shared_scope="annual-report")(view)

_PUBLIC = "/api/public/agencies/<string:slug>/reports/<int:year>"


@bp.get(_PUBLIC)
@_limited
@bp.output(AnnualReportOut)
@bp.doc(description=_DEFINITIONS, responses={404: "Agency not found", 422: "Year outside 2000 to the current year",
                                             429: RATE_LIMITED})
def annual_report(slug, year):
    """An agency's annual report for one year"""
    return service.annual_report(slug, year), 200, CACHE


def _file(body, mimetype: str, name: str) -> Response:
    return Response(body, mimetype=mimetype, headers={**CACHE, "Content-Disposition": f'attachment; filename="{name}"'})


@bp.get(_PUBLIC + ".csv")
@_limited
@bp.doc(description="The annual report as CSV: one row per figure (section, figure, value, source); a hidden "
                    "count is an empty value. " + _DEFINITIONS,
        responses={200: {"description": "The figures, CSV with a header row",
                         "content": {"text/csv": {"schema": {"type": "string"}}}}, **_FILE_RESPONSES})
def annual_report_csv(slug, year):
    """An agency's annual report, CSV"""
    data = service.annual_report(slug, year)
    return _file(service.report_csv(data), "text/csv", service.filename(data, "csv"))


@bp.get(_PUBLIC + ".pdf")
@_limited
@bp.doc(description="The annual report as a printable PDF. " + _DEFINITIONS,
        responses={200: {"description": "The report, PDF",
                         "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                   **_FILE_RESPONSES})
def annual_report_pdf_file(slug, year):
    """An agency's annual report, PDF"""
    data = service.annual_report(slug, year)
    return _file(annual_report_pdf(data), "application/pdf", service.filename(data, "pdf"))


@bp.get("/api/agency/reports/<int:year>/entries")
@bp.output(AnnualEntriesOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.OFFICER, Role.SUPERVISOR)
def get_entries(year):
    """What your agency entered on its annual report for a year (costs, funding, policy changes)"""
    return service.entries(me(), year)


@bp.patch("/api/agency/reports/<int:year>/entries")
@bp.input(AnnualEntriesIn, arg_name="data")
@bp.output(AnnualEntriesOut)
@bp.doc(security=SECURITY, responses=[401, 403, 422])
@require_role(Role.SUPERVISOR)
def patch_entries(year, data):
    """Enter your agency's costs, funding source and policy changes for a year's report (audited; fields left
    out stay as they are, null or blank clears one)"""
    return service.update_entries(me(), year, data)
