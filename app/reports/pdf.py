"""The annual report as a printable PDF: the same figures as the JSON, section by section.

Set like the invitation sheet (app/districts/pdf.py, whose fonts and line wrapping it
uses): DejaVu Sans when the system has it, else reportlab's Vera, embedded. A hidden
small count prints as "—", explained at the top; the agency's own entries print in a
framed box headed "Entered by the agency, not computed", their long texts wrapped
over as many lines (and pages) as they need.
"""
from __future__ import annotations

import io
from typing import Any

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

from app.districts.pdf import _register_fonts, wrap
from app.reports.service import ENTERED_NOTE

MARGIN = 0.75 * inch
LINE = 14
HIDDEN = "—"

# (section key, heading, [(figure key, label)])
SECTIONS: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("requests", "Requests", [
        ("total", "Footage requests made"), ("by_status.active", "Still active"),
        ("by_status.expired", "Ran their course"), ("by_status.cancelled", "Withdrawn by the officer"),
        ("by_status.rejected", "Refused by a supervisor (over a limit)"),
        ("by_status.pending_approval", "Waiting for a supervisor"),
        ("re_asks", "Re-asks of owners who had declined or not answered (need a supervisor)")]),
    ("reviews", "Supervisor approvals of over-limit requests", [
        ("reviewed", "Over-limit requests decided"), ("over_limit_approved", "Approved"),
        ("over_limit_rejected", "Rejected"), ("self_approved", "Approved by the supervisor who made the request"),
        ("re_asks_approved", "Re-asks of owners who had declined, approved")]),
    ("outcomes", "What owners answered (asks sent in the year)", [
        ("asks", "Asks sent (one per camera)"), ("approved", "Approved"), ("delivered", "Of those, footage delivered"),
        ("declined", "Declined (including the owners' standing filters)"),
        ("declined_by_owner_filters", "Of those, declined by an owner's standing filter"), ("no_footage", "No footage"),
        ("expired", "No answer before the request ended"), ("cancelled", "Withdrawn by the officer"),
        ("open", "Still open")]),
    ("scope", "Scope of requests", [
        ("radius.radius_up_to_100_m", "Radius up to 100 m"), ("radius.radius_101_to_250_m", "Radius 101-250 m"),
        ("radius.radius_251_to_500_m", "Radius 251-500 m"), ("radius.radius_over_500_m", "Radius over 500 m"),
        ("window.window_up_to_30_min", "Time window up to 30 minutes"),
        ("window.window_31_to_60_min", "Time window 31-60 minutes"),
        ("window.window_61_to_120_min", "Time window 61-120 minutes"),
        ("window.window_over_120_min", "Time window over 120 minutes")]),
    ("clips", "Clips", [
        ("received", "Received"), ("first_viewed", "First viewed by the agency"),
        ("placed_under_hold", "Placed under an evidence hold"), ("purged", "Purged when retention ended")]),
    ("retention", "Retention compliance", [
        ("past_retention_not_purged_or_held", "Past retention at the end of the period, neither purged nor held"),
        ("purged_late", "Purged more than a day after retention ended")]),
    ("sharing", "Sharing with other agencies", [
        ("clips_passed_to_other_agencies", "Clips passed to another agency through Porchlight"),
        ("downloads", "Clip files downloaded by the agency's staff"),
        ("cameras_also_shared_with_other_agencies", "Cameras also shared by their owners with other agencies")]),
    ("complaints", "Complaints about requests", [
        ("total", "Received"), ("open", "Open"), ("sustained", "Sustained"), ("not_sustained", "Not sustained"),
        ("unfounded", "Unfounded"), ("exonerated", "Exonerated"), ("withdrawn", "Withdrawn")]),
]

BASIS_NAMES = {"voluntary": "Voluntary request", "warrant": "Warrant", "exigent": "Exigent circumstances"}
ENTRY_LABELS = (("costs", "Costs"), ("funding_source", "Funding source"), ("policy_changes", "Policy changes"))


