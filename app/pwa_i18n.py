"""The PWA's words in the owners' languages: the gettext domain ``pwa``.

One source of truth, the same as the server's: gettext catalogs edited with the usual
tools, from which the browser gets JSON (the PWA has no build step and no gettext of
its own)::

    pwa/js/**/*.js, pwa/sw.js  t("…"), tn(…), N_("…") ─┐
    pwa/*.html      <… data-i18n>…</…>                   ├─ flask pwa-i18n extract ─> app/translations/pwa.pot
                                                          ┘      (and merges it into each pwa.po)
    app/translations/<lang>/LC_MESSAGES/pwa.po ── flask pwa-i18n build ──> pwa/i18n/<lang>.json (gitignored)
                                   (+ staff.po, when the language has one)

The staff screens (STAFF_SCRIPTS: officers, supervisors, district managers, oversight) wrap their
texts the same way, but into a domain of their own, ``staff`` (app/translations/staff.pot):
they may stay English for now, so the owners' catalogs stay complete without them, and a
city that wants them in another language only adds ``<lang>/LC_MESSAGES/staff.po`` and
translates it. A text the owners' screens also use stays in ``pwa`` only ("Sign out").

``make run`` and ``make test`` run the build; the app serves the files at
``/app/i18n/<lang>.json`` and the service worker keeps them in the app shell, so the
PWA never downloads words from anywhere else and speaks offline. A checkout served
without ``make`` (``flask run`` by hand) compiles a missing JSON file from its .po on the
first request instead, so a language never silently turns English.

English needs no catalog: the msgids are the English text. Hmong is ``hmn`` (White
Hmong, RPA Latin script): Babel has no Latin-script Hmong locale, so nothing here asks
Babel for Hmong locale data; the catalog's plural rule is written out (one form: Hmong
does not inflect for number). docs/TRANSLATIONS-PWA.md says how to add or correct a language.
"""
from __future__ import annotations

import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import click
from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po
from flask import Blueprint, current_app

from app.errors import not_found

ROOT = Path(__file__).resolve().parent.parent
PWA_DIR = ROOT / "pwa"
JS_DIR = PWA_DIR / "js"
TRANSLATIONS = ROOT / "app" / "translations"
TEMPLATE = TRANSLATIONS / "pwa.pot"
BUILD_DIR = PWA_DIR / "i18n"
DOMAIN = "pwa"
STAFF_DOMAIN = "staff"
STAFF_TEMPLATE = TRANSLATIONS / "staff.pot"
# The screens only officers, supervisors, district managers and oversight see: the staff domain.
STAFF_SCRIPTS = ("views/officer/*.js", "views/manager/*.js", "views/oversight/*.js")

# The PWA's pages besides the app shell's screens (which pwa/js draws).
HTML_PAGES = ("index.html", "enroll.html", "upload.html", "offline.html")
# t(msgid, vars), tn(singular, plural, n, vars), N_(msgid): marks a text translated later.
JS_KEYWORDS: dict[str, Any] = {"t": None, "tn": (1, 2), "N_": None}
# Languages with a catalog (English is the msgids themselves), and the plural rule each
# catalog's header carries. Hmong's is spelled out: Babel has no locale data for it.
PLURAL_FORMS = {"es": "nplurals=2; plural=(n != 1);", "hmn": "nplurals=1; plural=0;"}
LANGUAGES = tuple(PLURAL_FORMS)
REVIEW_NOTE = ("NEEDS REVIEW BY A NATIVE SPEAKER before a city launch: written by the developers, "
               "not by a professional translator.")

_SPACES = re.compile(r"\s+")


def catalog_path(language: str, domain: str = DOMAIN) -> Path:
    return TRANSLATIONS / language / "LC_MESSAGES" / f"{domain}.po"


def staff_scripts() -> list[Path]:
    return sorted({path for pattern in STAFF_SCRIPTS for path in JS_DIR.glob(pattern)})


