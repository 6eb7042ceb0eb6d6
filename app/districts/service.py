"""Bulk enrollment for business improvement districts: the rules.

Importing a member spreadsheet takes two steps.

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

Invitations go out as SMS through the notifications dispatcher (one ``invitation``
notification per member, rate-limited per district, opt-outs honoured) and as a
printable PDF sheet. Managers see their own district only; nothing here reads
requests, asks or clips.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa

from app.accounts.models import Role, User
from app.agencies.models import District
from app.audit import service as audit
from app.cameras.models import Camera, CameraStatus
from app.common.fields import fits_int
from app.common.settings import setting
from app.db import utcnow
from app.districts import importer
from app.districts.models import (
    MEMBER_FIELDS,
    DistrictImport,
    DistrictImportRow,
    DistrictMember,
    ImportStatus,
)
from app.enrollment import service as enrollment
from app.enrollment.models import EnrollmentCode
from app.errors import ApiError, forbidden, not_found
from app.extensions import db
from app.notifications import dispatcher
from app.notifications.models import DeliveryStatus, Notification, NotificationKind, SmsOptOut
from app.sql import chunks, dialect

STAGE_CHUNK = 1000   # rows per INSERT while checking
COMMIT_CHUNK = 1000  # rows per step of a commit
MAX_PROBLEMS = 1000  # problems kept in a report (problems_total counts them all)

_KEYS = (("member_ref", "member reference"), ("phone", "mobile number"), ("email", "e-mail address"))


# --- scope -------------------------------------------------------------------------------------

def district_of(user: User, *, lock: bool = False) -> District:
    """The district a manager runs (locked for update when asked); 403 for anyone else."""
    if user.role != Role.MANAGER:
        raise forbidden("This is for district managers.")
    if user.district_id is None:
        raise forbidden("Your account is not attached to a district.")
    query = sa.select(District).where(District.id == user.district_id)
    if lock:
        query = query.with_for_update()
    district = db.session.scalar(query)
    if district is None:
        raise forbidden("Your account is not attached to a district.")
    return district


def import_for(user: User, import_id: int) -> DistrictImport:
    """An import of the manager's district; 404 for any other."""
    district = district_of(user)
    found = db.session.scalar(sa.select(DistrictImport).where(
        DistrictImport.id == import_id, DistrictImport.district_id == district.id)) if fits_int(import_id) else None
    if found is None:
        raise not_found("Import")
    return found


# --- the dry run ------------------------------------------------------------------------------

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


# --- the commit ------------------------------------------------------------------------------

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
        new_codes = enrollment.issue_single_use_codes(manager, district, [_code_label(r) for r in chunk], expires)
        db.session.execute(insert, [
            {"district_id": district.id, "new_code": code, "created_at": now, "updated_at": now,
             **{name: getattr(row, name) for name in MEMBER_FIELDS}}
            for row, code in zip(chunk, new_codes, strict=True)])
        created += len(chunk)
    return created


def _code_label(member: Any) -> str:
    return f"{member.business_name} ({member.member_ref})"[:120]


# --- members and the dashboard --------------------------------------------------------------

def _cameras_by_owner(district_id: int):
    return (sa.select(Camera.owner_id,
                      sa.func.count().label("registered"),
                      sa.func.count().filter(Camera.status == CameraStatus.ACTIVE).label("active"))
            .where(Camera.district_id == district_id).group_by(Camera.owner_id).subquery())


def _members_query(district_id: int, status: str | None = None, search: str | None = None,
                   member_ids: list[int] | None = None):
    cameras = _cameras_by_owner(district_id)
    members = DistrictMember
    query = (sa.select(members, EnrollmentCode.code, EnrollmentCode.expires_at, EnrollmentCode.revoked_at,
                       sa.func.coalesce(cameras.c.registered, 0), sa.func.coalesce(cameras.c.active, 0))
             .outerjoin(EnrollmentCode, EnrollmentCode.id == members.enrollment_code_id)
             .outerjoin(cameras, cameras.c.owner_id == members.owner_id)
             .where(members.district_id == district_id))
    if status == "enrolled":
        query = query.where(members.owner_id.is_not(None))
    elif status == "invited":
        query = query.where(members.owner_id.is_(None))
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(*[sa.func.lower(column).like(pattern, escape="\\") for column in (
            members.member_ref, members.business_name, members.contact_name, members.email, members.phone,
            members.address)]))
    if member_ids is not None:
        query = query.where(members.id.in_(member_ids))
    return query