def _value(section: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        section = section.get(key) if isinstance(section, dict) else None
    return section


class _Page:
    """A top-to-bottom writer that starts a new page when the next line would not fit."""

    def __init__(self, pdf: canvas.Canvas, fonts: tuple[str, str], footer: str) -> None:
        self.pdf, (self.regular, self.bold) = pdf, fonts
        self.width, self.height = LETTER
        self.text_width = self.width - 2 * MARGIN
        self.footer = footer
        self.page = 1
        self.y = self.height - MARGIN

    def room(self, lines: int = 1) -> None:
        if self.y - lines * LINE < MARGIN + LINE:
            self.finish_page()
            self.pdf.showPage()
            self.page += 1
            self.y = self.height - MARGIN

    def finish_page(self) -> None:
        self.pdf.setFont(self.regular, 8)
        self.pdf.drawString(MARGIN, MARGIN / 2, f"{self.footer} · page {self.page}")

    def text(self, text: str, *, size: float = 10, bold: bool = False, indent: float = 0) -> None:
        font = self.bold if bold else self.regular
        for line in wrap(text, font, size, self.text_width - indent, max_lines=10_000):
            self.room()
            self.pdf.setFont(font, size)
            self.pdf.drawString(MARGIN + indent, self.y - size, line)
            self.y -= max(LINE, size + 4)

    def figure(self, label: str, value: Any) -> None:
        shown = HIDDEN if value is None else str(value)
        lines = wrap(label, self.regular, 10, self.text_width - 1.2 * inch, max_lines=4)
        self.room(len(lines))
        self.pdf.setFont(self.regular, 10)
        for i, line in enumerate(lines):
            self.pdf.drawString(MARGIN + 12, self.y - 10 - i * LINE, line)
        self.pdf.setFont(self.bold, 10)
        self.pdf.drawRightString(self.width - MARGIN, self.y - 10, shown)
        self.y -= LINE * len(lines)

    def gap(self, points: float = 8) -> None:
        self.y -= points


def annual_report_pdf(data: dict[str, Any]) -> bytes:
    fonts = _register_fonts()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=LETTER, pageCompression=1)
    name, year = data["agency"]["name"], data["year"]
    pdf.setTitle(f"{name}: annual report {year}")
    pdf.setAuthor("Porchlight")
    pdf.setSubject(f"{name}'s use of the Porchlight camera registry in {year}")
    page = _Page(pdf, fonts, f"{name} · annual report {year}")
    page.text(f"Annual report {year}: {name}", size=16, bold=True)
    period = "the whole year" if data["complete"] else f"the year so far (to {data['period_end']:%Y-%m-%d})"
    page.text(f"Generated from Porchlight's records on {data['generated_at']:%Y-%m-%d %H:%M} UTC, covering {period} "
              f"in the agency's time zone ({data['agency']['timezone']}). Counts only: no owner, camera, case "
              "number or place.")
    page.text(f"{HIDDEN} marks a count hidden by the small-cell rule: a count of 1 to {data['min_count'] - 1}, or one "
              "that would let such a count be worked out by subtraction, is never published.")
    tables = (("legal_basis", "Requests by legal basis", lambda c: BASIS_NAMES.get(c["key"], c["key"])),
              ("offense_categories", "Requests by offense category", lambda c: c["name"]))
    for table, heading, name in tables:
        page.gap()
        page.room(3)
        page.text(heading, size=12, bold=True)
        for cell in data["purposes"][table]:
            page.figure(name(cell), cell["requests"])
    for key, heading, figures in SECTIONS:
        page.gap()
        page.room(3)
        page.text(heading, size=12, bold=True)
        for path, label in figures:
            page.figure(label, _value(data[key], path))
        if key == "sharing":
            page.text(data["sharing"]["statement"], size=9, indent=12)

    audit = data["audit"]
    page.gap()
    page.room(3)
    page.text("Audit log", size=12, bold=True)
    if audit["ok"]:
        verdict = (f"The agency's audit chain verified intact at {audit['verified_at']:%Y-%m-%d %H:%M} UTC: "
                   f"{audit['events_checked']} events, head {audit['head_hash']}.")
    else:
        verdict = (f"The agency's audit chain FAILED verification at {audit['verified_at']:%Y-%m-%d %H:%M} UTC: "
                   f"{audit['problem']['kind']} at seq {audit['problem']['seq']}.")
    page.text(verdict, indent=12)
    signed = audit["checkpoints"]
    if signed["published"]:
        held = ("the log still holds every one" if not signed["not_held_by_log"]
                else f"the log NO LONGER HOLDS {signed['not_held_by_log']} of them")
        page.text(f"Signed checkpoints published in the year: {signed['published']}; {held}. Last: seq "
                  f"{signed['last']['seq']}, {signed['last']['hash']}, signed {signed['last']['signed_at']} "
                  f"(key {signed['last']['key_id']}).", size=9, indent=12)
    else:
        page.text("No signed checkpoint of the agency's audit log was published in the year.", size=9, indent=12)

    entered = data["entered"]
    page.gap(12)
    page.room(4)
    top, first_page = page.y, page.page
    page.text("Entered by the agency, not computed", size=12, bold=True, indent=8)
    page.text(ENTERED_NOTE, size=9, indent=8)
    for key, label in ENTRY_LABELS:
        page.text(label, bold=True, indent=8)
        page.text(entered[key] or "(nothing entered)", indent=20)
    # The frame marks the box off from the computed figures (when the box fits on one page;
    # the heading says it either way).
    if page.page == first_page:
        pdf.rect(MARGIN, page.y - 4, page.text_width, top - page.y + 4)
    page.finish_page()
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