def staff_catalogs() -> list[Path]:
    """The languages' staff.po files that exist (none is required)."""
    return [path for language in LANGUAGES if (path := catalog_path(language, STAFF_DOMAIN)).exists()]


def normalize(text: str) -> str:
    """An HTML element's text as its msgid: white space collapsed, as the browser's i18n.js does."""
    return _SPACES.sub(" ", text).strip()


# --- extraction ------------------------------------------------------------------------------

class _MarkedText(HTMLParser):
    """The texts of elements carrying ``data-i18n``, with their line, and any element nested
    inside one (the browser replaces a marked element's whole text, so it must hold text only)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.nested: list[tuple[int, str]] = []
        self._open: tuple[str, int, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        if self._open:
            self.nested.append((self.getpos()[0], tag))
        elif "data-i18n" in dict(attrs):
            self._open = (tag, self.getpos()[0], [])

    def handle_endtag(self, tag):
        if self._open and tag == self._open[0]:
            _, line, parts = self._open
            self.found.append((line, normalize("".join(parts))))
            self._open = None

    def handle_data(self, data):
        if self._open:
            self._open[2].append(data)


def html_messages(source: str) -> list[tuple[int, str]]:
    parser = _MarkedText()
    parser.feed(source)
    parser.close()
    if parser.nested:
        raise ValueError(f"elements inside a data-i18n element (lines {[line for line, _ in parser.nested]})")
    return parser.found


def _add_js_messages(template: Catalog, paths: list[Path], skip: Catalog | None = None) -> None:
    for path in paths:
        with path.open("rb") as source:
            for line, message, comments, _ in extract("javascript", source, JS_KEYWORDS,
                                                      options={"parse_template_string": False}):
                where = (path.relative_to(ROOT).as_posix(), line)
                msgid = tuple(message[:2]) if isinstance(message, tuple) else message
                if skip is not None and msgid in skip:
                    continue
                template.add(msgid, locations=[where], auto_comments=comments)


def extract_template() -> Catalog:
    """Every text of the PWA's scripts (but the staff screens') and pages, as a catalog
    without translations."""
    template = Catalog(domain=DOMAIN, project="Porchlight PWA", msgid_bugs_address="", fuzzy=False)
    staff = set(staff_scripts())
    _add_js_messages(template, [path for path in sorted(JS_DIR.rglob("*.js")) if path not in staff]
                     + [PWA_DIR / "sw.js"])
    for page in HTML_PAGES:
        path = PWA_DIR / page
        for line, message in html_messages(path.read_text(encoding="utf-8")):
            template.add(message, locations=[(path.relative_to(ROOT).as_posix(), line)])
    return template


def extract_staff_template(owners: Catalog | None = None) -> Catalog:
    """The staff screens' texts the owners' template does not already hold."""
    template = Catalog(domain=STAFF_DOMAIN, project="Porchlight PWA (staff screens)", msgid_bugs_address="",
                       fuzzy=False)
    _add_js_messages(template, staff_scripts(), skip=owners if owners is not None else extract_template())
    return template


def _write(catalog: Catalog, path: Path, **options: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    # Obsolete entries are dropped: a text the PWA no longer shows has no place in its catalog.
    write_po(buffer, catalog, width=100, sort_output=False, ignore_obsolete=True, **options)
    path.write_bytes(buffer.getvalue())


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, domain=path.stem)


def update_catalogs() -> list[str]:
    """Rewrites pwa.pot and staff.pot and merges them into each language's pwa.po and
    staff.po (the latter only where a language has one): new texts appear untranslated,
    texts no longer in the PWA become obsolete (the catalog tests fail on both until a
    translator has been through them)."""
    owners = extract_template()
    report = _update(owners, TEMPLATE, [catalog_path(language) for language in LANGUAGES])
    report += _update(extract_staff_template(owners), STAFF_TEMPLATE, staff_catalogs())
    return report


def _update(template: Catalog, template_path: Path, paths: list[Path]) -> list[str]:
    _write(template, template_path, omit_header=False, include_lineno=True)
    report = [f"{template_path.relative_to(ROOT)}: {len(template)} texts"]
    for path in paths:
        catalog = read_catalog(path) if path.exists() else Catalog(domain=template.domain, fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        _write(catalog, path, include_lineno=True)
        missing = sum(1 for message in catalog if message.id and not _translated(message))
        report.append(f"{path.relative_to(ROOT)}: {missing} to translate, {len(catalog.obsolete)} obsolete")
    return report


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings) and not message.fuzzy


# --- the browser's JSON ------------------------------------------------------------------------

def catalog_json(language: str) -> dict[str, Any]:
    """What i18n.js reads: {language, nplurals, messages: {msgid: text, or [forms] by plural index}},
    from the language's pwa.po and, when it has one, its staff.po. Untranslated and fuzzy
    entries are left out (the browser shows the English msgid)."""
    messages: dict[str, Any] = {}
    for path in sources(language):
        for message in read_catalog(path):
            if not message.id or not _translated(message):
                continue
            if isinstance(message.id, tuple):
                messages.setdefault(message.id[0], list(message.string))
            else:
                messages.setdefault(message.id, message.string)
    nplurals = int(re.search(r"nplurals=(\d+)", PLURAL_FORMS[language]).group(1))
    return {"language": language, "nplurals": nplurals, "messages": messages}


def sources(language: str) -> list[Path]:
    """The catalogs a language's JSON is built from: pwa.po first (its words win), then staff.po."""
    staff = catalog_path(language, STAFF_DOMAIN)
    return [catalog_path(language), *([staff] if staff.exists() else [])]


