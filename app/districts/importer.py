"""Reading a member spreadsheet: file type, encoding, delimiter, header, and each row's values.

Everything is streamed: a CSV is read line by line from the uploaded (spooled) file,
an XLSX through openpyxl's read-only mode, so memory does not follow the file's
size. File-level problems (too large, not a spreadsheet, no rows) raise
:class:`ApiError`; header and cell problems are returned as :class:`Problem` values
for the dry-run report. Checks that span rows (duplicates, matching members) are
the service's, done in the database over the staged rows.

Columns (header names are matched ignoring case, spaces and punctuation, accents
dropped; aliases in ``ALIASES``):

==================  =========  ==========================================================
field               required   accepted values
==================  =========  ==========================================================
member_ref          yes        the district's reference for the member, ≤ 64 characters
business_name       yes        ≤ 200 characters
contact_name        yes        ≤ 120 characters
phone               see below  a mobile number, normalised to E.164 (DEFAULT_PHONE_REGION
                               for numbers without +country)
email               see below  an e-mail address (lower-cased)
address             no         ≤ 300 characters
latitude/longitude  no         decimal degrees, both or neither, in range
cameras             no         a whole number ≥ 0 (cameras the member expects to register)
==================  =========  ==========================================================

A ``phone`` or an ``email`` column is required, and every row needs at least one of
the two (the invitation goes by SMS, or on the printed sheet).
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import math
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, Any

from marshmallow import ValidationError

from app.common.fields import normalize_email, normalize_phone
from app.errors import ApiError

CSV, XLSX = "csv", "xlsx"
CHUNK = 1024 * 1024
MAX_CELL = 1000  # characters: longer is no name, phone or address
MAX_CAMERAS = 10_000
# An XLSX is a zip: refuse one that would expand past this multiple of the upload limit.
MAX_XLSX_EXPANSION = 10


@dataclass(frozen=True)
class Field:
    name: str       # the canonical column name (as in the export)
    label: str      # how a sentence names it
    max_length: int = 0


FIELDS = {f.name: f for f in (
    Field("member_ref", "member reference", 64),
    Field("business_name", "business name", 200),
    Field("contact_name", "contact name", 120),
    Field("phone", "mobile number", 64),
    Field("email", "e-mail address", 254),
    Field("address", "address", 300),
    Field("latitude", "latitude"),
    Field("longitude", "longitude"),
    Field("cameras", "number of cameras"),
)}
REQUIRED = ("member_ref", "business_name", "contact_name")

ALIASES: dict[str, tuple[str, ...]] = {
    "member_ref": ("memberref", "memberreference", "reference", "ref", "refno", "referencenumber", "memberid",
                   "membernumber", "memberno", "membershipnumber", "membershipno", "membershipid", "membercode"),
    "business_name": ("businessname", "business", "company", "companyname", "organisation", "organization",
                      "tradingname", "shop", "shopname", "store", "storename", "entreprise", "firma"),
    "contact_name": ("contactname", "contact", "contactperson", "owner", "ownername", "person", "nomcontact"),
    "phone": ("phone", "phonenumber", "mobile", "mobilenumber", "mobilephone", "mobileno", "cell", "cellphone",
              "cellnumber", "telephone", "tel", "sms", "smsnumber", "contactnumber", "portable", "handy"),
    "email": ("email", "emailaddress", "mail", "emailadress", "courriel"),
    "address": ("address", "streetaddress", "businessaddress", "street", "addr", "adresse"),
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon", "lng", "long"),
    "cameras": ("cameras", "camera", "numberofcameras", "cameracount", "camerasexpected", "noofcameras",
                "numcameras", "nbcameras", "ofcameras", "camerascount", "howmanycameras"),
}
_BY_KEY = {alias: name for name, aliases in ALIASES.items() for alias in aliases}


def header_key(text: str) -> str:
    """'E-Mail Address ' → 'emailaddress': case, spaces, punctuation and accents ignored."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded)


@dataclass(frozen=True)
class Problem:
    line: int | None   # 1-based line of the file (header = 1); None for the whole file
    column: str | None  # the header as the file gives it
    problem: str        # a plain sentence

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "problem": self.problem}


