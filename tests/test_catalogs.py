"""The translation catalogs (app/translations/): complete, current, and honest about review.

Generic over every ``app/translations/<language>/LC_MESSAGES/<domain>.po`` and its
domain's template ``app/translations/<domain>.pot``: each message of the template is
translated (not empty, not fuzzy) in every language, nothing stale is left, the
placeholders (``%(x)s``, ``{x}``) are the template's, plural entries have every form,
and the header says a native speaker must review it. The template itself must be what
the sources give today: EXTRACTORS maps each domain to the function that extracts its
message ids (another domain adds its own).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from app import pwa_i18n
from app.i18n import LANGUAGES, TRANSLATIONS_DIR, catalogs

pytestmark = pytest.mark.one_database

ROOT = Path(__file__).resolve().parent.parent
# The keywords `make extract` passes on top of Babel's defaults (gettext, ngettext, _ ...).
KEYWORDS = ("lazy_gettext", "_l")


def _message_key(msgid) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def server_msgids() -> set[str]:
    """The message ids of the server's sources, extracted as `make extract` does (babel.cfg)."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, **{name: None for name in KEYWORDS}}
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT / "app"), method_map, options_map, keywords=keywords):
        found.add(_message_key(message))
    return found


def pwa_msgids(extractor: Callable[[], Catalog]) -> Callable[[], set[str]]:
    return lambda: {_message_key(message.id) for message in extractor() if message.id}


# domain -> the ids its sources hold today: the server's, the PWA's owner and public screens'
# (app/pwa_i18n.py), and the staff screens' (no language catalog required yet).
EXTRACTORS: dict[str, Callable[[], set[str]]] = {
    "messages": server_msgids,
    "pwa": pwa_msgids(pwa_i18n.extract_template),
    "staff": pwa_msgids(pwa_i18n.extract_staff_template),
}

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def _template(domain: str):
    with (TRANSLATIONS_DIR / f"{domain}.pot").open("rb") as handle:
        return read_po(handle)


def _catalog(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


CATALOGS = catalogs()


def test_every_language_has_a_catalog_of_the_server_domain():
    have = {(path.parent.parent.name, path.stem) for path in CATALOGS}
    for language in LANGUAGES:
        if language != "en":  # English is the source language: the ids themselves
            assert (language, "messages") in have, f"no {language} catalog of the messages domain"


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_catalog_translates_every_message_of_its_template(path: Path):
    template = _template(path.stem)
    catalog = _catalog(path)
    header = catalog.header_comment
    assert "native speaker" in header.lower() and "review" in header.lower(), \
        f"{path}: its header must say it needs review by a native speaker"
    wanted = {_message_key(m.id): m for m in template if m.id}
    have = {_message_key(m.id): m for m in catalog if m.id}
    missing = sorted(set(wanted) - set(have))
    stale = sorted(set(have) - set(wanted))
    assert not missing, f"{path}: not translated: {missing}"
    assert not stale, f"{path}: no longer in the template (run `make extract`): {stale}"
    problems = []
    for key, message in have.items():
        strings = list(message.string) if isinstance(message.string, tuple) else [message.string]
        if message.fuzzy or not all(strings):
            problems.append(f"{key!r}: empty or fuzzy")
            continue
        sources = list(message.id) if isinstance(message.id, tuple) else [message.id]
        expected = placeholders(sources[-1]) | placeholders(sources[0])
        for text in strings:
            if placeholders(text) != expected and placeholders(text) | {"num"} != expected:
                problems.append(f"{key!r}: placeholders {sorted(placeholders(text))}, not {sorted(expected)}")
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            problems.append(f"{key!r}: {len(strings)} plural forms, the language has {catalog.num_plurals}")
    assert not problems, f"{path}: " + "; ".join(problems)


@pytest.mark.parametrize("domain", sorted(EXTRACTORS))
def test_template_is_what_the_sources_hold(domain: str):
    in_template = {_message_key(m.id) for m in _template(domain) if m.id}
    in_sources = EXTRACTORS[domain]()
    assert in_sources == in_template, (
        f"{domain}.pot is out of date (run `make extract`): new {sorted(in_sources - in_template)}, "
        f"gone {sorted(in_template - in_sources)}")