@dataclass
class MemberView:
    """A member as the dashboard shows it."""

    member: DistrictMember
    code: str | None
    code_expires_at: datetime | None
    code_revoked_at: datetime | None
    cameras_registered: int
    cameras_active: int

    def __getattr__(self, name: str) -> Any:
        return getattr(self.member, name)

    @property
    def status(self) -> str:
        return "enrolled" if self.member.owner_id is not None else "invited"

    @property
    def code_display(self) -> str | None:
        return f"{self.code[:4]}-{self.code[4:]}" if self.code else None

    @property
    def code_status(self) -> str | None:
        if self.code is None:
            return None
        if self.member.owner_id is not None:
            return "used"
        if self.code_revoked_at is not None:
            return "revoked"
        return "expired" if self.code_expires_at <= utcnow() else "active"


def list_members(manager: User, *, limit: int, offset: int, status: str | None = None,
                 search: str | None = None) -> dict[str, Any]:
    district = district_of(manager)
    query = _members_query(district.id, status, search)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(DistrictMember.business_name, DistrictMember.id)
                              .limit(limit).offset(offset)).all()
    return {"members": [MemberView(*row) for row in rows], "total": total, "limit": limit, "offset": offset}


def dashboard(manager: User) -> dict[str, Any]:
    district = district_of(manager)
    members = DistrictMember
    totals = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(members.invited_at), sa.func.count(members.owner_id),
                  sa.func.count(members.sms_sent_at), sa.func.coalesce(sa.func.sum(members.cameras_expected), 0))
        .where(members.district_id == district.id)).one()
    owners = sa.select(members.owner_id).where(members.district_id == district.id, members.owner_id.is_not(None))
    registered, active = db.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Camera.status == CameraStatus.ACTIVE))
        .where(Camera.district_id == district.id, Camera.owner_id.in_(owners))).one()
    return {"district": {"id": district.id, "name": district.name}, "members": totals[0], "invited": totals[1],
            "enrolled": totals[2], "not_enrolled": totals[0] - totals[2], "sms_sent": totals[3],
            "cameras_expected": int(totals[4]), "cameras_registered": registered, "cameras_active": active}


def export_rows(manager: User) -> tuple[District, Iterator[MemberView]]:
    """Every member for the CSV export (audited), read in keyset chunks while the response streams."""
    district = district_of(manager)
    count = db.session.scalar(sa.select(sa.func.count()).where(DistrictMember.district_id == district.id))
    audit.record("district.members_exported", target=district, agency_id=district.agency_id,
                 details={"district_id": district.id, "rows": count, "format": "csv"})
    db.session.commit()
    district_id = district.id

    def rows() -> Iterator[MemberView]:
        last_name, last_id = "", 0
        query = _members_query(district_id)
        while True:
            chunk = db.session.execute(
                query.where(sa.tuple_(DistrictMember.business_name, DistrictMember.id) > sa.tuple_(last_name, last_id))
                .order_by(DistrictMember.business_name, DistrictMember.id).limit(COMMIT_CHUNK)).all()
            if not chunk:
                return
            for row in chunk:
                yield MemberView(*row)
            last_name, last_id = chunk[-1][0].business_name, chunk[-1][0].id
            db.session.expunge_all()  # keep the session from holding every member read

    return district, rows()


# --- invitations --------------------------------------------------------------------------------

