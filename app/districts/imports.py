"""Importing a district's member spreadsheet: a dry run, then a commit.

1. :func:`check_import` (the dry run) reads the file (``importer``), validates every
   row, and stages the rows in ``district_import_rows`` in chunks; duplicates inside
   the file and the matching of rows to existing members (by member reference, else
   phone, else e-mail) are then set-based SQL over the staged rows, so memory does not
   grow with the file. The report (problems, new/updated/unchanged) is kept on the
   import. A file with any problem is *rejected*: its rows are dropped at once. A
   file-level refusal (413/415/422) writes nothing at all.
2. :func:`commit_import` turns a *validated* import's rows into members in one
   transaction (all or nothing): matching is done again against the members as they
   are now, changed members are updated, and each new member gets a single-use
   enrollment code of the district. Committing again answers the same result and
   changes nothing (idempotent). Uncommitted imports expire after
   DISTRICT_IMPORT_TTL_HOURS, or when more than DISTRICT_IMPORT_MAX_PENDING wait.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa

from app.accounts.models import User
from app.agencies.models import District
from app.audit import service as audit
from app.common.fields import fits_int
from app.common.settings import setting
from app.db import utcnow
from app.districts import importer
from app.districts.members import code_label, district_of
from app.districts.models import MEMBER_FIELDS, DistrictImport, DistrictImportRow, DistrictMember, ImportStatus
from app.enrollment import service as enrollment
from app.enrollment.models import EnrollmentCode
from app.errors import ApiError, not_found
from app.extensions import db
from app.sql import chunks, dialect

STAGE_CHUNK = 1000   # rows per INSERT while checking


COMMIT_CHUNK = 1000  # rows per step of a commit


MAX_PROBLEMS = 1000  # problems kept in a report (problems_total counts them all)


_KEYS = (("member_ref", "member reference"), ("phone", "mobile number"), ("email", "e-mail address"))


def import_for(user: User, import_id: int) -> DistrictImport:
    """An import of the manager's district; 404 for any other."""
    district = district_of(user)
    found = db.session.scalar(sa.select(DistrictImport).where(
        DistrictImport.id == import_id, DistrictImport.district_id == district.id)) if fits_int(import_id) else None
    if found is None:
        raise not_found("Import")
    return found


@dataclass
class _Problems:
    """The report's problems: all counted, the first MAX_PROBLEMS kept."""

    kept: list[importer.Problem] = field(default_factory=list)
    total: int = 0
    lines: set[int] = field(default_factory=set)

    def add(self, problems: list[importer.Problem]) -> None:
        for problem in problems:
            self.total += 1
            if problem.line is not None:
                self.lines.add(problem.line)
            if len(self.kept) < MAX_PROBLEMS:
                self.kept.append(problem)

    def report(self) -> list[dict[str, Any]]:
        ordered = sorted(self.kept, key=lambda p: (p.line or 0, p.column or ""))
        return [p.as_dict() for p in ordered]


def check_import(manager: User, stream: IO[bytes], filename: str | None) -> DistrictImport:
    """The dry run: validate the upload and keep its report (and, when valid, its rows)."""
    district = district_of(manager)
    now = utcnow()
    expire_imports(now)
    facts = importer.inspect(stream, setting("DISTRICT_IMPORT_MAX_BYTES"))
    sheet = importer.open_sheet(stream, facts)
    record = DistrictImport(
        district_id=district.id, created_by_id=manager.id, filename=_safe_name(filename, facts.file_format),
        file_format=facts.file_format, encoding=facts.encoding, delimiter=sheet.delimiter, size_bytes=facts.size,
        sha256=facts.sha256, status=ImportStatus.REJECTED, problems=[], ignored_columns=sheet.ignored_columns,
        created_at=now, expires_at=now + timedelta(hours=setting("DISTRICT_IMPORT_TTL_HOURS")))
    db.session.add(record)
    db.session.flush()
    try:
        problems, rows_total = _stage_rows(record, sheet)
    except ApiError:
        db.session.rollback()  # too many rows, unreadable: nothing of this file is kept
        raise
    if rows_total == 0:
        db.session.rollback()
        raise ApiError(422, "no_rows", f"The file has a header row (line {sheet.header_line}) but no member rows.")
    if sheet.usable:
        _plan_for_bulk()
        problems.add(_duplicates(record, sheet))
        _match(record, district.id)
        problems.add(_match_conflicts(record, sheet))
    record.rows_total = rows_total
    record.rows_valid = rows_total - len(problems.lines) if sheet.usable else 0
    record.problems = problems.report()
    record.problems_total = problems.total
    if problems.total:
        _drop_rows(record.id)
    else:
        record.status = ImportStatus.VALIDATED
        record.summary_new, record.summary_updated, record.summary_unchanged = _classify(record.id)
    _limit_pending(district.id, keep=record.id)
    audit.record("district.import_checked", target=record, agency_id=district.agency_id, details={
        "district_id": district.id, "filename": record.filename, "format": record.file_format,
        "size_bytes": record.size_bytes, "sha256": record.sha256, "status": record.status.value,
        "rows_total": record.rows_total, "rows_valid": record.rows_valid, "problems": record.problems_total,
        "new": record.summary_new, "updated": record.summary_updated, "unchanged": record.summary_unchanged})
    db.session.commit()
    return record