def _refuse(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


def not_a_spreadsheet(what: str) -> ApiError:
    return _refuse(415, "unsupported_file_type",
                   f"{what} Upload the member list as CSV (comma, semicolon or tab separated) or as an Excel "
                   ".xlsx workbook.")


# --- the file as a whole ---------------------------------------------------------------------

@dataclass
class FileFacts:
    size: int
    sha256: str
    file_format: str
    encoding: str | None = None


def inspect(stream: IO[bytes], max_bytes: int) -> FileFacts:
    """Size, hash, type and (for text) encoding of the upload, in one pass; 413/415/422 when unusable."""
    stream.seek(0)
    head = stream.read(8192)
    stream.seek(0)
    if head.startswith(b"PK\x03\x04"):
        size, digest, _ = _hash(stream, max_bytes, None)
        facts = FileFacts(size, digest, XLSX)
        _check_zip(stream, max_bytes)
        return facts
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise not_a_spreadsheet("This is an old-style Excel (.xls) or other Office file, which is not read here: "
                                "save it as .xlsx or CSV.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise not_a_spreadsheet("This text is UTF-16 encoded: save it as CSV UTF-8.")
    for magic, kind in ((b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                        (b"GIF8", "a GIF image"), (b"\x1f\x8b", "a gzip archive"), (b"Rar!", "a RAR archive"),
                        (b"7z\xbc\xaf", "a 7-Zip archive"), (b"{\\rtf", "an RTF document")):
        if head.startswith(magic):
            raise not_a_spreadsheet(f"This file is {kind}, not a spreadsheet.")
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        size, _ = _size_only(stream, max_bytes)
        if size == len(head):
            raise _refuse(422, "empty_file", "The file is empty: it has no header row and no members.")
    size, digest, encoding = _hash(stream, max_bytes, "text")
    return FileFacts(size, digest, CSV, encoding)


def _size_only(stream: IO[bytes], max_bytes: int) -> tuple[int, None]:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    if size > max_bytes:
        raise too_large(max_bytes)
    return size, None


def too_large(max_bytes: int) -> ApiError:
    return _refuse(413, "file_too_large",
                   f"The file is larger than {_mib(max_bytes)}, the most one import takes: split the member list "
                   "into several files.")


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


# Text has no NUL, and hardly any other control character (a stray one is cleaned from its cell).
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_CONTROL_SHARE = 0.02


def _hash(stream: IO[bytes], max_bytes: int, text: str | None) -> tuple[int, str, str | None]:
    """Size and SHA-256; for text also the encoding: UTF-8 (BOM or not), else Windows-1252."""
    digest = hashlib.sha256()
    size = 0
    utf8 = codecs.getincrementaldecoder("utf-8")() if text else None
    cp1252 = codecs.getincrementaldecoder("cp1252")() if text else None
    first = True
    offset = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes)
        digest.update(chunk)
        if text:
            nul = chunk.find(b"\x00")
            if nul >= 0 or (first and len(_CONTROL.findall(chunk[:8192])) > _MAX_CONTROL_SHARE * min(len(chunk), 8192)):
                where = f" (a NUL byte at offset {offset + nul})" if nul >= 0 else ""
                raise not_a_spreadsheet(f"This is not a text spreadsheet: it holds binary data{where}.")
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8):]
            first = False
            if utf8 is not None:
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = None
            if utf8 is None and cp1252 is not None:
                try:
                    cp1252.decode(chunk)
                except UnicodeDecodeError:
                    cp1252 = None
            if utf8 is None and cp1252 is None:
                raise not_a_spreadsheet("This file is neither UTF-8 nor Windows-1252 text.")
        offset += len(chunk)
    stream.seek(0)
    encoding = None
    if text:
        if utf8 is not None:
            try:
                utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = None
        encoding = "utf-8-sig" if utf8 is not None else "cp1252"
    return size, digest.hexdigest(), encoding


def _check_zip(stream: IO[bytes], max_bytes: int) -> None:
    try:
        with zipfile.ZipFile(stream) as archive:
            names = set(archive.namelist())
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise not_a_spreadsheet("This file looks like a zip archive but cannot be opened.") from None
    finally:
        stream.seek(0)
    if "xl/workbook.xml" not in names:
        raise not_a_spreadsheet("This zip file is not an Excel .xlsx workbook.")
    if expanded > MAX_XLSX_EXPANSION * max_bytes:
        raise _refuse(413, "file_too_large", "The workbook expands to more than "
                      f"{_mib(MAX_XLSX_EXPANSION * max_bytes)} of data: save the member list as CSV or split it.")


# --- reading rows ---------------------------------------------------------------------------------

@dataclass
class Sheet:
    """An opened spreadsheet: its header mapped to fields, and an iterator over data rows."""

    file_format: str
    headers: list[str]
    columns: dict[str, int] = field(default_factory=dict)   # field → cell index
    ignored_columns: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)    # header problems
    delimiter: str | None = None
    header_line: int = 1
    rows: Iterator[tuple[int, list[Any]]] = iter(())

    @property
    def usable(self) -> bool:
        return not self.problems

    def header_of(self, name: str) -> str | None:
        index = self.columns.get(name)
        return self.headers[index] if index is not None else None


