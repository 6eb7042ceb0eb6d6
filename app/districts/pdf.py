"""The printable invitation sheet: per member a card with the business and contact
name, the enrollment code typed as XXXX-XXXX, and a QR code of its /e/<code> link.

Six cards a page (two columns, three rows) with cut marks, for door-to-door
enrollment. The QR codes are the enrollment module's PNGs drawn as images, so a
phone camera (or a test extracting the images) reads exactly what the app serves.
Text is set in DejaVu Sans when the system has it, else in the Vera font that
ships with reportlab; both are embedded, so names in any Latin script print.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import reportlab
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.units import inch
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from app.enrollment import codes

PAGE_SIZES = {"letter": LETTER, "a4": A4}
COLUMNS, ROWS = 2, 3
MARGIN = 0.4 * inch
QR_SIZE = 2.0 * inch

_FONT_CANDIDATES = [
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
]
_fonts: tuple[str, str] | None = None


def _register_fonts() -> tuple[str, str]:
    """(regular, bold) font names, registered once per process."""
    global _fonts
    if _fonts is not None:
        return _fonts
    vera = Path(reportlab.__file__).resolve().parent / "fonts"
    candidates = _FONT_CANDIDATES + [(str(vera / "Vera.ttf"), str(vera / "VeraBd.ttf"))]
    for regular, bold in candidates:
        if Path(regular).is_file() and Path(bold).is_file():
            pdfmetrics.registerFont(TTFont("SheetSans", regular))
            pdfmetrics.registerFont(TTFont("SheetSans-Bold", bold))
            _fonts = ("SheetSans", "SheetSans-Bold")
            return _fonts
    _fonts = ("Helvetica", "Helvetica-Bold")
    return _fonts


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` points."""
    text = " ".join((text or "").split())
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """``text`` in lines of at most ``width`` points, broken between words (inside a word
    only when the word alone is wider). Long names wrap rather than lose their end; only
    text beyond ``max_lines`` (more than a card has room for) is cut, with an ellipsis."""
    words = " ".join((text or "").split()).split(" ")
    lines: list[str] = []
    for word in words:
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and pdfmetrics.stringWidth(candidate, font, size) <= width:
            lines[-1] = candidate
            continue
        while pdfmetrics.stringWidth(word, font, size) > width and len(word) > 1:
            # A word wider than the line: as many letters as fit, the rest on the next.
            cut = len(word) - 1
            while cut > 1 and pdfmetrics.stringWidth(word[:cut], font, size) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines - 1] + [_fit(" ".join(lines[max_lines - 1:]), font, size, width)]
    return lines