def _plan_for_bulk() -> None:
    """PostgreSQL: no nested-loop joins for the rest of this transaction.

    The staging table is filled and emptied within minutes, so its statistics are
    always stale (and a district's members may have grown by thousands since the last
    ANALYZE); the planner then believes a side of a join is nearly empty and loops over
    it, one scan of the other side per row: 20 s instead of 50 ms for 10,000 rows.
    Hash and merge joins cost the same whatever the statistics say. ANALYZE inside the
    transaction would fix the estimates too, but would hold a lock that makes
    concurrent imports wait for each other.
    """
    if dialect() == "postgresql":
        db.session.execute(sa.text("SET LOCAL enable_nestloop = off"))


def _safe_name(filename: str | None, file_format: str) -> str:
    # Kept only to show it back: never a path.
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or f"members.{file_format}"


def _stage_rows(record: DistrictImport, sheet: importer.Sheet) -> tuple[_Problems, int]:
    problems = _Problems()
    problems.add(sheet.problems)
    max_rows = setting("DISTRICT_IMPORT_MAX_ROWS")
    rows_total = 0
    batch: list[dict[str, Any]] = []
    for line, cells in sheet.rows:
        if importer.blank(cells):
            continue
        rows_total += 1
        if rows_total > max_rows:
            raise ApiError(422, "too_many_rows",
                           f"The file has more than {max_rows:,} member rows, the most one import takes: "
                           "split it into several files.")
        if not sheet.usable:
            continue  # counted only: the header must be fixed first
        values, row_problems = importer.read_row(sheet, line, cells)
        problems.add(row_problems)
        batch.append({"import_id": record.id, "line": line, **values})
        if len(batch) >= STAGE_CHUNK:
            db.session.execute(sa.insert(DistrictImportRow), batch)
            batch = []
    if batch:
        db.session.execute(sa.insert(DistrictImportRow), batch)
    return problems, rows_total


def _duplicates(record: DistrictImport, sheet: importer.Sheet) -> list[importer.Problem]:
    """Rows of the file that share a member reference, mobile number or e-mail: each is named."""
    rows = DistrictImportRow
    found: list[importer.Problem] = []
    for key, label in _KEYS:
        column = getattr(rows, key)
        repeated = (sa.select(column).where(rows.import_id == record.id, column.is_not(None))
                    .group_by(column).having(sa.func.count() > 1))
        groups: dict[str, list[int]] = {}
        for value, line in db.session.execute(
                sa.select(column, rows.line).where(rows.import_id == record.id, column.in_(repeated))
                .order_by(column, rows.line)):
            groups.setdefault(value, []).append(line)
        for value, lines in groups.items():
            for line in lines:
                others = [other for other in lines if other != line]
                found.append(importer.Problem(line, sheet.header_of(key),
                                              f"The {label} “{value}” is also on {_lines(others)}: each member "
                                              "must appear once."))
    return found


def _lines(lines: list[int]) -> str:
    shown = ", ".join(str(n) for n in lines[:5])
    more = f" and {len(lines) - 5} more" if len(lines) > 5 else ""
    return f"line{'s' if len(lines) > 1 else ''} {shown}{more}"