def build(out: Path = BUILD_DIR) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for language in LANGUAGES:
        path = out / f"{language}.json"
        path.write_text(json.dumps(catalog_json(language), ensure_ascii=False, sort_keys=True), encoding="utf-8")
        written.append(path)
    return written


def shell_files() -> list[tuple[str, Path]]:
    """The JSON catalogs' URLs for the service worker's shell, each with the .po it is built
    from (whose bytes version the worker: a corrected translation installs a new one)."""
    return [(f"/app/i18n/{language}.json", catalog_path(language)) for language in LANGUAGES]


def other_sources() -> list[tuple[str, Path]]:
    """The staff.po files the JSON catalogs are also built from: not shell entries of their own
    (the JSON is), but part of the worker's version like the pwa.po files."""
    return [(f"/app/i18n/{path.parent.parent.name}.json#staff", path) for path in staff_catalogs()]


bp = Blueprint("pwa_i18n", __name__, cli_group="pwa-i18n")

_built: dict[str, bytes] = {}


@bp.get("/app/i18n/<string:language>.json")
def language_catalog(language: str):
    if language not in LANGUAGES:
        raise not_found("Language")
    path = BUILD_DIR / f"{language}.json"
    if path.is_file() and all(path.stat().st_mtime >= po.stat().st_mtime for po in sources(language)):
        body = path.read_bytes()
    else:
        # Not built (or built before the .po last changed): compile it here, once per process.
        if current_app.debug or language not in _built:
            _built[language] = json.dumps(catalog_json(language), ensure_ascii=False, sort_keys=True).encode()
        body = _built[language]
    return current_app.response_class(body, mimetype="application/json")


@bp.cli.command("extract")
def extract_command() -> None:
    """Re-extract the PWA's texts into app/translations/pwa.pot and staff.pot and merge them into the .po files."""
    for line in update_catalogs():
        click.echo(line)


@bp.cli.command("build")
def build_command() -> None:
    """Compile each pwa.po (and staff.po) into pwa/i18n/<lang>.json, the catalogs the browser reads."""
    for path in build():
        click.echo(f"{path.relative_to(ROOT)}")