def invitation_sheet(members: Sequence, *, district_name: str, agency_name: str, base_url: str,
                     page_size: str = "letter") -> bytes:
    """The PDF for ``members`` (objects with business_name, contact_name, code)."""
    regular, bold = _register_fonts()
    width, height = PAGE_SIZES.get(page_size.lower(), LETTER)
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height), pageCompression=1)
    pdf.setTitle(f"{district_name}: enrollment invitations")
    pdf.setAuthor("Porchlight")
    pdf.setSubject(f"Single-use enrollment codes for {agency_name}'s camera registry")
    card_w = (width - 2 * MARGIN) / COLUMNS
    card_h = (height - 2 * MARGIN - 0.3 * inch) / ROWS
    per_page = COLUMNS * ROWS
    pages = max(1, -(-len(members) // per_page))
    if not members:
        pdf.setFont(regular, 12)
        pdf.drawString(MARGIN, height - MARGIN - 12,
                       "No members to print on this sheet (enrolled members are left out unless chosen).")
    for index, member in enumerate(members):
        slot = index % per_page
        if slot == 0 and index:
            _footer(pdf, regular, width, agency_name, district_name, index // per_page, pages)
            pdf.showPage()
        column, row = slot % COLUMNS, slot // COLUMNS
        x = MARGIN + column * card_w
        y = height - MARGIN - (row + 1) * card_h
        _card(pdf, member, x, y, card_w, card_h, regular, bold, district_name, agency_name, base_url)
    _footer(pdf, regular, width, agency_name, district_name, pages, pages)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _card(pdf: canvas.Canvas, member, x: float, y: float, w: float, h: float, regular: str, bold: str,
          district_name: str, agency_name: str, base_url: str) -> None:
    # Cut marks: a light dashed frame.
    pdf.saveState()
    pdf.setDash(3, 3)
    pdf.setStrokeGray(0.7)
    pdf.rect(x, y, w, h, stroke=1, fill=0)
    pdf.restoreState()
    pad = 0.18 * inch
    inner = w - 2 * pad
    top = y + h - pad
    # The texts above the QR code wrap (a long agency or business name takes a second
    # line); the lines below move down to make room.
    pdf.setFillGray(0.35)
    pdf.setFont(regular, 8.5)
    baseline = top - 8
    for text in wrap(f"{district_name} invites you to Porchlight · {agency_name}", regular, 8.5, inner, 3):
        pdf.drawString(x + pad, baseline, text)
        baseline -= 9.5
    pdf.setFillGray(0)
    pdf.setFont(bold, 14)
    baseline -= 9.5
    for text in wrap(member.business_name, bold, 14, inner, 2):
        pdf.drawString(x + pad, baseline, text)
        baseline -= 15.5
    pdf.setFont(regular, 10.5)
    pdf.drawString(x + pad, baseline, _fit(f"For {member.contact_name}", regular, 10.5, inner))

    url = codes.enrollment_url(member.code)
    qr_y = y + pad + 4
    # The QR code gives up a little size when wrapped names leave it less room.
    qr_size = min(QR_SIZE, baseline - 4 - qr_y)
    pdf.drawImage(ImageReader(io.BytesIO(codes.qr_png(url))), x + pad - 6, qr_y, qr_size, qr_size)
    text_x = x + pad + QR_SIZE + 4
    text_w = x + w - pad - text_x
    line = min(qr_y + QR_SIZE - 18, baseline - 16)
    pdf.setFont(regular, 9)
    pdf.drawString(text_x, line, "Scan the code, or type")
    pdf.drawString(text_x, line - 11, "this enrollment code:")
    pdf.setFont("Courier-Bold", 19)
    pdf.drawString(text_x, line - 36, f"{member.code[:4]}-{member.code[4:]}")
    pdf.setFont(regular, 7.5)
    pdf.setFillGray(0.3)
    note = (f"at {base_url.rstrip('/')}/e/ — single use, for this business only. Joining is voluntary: "
            "you decide what to share, and can leave at any time.")
    room = max(1, int((line - 54 - (y + pad)) // 9.5) + 1)  # the note's lines that fit above the card's edge
    for offset, text in enumerate(simpleSplit(note, regular, 7.5, text_w)[:min(8, room)]):
        pdf.drawString(text_x, line - 54 - offset * 9.5, text)
    pdf.setFillGray(0)


def _footer(pdf: canvas.Canvas, font: str, width: float, agency_name: str, district_name: str, page: int,
            pages: int) -> None:
    pdf.setFont(font, 8)
    pdf.setFillGray(0.4)
    number = f"Page {page} of {pages}"
    # The names take the line but the page number (and a gap before it); long ones a second
    # line above it, in the margin under the cards.
    room = width - 2 * MARGIN - pdfmetrics.stringWidth(number, font, 8) - 18
    lines = wrap(f"Porchlight · {agency_name} · {district_name}", font, 8, room, 2)
    for offset, text in enumerate(reversed(lines)):
        pdf.drawString(MARGIN, MARGIN / 2 + offset * 9.5, text)
    pdf.drawRightString(width - MARGIN, MARGIN / 2, number)
    pdf.setFillGray(0)