def open_sheet(stream: IO[bytes], facts: FileFacts) -> Sheet:
    if facts.file_format == XLSX:
        return _open_xlsx(stream)
    return _open_csv(stream, facts.encoding or "utf-8-sig")


def _quoted_counts(line: str) -> dict[str, int]:
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return counts


def sniff_delimiter(header: str) -> str:
    """The delimiter the header row uses most (comma, semicolon or tab); comma for one column."""
    counts = _quoted_counts(header)
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _open_csv(stream: IO[bytes], encoding: str) -> Sheet:
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    line_no = 0
    first = ""
    # Skip blank lines before the header; Excel's "sep=;" hint line names the delimiter.
    delimiter = None
    while True:
        first = text.readline()
        if not first:
            text.detach()
            raise _refuse(422, "empty_file", "The file is empty: it has no header row and no members.")
        line_no += 1
        stripped = first.strip()
        if not stripped:
            continue
        if stripped.lower().startswith("sep=") and len(stripped) == 5:
            delimiter = stripped[4]
            continue
        break
    delimiter = delimiter or sniff_delimiter(first)
    try:
        header_cells = next(csv.reader([first], delimiter=delimiter))
    except csv.Error as exc:
        text.detach()
        raise _refuse(422, "unreadable_file",
                      f"The header row (line {line_no}) cannot be read as CSV ({exc}).") from None
    sheet = _map_header(header_cells, CSV, line_no)
    sheet.delimiter = delimiter
    sheet.rows = _csv_rows(text, delimiter, line_no)
    return sheet


def _csv_rows(text: io.TextIOWrapper, delimiter: str, header_line: int) -> Iterator[tuple[int, list[Any]]]:
    reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    previous = 0
    try:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise _refuse(422, "unreadable_file", f"Line {header_line + previous + 1} cannot be read as CSV "
                              f"({exc}); check its quotes.") from None
            start = header_line + previous + 1
            previous = reader.line_num
            yield start, cells
    finally:
        text.detach()


def _open_xlsx(stream: IO[bytes]) -> Sheet:
    import openpyxl  # only .xlsx files need it, and it adds 0.2 s to the start of every process

    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True, keep_links=False)
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # read the rows that exist, not a range the file may claim
        rows = sheet.iter_rows(min_row=1, values_only=True)
        line = 0
        header: tuple | None = None
        for values in rows:
            line += 1
            if any(_cell_text(v) for v in values):
                header = values
                break
    except Exception as exc:  # noqa: BLE001 (a damaged workbook fails inside openpyxl in many ways)
        raise not_a_spreadsheet(f"This workbook cannot be read ({type(exc).__name__}).") from None
    if header is None:
        workbook.close()
        raise _refuse(422, "empty_file", "The workbook's first sheet is empty: it has no header row and no members.")
    result = _map_header([_cell_text(v) for v in header], XLSX, line)
    result.rows = _xlsx_rows(workbook, rows, line)
    return result


def _xlsx_rows(workbook, rows, header_line: int) -> Iterator[tuple[int, list[Any]]]:
    line = header_line
    try:
        for values in rows:
            line += 1
            yield line, list(values)
    except Exception as exc:  # noqa: BLE001 (as above, for a sheet damaged further down)
        raise not_a_spreadsheet(f"The workbook cannot be read past line {line} ({type(exc).__name__}).") from None
    finally:
        workbook.close()