def _match(record: DistrictImport, district_id: int, *, again: bool = False) -> None:
    """Link each staged row to the existing member it updates: by reference, else phone, else e-mail."""
    rows, members = DistrictImportRow, DistrictMember
    if again:  # the commit matches anew: members may have changed since the dry run
        db.session.execute(sa.update(rows).where(rows.import_id == record.id, rows.member_id.is_not(None))
                           .values(member_id=None).execution_options(synchronize_session=False))
    for key, _ in _KEYS:
        # UPDATE ... FROM a grouped subquery: one join, whatever the planner knows of the tables
        # (a correlated subquery per row can become a scan of the members per row).
        column = getattr(members, key)
        existing = (sa.select(column.label("key"), sa.func.min(members.id).label("id"))
                    .where(members.district_id == district_id, column.is_not(None)).group_by(column).subquery())
        db.session.execute(
            sa.update(rows).where(rows.import_id == record.id, rows.member_id.is_(None),
                                  getattr(rows, key) == existing.c.key)
            .values(member_id=existing.c.id).execution_options(synchronize_session=False))


def _match_conflicts(record: DistrictImport, sheet: importer.Sheet) -> list[importer.Problem]:
    """Rows that would update the same existing member (one by reference, another by phone, say)."""
    found = []
    for ref, lines in _conflict_groups(record.id):
        for line in lines:
            others = [other for other in lines if other != line]
            found.append(importer.Problem(line, sheet.header_of("member_ref"),
                                          f"This row and {_lines(others)} all match the existing member “{ref}” "
                                          "(by reference, mobile number or e-mail): only one row may update a "
                                          "member."))
    return found


def _conflict_groups(import_id: int) -> list[tuple[str, list[int]]]:
    rows, members = DistrictImportRow, DistrictMember
    shared = (sa.select(rows.member_id).where(rows.import_id == import_id, rows.member_id.is_not(None))
              .group_by(rows.member_id).having(sa.func.count() > 1))
    groups: dict[int, tuple[str, list[int]]] = {}
    for member_id, ref, line in db.session.execute(
            sa.select(rows.member_id, members.member_ref, rows.line).join(members, members.id == rows.member_id)
            .where(rows.import_id == import_id, rows.member_id.in_(shared)).order_by(rows.member_id, rows.line)):
        groups.setdefault(member_id, (ref, []))[1].append(line)
    return list(groups.values())


def _changed() -> sa.ColumnElement[bool]:
    rows, members = DistrictImportRow, DistrictMember
    return sa.or_(*[getattr(members, name).is_distinct_from(getattr(rows, name)) for name in MEMBER_FIELDS])


def _classify(import_id: int) -> tuple[int, int, int]:
    """(new, updated, unchanged) of an import's staged rows against the members now."""
    rows, members = DistrictImportRow, DistrictMember
    total, new = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(rows.member_id.is_(None)))
        .where(rows.import_id == import_id)).one()
    updated = db.session.scalar(
        sa.select(sa.func.count()).select_from(rows).join(members, members.id == rows.member_id)
        .where(rows.import_id == import_id, _changed()))
    return new, updated, total - new - updated


def _drop_rows(import_id: int) -> None:
    db.session.execute(sa.delete(DistrictImportRow).where(DistrictImportRow.import_id == import_id)
                       .execution_options(synchronize_session=False))


def expire_imports(now: datetime | None = None) -> int:
    """Validated imports past their time lose their rows and become expired; returns how many."""
    now = now or utcnow()
    due = list(db.session.scalars(sa.select(DistrictImport.id).where(
        DistrictImport.status == ImportStatus.VALIDATED, DistrictImport.expires_at <= now)))
    _expire(due)
    return len(due)


def _limit_pending(district_id: int, keep: int) -> None:
    pending = list(db.session.scalars(
        sa.select(DistrictImport.id).where(DistrictImport.district_id == district_id,
                                           DistrictImport.status == ImportStatus.VALIDATED,
                                           DistrictImport.id != keep)
        .order_by(DistrictImport.id.desc())))
    _expire(pending[max(0, setting("DISTRICT_IMPORT_MAX_PENDING") - 1):])


def _expire(ids: list[int]) -> None:
    for chunk in chunks(ids, 500):
        db.session.execute(sa.delete(DistrictImportRow).where(DistrictImportRow.import_id.in_(chunk))
                           .execution_options(synchronize_session=False))
        db.session.execute(sa.update(DistrictImport).where(DistrictImport.id.in_(chunk),
                                                           DistrictImport.status == ImportStatus.VALIDATED)
                           .values(status=ImportStatus.EXPIRED).execution_options(synchronize_session=False))


def expire_due_imports(now: datetime | None = None) -> int:
    """The scheduler's housekeeping step: expire imports and commit."""
    count = expire_imports(now)
    db.session.commit()
    return count


