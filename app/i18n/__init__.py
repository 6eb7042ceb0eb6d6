"""The languages owners and the public read: English, Spanish and White Hmong.

Texts go through gettext (Flask-Babel) with the catalogs under app/translations/
(docs/TRANSLATIONS.md says how they are made). The language of a text is chosen once:

- in a request, the signed-in user's saved language, else the best of the browser's
  Accept-Language, else English (:func:`request_language`);
- for a message to an owner (SMS, push, e-mail) built outside their request, the owner's
  saved language, set around the building with :func:`in_language`.

Hmong here is White Hmong (Hmoob Dawb) in the RPA Latin script, tag ``hmn``. Babel (CLDR)
has no such locale: its ``mww``/``hnj`` data is in Pahawh or Nyiakeng Puachue script, and
``Locale.parse("hmn")`` fails. So the language is our own string, not a Babel Locale:
translations are loaded by that string (:class:`LanguageDomain`), and dates are written by
:mod:`app.i18n.dates`, which uses Babel for en and es and explicit Latin-script formats
for hmn. Flask-Babel's own locale is set to English under hmn only so that nothing of
Babel's ever renders Hmong in another script.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, Domain, force_locale

# The languages offered, each named in itself (the PWA's switch shows these names).
LANGUAGES = {"en": "English", "es": "Español", "hmn": "Hmoob"}
DEFAULT = "en"
# Browsers and systems may name White Hmong by its ISO 639-3 code; "mww" in Pahawh
# script (mww-Hmnp) is a script we do not write, so only the bare tag counts.
_ALIASES = {"mww": "hmn", "mww-latn": "hmn", "hmn-latn": "hmn"}
# The Babel locale behind each language, for what Babel formats (numbers, CLDR dates).
BABEL_LOCALE = {"en": "en", "es": "es", "hmn": "en"}

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"

_FORCED = "_porchlight_language"


def language_or_none(value: str | None) -> str | None:
    """``value`` as one of LANGUAGES (case and region ignored: 'es-MX' is es), or None."""
    if not value:
        return None
    tag = value.strip().lower().replace("_", "-")
    tag = _ALIASES.get(tag, tag)
    if tag in LANGUAGES:
        return tag
    primary = tag.split("-", 1)[0]
    return primary if primary in LANGUAGES else None


def best_accepted(header_languages) -> str | None:
    """The first of a client's Accept-Language values (by quality) that is one of LANGUAGES."""
    for value, quality in header_languages:
        if quality <= 0:
            continue
        language = language_or_none(value)
        if language is not None:
            return language
    return None


def request_language() -> str:
    """The language of this request: the user's saved one, else Accept-Language's best, else English.

    The user is the one the request already loaded (flask-login keeps it in ``g``): pages
    never read the session (app/auth.py), so they follow the browser.
    """
    user = g.get("_login_user")
    saved = getattr(user, "language", None) if user is not None else None
    if saved in LANGUAGES:
        return saved
    return best_accepted(request.accept_languages) or DEFAULT


def current_language() -> str:
    """The language texts are rendered in now: a forced one, else the request's, else English."""
    forced = g.get(_FORCED) if g else None
    if forced:
        return forced[-1]
    if has_request_context():
        if "_porchlight_request_language" not in g:
            g._porchlight_request_language = request_language()
        return g._porchlight_request_language
    return DEFAULT


@contextmanager
def in_language(language: str | None) -> Iterator[str]:
    """Render what is built inside in ``language`` (None or an unknown one: the current language).

    For texts to a person built outside their own request: an owner's SMS, push and
    e-mail in their saved language, an SMS reply in the language of its keyword.
    """
    chosen = language if language in LANGUAGES else current_language()
    stack = g.setdefault(_FORCED, [])
    stack.append(chosen)
    try:
        with force_locale(BABEL_LOCALE[chosen]):
            yield chosen
    finally:
        stack.pop()


class LanguageDomain(Domain):
    """Flask-Babel's domain, loading the catalog of :func:`current_language` (not of a Babel Locale)."""

    def get_translations(self) -> Translations | NullTranslations:
        if not g:
            return NullTranslations()
        language = current_language()
        key = (language, self.domain[0])
        cached = self.cache.get(key)
        if cached is None:
            cached = self.cache[key] = Translations.load(str(TRANSLATIONS_DIR), [language], self.domain[0])
        return cached


def init_app(app: Flask) -> None:
    try:
        compile_catalogs()
    except OSError as exc:
        # A read-only install (compiled at build time, or not): the catalogs that are there serve.
        app.logger.warning("translations not compiled (%s); run `make translations` where the files are", exc)
    babel = Babel()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    babel.init_app(app, locale_selector=lambda: BABEL_LOCALE[current_language()])
    babel.domain_instance = LanguageDomain(str(TRANSLATIONS_DIR))

    @app.context_processor
    def language_context() -> dict:
        return {"language": current_language()}


def catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Every language's catalog of every domain: <directory>/<language>/LC_MESSAGES/<domain>.po."""
    return sorted(directory.glob("*/LC_MESSAGES/*.po"))


def compile_catalogs(directory: Path = TRANSLATIONS_DIR) -> list[Path]:
    """Compile each .po that is newer than its .mo (or has none); the paths compiled.

    `make` does this before `run` and `test` (the .mo files are not committed); the app
    does it too at start-up, so a checkout run some other way still speaks every language.
    """
    stale = [po for po in catalogs(directory)
             if not po.with_suffix(".mo").exists() or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]
    for po in stale:
        with po.open("rb") as source:
            catalog = read_po(source, locale=None, domain=po.stem)
        # Written beside and renamed: apps starting at once (test workers) never read half a file.
        handle, temporary = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(handle, "wb") as target:
            write_mo(target, catalog)
        os.replace(temporary, po.with_suffix(".mo"))
    return stale