def _cell_text(value: Any) -> str:
    """A cell as text: Excel numbers without a spurious '.0', dates as ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value).strip()


def _map_header(cells: list[str], file_format: str, line: int) -> Sheet:
    headers = [(c or "").strip().lstrip("\ufeff") for c in cells]
    sheet = Sheet(file_format=file_format, headers=headers, header_line=line)
    for index, header in enumerate(headers):
        if not header:
            continue
        name = _BY_KEY.get(header_key(header))
        if name is None:
            sheet.ignored_columns.append(header)
        elif name in sheet.columns:
            first = headers[sheet.columns[name]]
            sheet.problems.append(Problem(line, header, f"Column “{header}” is a second {FIELDS[name].label} "
                                                        f"column besides “{first}”: keep only one."))
        else:
            sheet.columns[name] = index
    missing = [f"{FIELDS[name].label} ({name})" for name in REQUIRED if name not in sheet.columns]
    if "phone" not in sheet.columns and "email" not in sheet.columns:
        missing.append("a mobile number (phone) or an e-mail (email) column")
    if missing:
        listed = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        noun = "column is" if len(missing) == 1 else "columns are"
        found = ", ".join(f"“{h}”" for h in headers if h) or "none"
        sheet.problems.insert(0, Problem(line, None, f"Required {noun} missing: {listed}. The header row (line "
                                                     f"{line}) has {found}."))
    return sheet


# --- one row ---------------------------------------------------------------------------------------

_ESCAPED = re.compile(r"^'(?=[=+\-@\t\r])")  # our CSV export's guard against formulas, undone
_CELL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # line breaks inside a cell become spaces too


def _text_of(cells: list[Any], index: int | None, xlsx: bool) -> str:
    if index is None or index >= len(cells):
        return ""
    raw = cells[index]
    text = _ESCAPED.sub("", _cell_text(raw) if xlsx else (raw or "").strip())
    if _CELL_CONTROL.search(text):
        text = _CELL_CONTROL.sub(" ", text).strip()
    return text


def blank(cells: list[Any]) -> bool:
    return not any(_cell_text(c) if not isinstance(c, str) else c.strip() for c in cells)


def _number(text: str) -> float | None:
    cleaned = text.replace(" ", "")
    if "," in cleaned and "." not in cleaned and cleaned.count(",") == 1:
        cleaned = cleaned.replace(",", ".")  # a decimal comma (semicolon-separated files from Europe)
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_row(sheet: Sheet, line: int, cells: list[Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The row's normalised values (None where blank or invalid) and its problems."""
    xlsx = sheet.file_format == XLSX
    values: dict[str, Any] = {}
    problems: list[Problem] = []

    def problem(name: str, sentence: str) -> None:
        problems.append(Problem(line, sheet.header_of(name), sentence))

    def text(name: str) -> str:
        return _text_of(cells, sheet.columns.get(name), xlsx)

    for name in ("member_ref", "business_name", "contact_name", "address"):
        spec = FIELDS[name]
        value = text(name)
        values[name] = None
        if not value:
            if name in REQUIRED:
                problem(name, f"The {spec.label} is empty; every member needs one.")
        elif len(value) > spec.max_length:
            problem(name, f"The {spec.label} is {len(value)} characters long; at most {spec.max_length} fit.")
        else:
            values[name] = value

    phone, email = text("phone"), text("email")
    values["phone"] = values["email"] = None
    if phone:
        if len(phone) > MAX_CELL:
            problem("phone", "The mobile number is far too long to be a phone number.")
        else:
            try:
                values["phone"] = normalize_phone(phone)
            except ValidationError:
                problem("phone", f"The mobile number “{phone}” is not valid; write it as +14145550123 or as a "
                                 "national number of the district's country.")
    if email:
        if len(email) > 254:
            problem("email", "The e-mail address is longer than 254 characters.")
        else:
            try:
                values["email"] = normalize_email(email)
            except ValidationError as exc:
                reason = exc.messages[0] if exc.messages else "not valid"
                reason = reason.removeprefix("Not a valid e-mail address: ").strip().rstrip(".")
                problem("email", f"The e-mail address “{email}” is not valid: {reason}.")
    if not phone and not email:
        name = "phone" if "phone" in sheet.columns else "email"
        problem(name, "Neither a mobile number nor an e-mail address is given; the member needs one of them "
                      "to be invited.")

    values["latitude"] = values["longitude"] = None
    coordinates = {}
    for name, limit in (("latitude", 90), ("longitude", 180)):
        raw = text(name)
        if not raw:
            continue
        number = _number(raw)
        if number is None:
            problem(name, f"The {name} “{raw}” is not a number; write decimal degrees, e.g. "
                          f"{'43.0389' if name == 'latitude' else '-87.9065'}.")
        elif not -limit <= number <= limit:
            problem(name, f"The {name} {raw} is out of range: it must be between -{limit} and {limit}.")
        else:
            coordinates[name] = number
    given = {name for name in ("latitude", "longitude") if text(name)}
    if len(given) == 1:
        (present,) = given
        other = "longitude" if present == "latitude" else "latitude"
        column = other if other in sheet.columns else present
        problem(column, f"A {present} is given without a {other}: give both coordinates or neither.")
    elif len(coordinates) == 2:
        values.update(coordinates)

    values["cameras_expected"] = None
    raw = text("cameras")
    if raw:
        number = _number(raw)
        if number is None or not number.is_integer():
            problem("cameras", f"The number of cameras “{raw}” is not a whole number.")
        elif number < 0:
            problem("cameras", f"The number of cameras cannot be negative ({raw}).")
        elif number > MAX_CAMERAS:
            problem("cameras", f"The number of cameras {raw} is more than {MAX_CAMERAS:,}.")
        else:
            values["cameras_expected"] = int(number)

    if len(cells) > len(sheet.headers):
        extra = [c for c in cells[len(sheet.headers):] if (_cell_text(c) if xlsx else (c or "").strip())]
        if extra:
            problems.append(Problem(line, None, f"The line has {len(sheet.headers) + len(extra)} or more cells but "
                                                f"the header row has {len(sheet.headers)}; check the separators "
                                                "and quotes on this line."))
    return values, problems