def commit_import(manager: User, import_id: int) -> DistrictImport:
    """Create and update the members of a validated import, all or nothing; idempotent once committed."""
    record = import_for(manager, import_id)
    if record.status == ImportStatus.COMMITTED:
        return record
    _refuse_uncommittable(record)
    now = utcnow()
    # The guarded UPDATE makes this transaction the only one committing this import.
    claimed = db.session.execute(
        sa.update(DistrictImport).where(DistrictImport.id == record.id, DistrictImport.status == ImportStatus.VALIDATED)
        .values(committed_at=now, committed_by_id=manager.id).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        db.session.rollback()
        db.session.refresh(record)
        if record.status == ImportStatus.COMMITTED:
            return record
        _refuse_uncommittable(record)
    district = district_of(manager, lock=True)  # one commit at a time per district
    _plan_for_bulk()
    _match(record, district.id, again=True)
    if _conflict_groups(record.id):
        db.session.rollback()
        raise ApiError(409, "members_changed",
                       "The district's members changed since this file was checked, and some rows now match the "
                       "same member: upload the file again to see the new report.")
    unchanged = db.session.scalar(
        sa.select(sa.func.count()).select_from(DistrictImportRow)
        .join(DistrictMember, DistrictMember.id == DistrictImportRow.member_id)
        .where(DistrictImportRow.import_id == record.id, ~_changed()))
    updated = _apply_updates(record.id, now)
    created = _create_members(record.id, district, manager, now)
    _drop_rows(record.id)
    record.status = ImportStatus.COMMITTED
    record.committed_at, record.committed_by_id = now, manager.id
    record.created_count, record.updated_count, record.unchanged_count = created, updated, unchanged
    audit.record("district.import_committed", target=record, agency_id=district.agency_id, details={
        "district_id": district.id, "filename": record.filename, "sha256": record.sha256,
        "created": created, "updated": updated, "unchanged": unchanged, "codes_issued": created})
    db.session.commit()
    return record


def _refuse_uncommittable(record: DistrictImport) -> None:
    if record.status == ImportStatus.REJECTED:
        raise ApiError(409, "import_rejected", f"This import has {record.problems_total} problem"
                       f"{'s' if record.problems_total != 1 else ''}, so nothing of it can be saved: correct the "
                       "file and upload it again.")
    if record.status == ImportStatus.EXPIRED or record.expires_at <= utcnow():
        raise ApiError(410, "import_expired", "This import was not committed in time (or a newer upload replaced "
                       "it) and its rows were deleted: upload the file again.")


def _staged(import_id: int, *criteria, changed: bool = False) -> Iterator[list[sa.Row]]:
    """The staged rows matching ``criteria`` in chunks (keyset by id): memory stays flat.

    ``changed``: only rows whose matched member differs from them.
    """
    rows = DistrictImportRow
    query = sa.select(rows.id, rows.member_id, *[getattr(rows, name) for name in MEMBER_FIELDS])
    if changed:
        query = query.join(DistrictMember, DistrictMember.id == rows.member_id).where(_changed())
    last = 0
    while True:
        chunk = db.session.execute(
            query.where(rows.import_id == import_id, rows.id > last, *criteria).order_by(rows.id)
            .limit(COMMIT_CHUNK)).all()
        if not chunk:
            return
        yield chunk
        last = chunk[-1].id


def _apply_updates(import_id: int, now: datetime) -> int:
    updated = 0
    for chunk in _staged(import_id, changed=True):
        db.session.execute(sa.update(DistrictMember), [
            {"id": row.member_id, "updated_at": now, **{name: getattr(row, name) for name in MEMBER_FIELDS}}
            for row in chunk])
        updated += len(chunk)
    return updated


def _create_members(import_id: int, district: District, manager: User, now: datetime) -> int:
    expires = now + timedelta(days=setting("DISTRICT_CODE_LIFETIME_DAYS"))
    created = 0
    # Each member's code id is looked up by the code in the INSERT itself (unique index).
    code_id = sa.select(EnrollmentCode.id).where(EnrollmentCode.code == sa.bindparam("new_code")).scalar_subquery()
    insert = sa.insert(DistrictMember.__table__).values(enrollment_code_id=code_id)
    for chunk in _staged(import_id, DistrictImportRow.member_id.is_(None)):
        new_codes = enrollment.issue_single_use_codes(manager, district, [code_label(r) for r in chunk], expires)
        db.session.execute(insert, [
            {"district_id": district.id, "new_code": code, "created_at": now, "updated_at": now,
             **{name: getattr(row, name) for name in MEMBER_FIELDS}}
            for row, code in zip(chunk, new_codes, strict=True)])
        created += len(chunk)
    return created
