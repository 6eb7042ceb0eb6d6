"""The printable invitation sheet (app/districts/pdf.py) wraps long names instead of cutting
them ("Demo Police D…" was all a card said of a long agency name)."""
from __future__ import annotations

import io
from types import SimpleNamespace

import pypdf
import pytest

from app.districts import pdf

pytestmark = pytest.mark.one_database  # a document, not the database

AGENCY = "Demo Police Department of the City and County of Milwaukee"
DISTRICT = "Historic Third Ward Business Improvement District"
BUSINESS = "Milwaukee Riverwalk Bicycle Repair and Coffee Cooperative"


def _words(text: str) -> list[str]:
    return " ".join(text.split()).split(" ")


def test_long_agency_district_and_business_names_wrap_whole(app):
    member = SimpleNamespace(business_name=BUSINESS, contact_name="Ana López", code="ABCD2345")
    for size in ("letter", "a4"):
        sheet = pdf.invitation_sheet([member], district_name=DISTRICT, agency_name=AGENCY,
                                     base_url="https://porchlight.example", page_size=size)
        [page] = pypdf.PdfReader(io.BytesIO(sheet)).pages
        text = page.extract_text()
        for line in text.splitlines():
            assert "…" not in line, line
        # Whole, wherever the lines break: the sheet's lines joined by spaces hold each name.
        shown = " ".join(_words(text))
        assert f"{DISTRICT} invites you to Porchlight · {AGENCY}" in shown and BUSINESS in shown, text
        assert "ABCD-2345" in text and "For Ana López" in text and "Page 1 of 1" in text


def test_wrap_breaks_between_words_and_cuts_only_beyond_the_room():
    regular, bold = pdf._register_fonts()
    lines = pdf.wrap(f"{DISTRICT} invites you to Porchlight · {AGENCY}", regular, 8.5, 250, 3)
    assert " ".join(lines) == f"{DISTRICT} invites you to Porchlight · {AGENCY}" and len(lines) > 1
    assert pdf.wrap("Short name", bold, 14, 250, 2) == ["Short name"]
    word = "Supercalifragilisticexpialidocious" * 2
    assert "".join(pdf.wrap(word, bold, 14, 120, 9)) == word  # a word wider than a line breaks inside
    cut = pdf.wrap(" ".join([BUSINESS] * 4), bold, 14, 250, 2)
    assert len(cut) == 2 and cut[-1].endswith("…")