def _check_member_ids(district_id: int, member_ids: list[int]) -> list[int]:
    wanted = sorted(set(member_ids))
    if not all(fits_int(i) for i in wanted):
        raise not_found("Member")
    found: set[int] = set()
    for chunk in chunks(wanted, 500):
        found.update(db.session.scalars(sa.select(DistrictMember.id).where(
            DistrictMember.district_id == district_id, DistrictMember.id.in_(chunk))))
    missing = [i for i in wanted if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise ApiError(404, "not_found", f"No member of your district has the id{'s' if len(missing) > 1 else ''} "
                                         f"{shown}.")
    return wanted


def renew_codes(manager: User, district: District, members: list[DistrictMember], now: datetime) -> int:
    """New single-use codes for members (not enrolled) whose code expired, was revoked or is missing."""
    code_ids = [m.enrollment_code_id for m in members if m.enrollment_code_id is not None]
    usable: set[int] = set()
    for chunk in chunks(code_ids, 500):
        usable.update(db.session.scalars(sa.select(EnrollmentCode.id).where(
            EnrollmentCode.id.in_(chunk), EnrollmentCode.revoked_at.is_(None),
            EnrollmentCode.expires_at > now + timedelta(days=1), EnrollmentCode.use_count < EnrollmentCode.max_uses)))
    stale = [m for m in members if m.owner_id is None and m.enrollment_code_id not in usable]
    if not stale:
        return 0
    expires = now + timedelta(days=setting("DISTRICT_CODE_LIFETIME_DAYS"))
    new_codes = enrollment.issue_single_use_codes(manager, district, [_code_label(m) for m in stale], expires)
    ids: dict[str, int] = {}
    for chunk in chunks(new_codes, 500):
        ids.update(db.session.execute(sa.select(EnrollmentCode.code, EnrollmentCode.id).where(
            EnrollmentCode.code.in_(chunk))).all())
    for member, code in zip(stale, new_codes, strict=True):
        member.enrollment_code_id = ids[code]
    db.session.flush()
    audit.record("district.codes_renewed", target=district, agency_id=district.agency_id,
                 details={"district_id": district.id, "members": len(stale)})
    return len(stale)


@dataclass
class InvitationResult:
    queued: int = 0
    skipped_opted_out: int = 0
    skipped_no_phone: int = 0
    skipped_enrolled: int = 0
    skipped_already_invited: int = 0
    notification_ids: list[int] = field(default_factory=list)


def queue_sms_invitations(manager: User, member_ids: list[int] | None) -> InvitationResult:
    """Record one invitation SMS per chosen member (rate-limited; opt-outs, enrolled and phoneless skipped).

    Without ``member_ids``: every member of the district not yet sent an invitation
    SMS. A member whose invitation is still waiting to go out is never queued twice.
    Members are sorted into skips and sends in SQL, so a district of any size is one
    query; only the members sent to are loaded. The caller hands the notification ids
    to the dispatcher after the commit.
    """
    district = district_of(manager, lock=True)  # serialises the rate limit's count per district
    now = utcnow()
    members = DistrictMember
    scope = [members.district_id == district.id]
    if member_ids is not None:
        scope.append(members.id.in_(_check_member_ids(district.id, member_ids)))
    invitation = sa.and_(Notification.district_member_id == members.id,
                         Notification.kind == NotificationKind.INVITATION)
    already = [DeliveryStatus.PENDING, DeliveryStatus.SENDING] + ([DeliveryStatus.SENT] if member_ids is None else [])
    # Literal words, not bound parameters: PostgreSQL groups by the expression as written.
    word = {w: sa.literal_column(f"'{w}'") for w in ("enrolled", "no_phone", "opted_out", "already_invited", "send")}
    category = sa.case(
        (members.owner_id.is_not(None), word["enrolled"]),
        (members.phone.is_(None), word["no_phone"]),
        (sa.exists().where(SmsOptOut.phone == members.phone), word["opted_out"]),
        (sa.exists().where(invitation, Notification.status.in_(already)), word["already_invited"]),
        else_=word["send"])
    counts = dict(db.session.execute(sa.select(category, sa.func.count()).where(*scope).group_by(category)).all())
    result = InvitationResult(skipped_opted_out=counts.get("opted_out", 0), skipped_no_phone=counts.get("no_phone", 0),
                              skipped_enrolled=counts.get("enrolled", 0),
                              skipped_already_invited=counts.get("already_invited", 0))
    _check_rate(district, counts.get("send", 0), now)
    chosen = list(db.session.scalars(sa.select(members).where(*scope, category == word["send"]).order_by(members.id)))
    if chosen:
        renew_codes(manager, district, chosen, now)
        result.notification_ids = dispatcher.record_invitations(m.id for m in chosen)
        for member in chosen:
            member.invited_at = now
    result.queued = len(chosen)
    audit.record("district.invitations_queued", target=district, agency_id=district.agency_id, details={
        "district_id": district.id, "channel": "sms", "queued": result.queued,
        "skipped_opted_out": result.skipped_opted_out, "skipped_no_phone": result.skipped_no_phone,
        "skipped_enrolled": result.skipped_enrolled, "skipped_already_invited": result.skipped_already_invited,
        "selection": "all" if member_ids is None else "chosen"})
    db.session.commit()
    return result


def _check_rate(district: District, wanted: int, now: datetime) -> None:
    limit = setting("DISTRICT_SMS_PER_HOUR")
    window_start = now - timedelta(hours=1)
    recent = (sa.select(Notification.created_at)
              .join(DistrictMember, DistrictMember.id == Notification.district_member_id)
              .where(DistrictMember.district_id == district.id, Notification.kind == NotificationKind.INVITATION,
                     Notification.created_at > window_start))
    used = db.session.scalar(sa.select(sa.func.count()).select_from(recent.subquery()))
    if not wanted or used + wanted <= limit:
        return
    left = max(0, limit - used)
    if wanted > limit:
        retry = 3600
        advice = f"choose at most {limit:,} members at a time"
    else:
        # Wait until enough of the last hour's invitations are older than an hour.
        must_age = used + wanted - limit
        oldest = db.session.scalar(recent.order_by(Notification.created_at).offset(must_age - 1).limit(1))
        retry = max(1, math.ceil((oldest + timedelta(hours=1) - now).total_seconds())) if oldest else 3600
        advice = f"choose at most {left:,} members now, or try again in {_duration(retry)}"
    raise ApiError(429, "sms_rate_limited",
                   f"Your district may send {limit:,} SMS invitations an hour and has {left:,} left this hour; "
                   f"this would send {wanted:,}: {advice}.", headers={"Retry-After": str(retry)})


def _duration(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def sheet_members(manager: User, member_ids: list[int] | None, offset: int, limit: int | None
                  ) -> tuple[District, list[MemberView], int]:
    """The members of a printed invitation sheet (default: everyone not enrolled), codes renewed, audited."""
    district = district_of(manager, lock=True)
    now = utcnow()
    most = setting("DISTRICT_PDF_MAX_MEMBERS")
    limit = most if limit is None else limit
    if limit > most:
        raise ApiError(422, "validation_error", f"limit: at most {most} members fit one sheet download.",
                       fields={"limit": [f"Must be at most {most}."]})
    if member_ids is not None:
        ids = _check_member_ids(district.id, member_ids)
        if len(ids) > most:
            raise ApiError(422, "validation_error", f"member_ids: at most {most} members fit one sheet download; "
                           "print the rest in another.", fields={"member_ids": [f"At most {most} members."]})
        query = _members_query(district.id, member_ids=ids)
    else:
        query = _members_query(district.id, status="invited")
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(DistrictMember.business_name, DistrictMember.id)
                              .limit(limit).offset(offset)).all()
    views = [MemberView(*row) for row in rows]
    waiting = [v.member for v in views if v.member.owner_id is None]
    if renew_codes(manager, district, waiting, now):
        # Read again: the sheet prints the new codes.
        rows = db.session.execute(query.where(DistrictMember.id.in_([v.member.id for v in views]))
                                  .order_by(DistrictMember.business_name, DistrictMember.id)).all()
        views = [MemberView(*row) for row in rows]
    for member in waiting:
        member.invited_at = now
    audit.record("district.invitation_sheet_printed", target=district, agency_id=district.agency_id, details={
        "district_id": district.id, "members": len(views), "offset": offset, "total": total,
        "member_ids": [v.member.id for v in views][:1000]})
    db.session.commit()
    return district, views, total
