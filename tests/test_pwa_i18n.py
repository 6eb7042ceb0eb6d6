"""The PWA in the owners' languages (app/pwa_i18n.py, pwa/js/i18n.js; docs/TRANSLATIONS-PWA.md).

- No owner-facing or public text of the PWA is left out of t()/tn()/N_() (the scripts) or
  data-i18n (the pages): tests/pwa_text.py reads them, and is tried on planted lines.
- The catalogs hold every text of the PWA, translated, with the placeholders of the
  English, no fuzzy or stale entries, and a header saying a native speaker must review them.
- The browser gets them as JSON at /app/i18n/<lang>.json, also in the service worker's shell.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app import pwa_i18n
from tests.pwa_text import reads_as_words, untranslated_html, untranslated_js

pytestmark = pytest.mark.one_database  # nothing here is about the database

JS = pwa_i18n.JS_DIR
# What owners and the public see: their screens, the pages without the shell, and the
# modules those draw with. The staff invitation (views/account/join.js) is among them: its
# texts were translated before the staff domain existed.
OWNER_SCRIPTS = sorted(
    [*(JS / "views" / "owner").glob("*.js"), *(JS / "views" / "public").glob("*.js"),
     *(JS / "views" / "account").glob("*.js"),
     JS / "views" / "home.js", JS / "app.js", JS / "api.js", JS / "forms.js", JS / "ui.js", JS / "push.js",
     JS / "enroll.js", JS / "upload.js", JS / "upload-link.js", JS / "recorder-clock.js", JS / "map.js",
     JS / "offline.js", pwa_i18n.PWA_DIR / "sw.js"])
# Words that are the same in every language, and why.
ALLOWED = {
    "Porchlight",                      # the app's name
    "x · Porchlight",                  # "<translated title> · Porchlight"
    "English", "Español", "Hmoob",     # each language named in itself, on the language switch
    "x)} km",                          # the unit of a formatted distance
}


def _name(path: Path) -> str:
    return path.relative_to(pwa_i18n.ROOT).as_posix()


def _untranslated(paths: list[Path]) -> dict[str, list[str]]:
    found = {_name(path): [f"{line}: {text}" for line, text in untranslated_js(path.read_text(encoding="utf-8"))
                           if text.strip() not in ALLOWED]
             for path in paths}
    return {name: texts for name, texts in found.items() if texts}


def test_no_owner_facing_text_of_the_scripts_is_left_untranslated():
    assert _untranslated(OWNER_SCRIPTS) == {}


def test_no_text_of_the_staff_screens_is_left_untranslated():
    # They may stay English, but their texts are in the staff domain so that another
    # language is translation work only (docs/TRANSLATIONS-PWA.md).
    assert pwa_i18n.staff_scripts()
    assert _untranslated(pwa_i18n.staff_scripts()) == {}


@pytest.mark.parametrize("page", pwa_i18n.HTML_PAGES)
def test_every_text_of_the_pages_is_marked_for_translation(page):
    source = (pwa_i18n.PWA_DIR / page).read_text(encoding="utf-8")
    assert [text for _, text in untranslated_html(source) if text not in ALLOWED] == []


@pytest.mark.parametrize("source", [
    'h("p", "Nothing is waiting for your answer.")',
    'h("button", { type: "button" }, "Approve")',
    'const label = ok ? "Answer sent" : "Answer not sent";',
    'h("a.stretch", `${ask.agency_name}: case ${ask.case_number}`)',
    'h("span.meta", " (verified)")',
    'status.textContent = "E-mail";',
    'h("p", t("Fine"), "Not fine here")',
    'return ["This link is not valid", message];',
    'const rows = [ok ? ["Sent to owners", when] : null];',
    'const word = state === "rejected" ? "Rejected" : "Approved";',
])
def test_the_lint_finds_untranslated_words(source):
    assert untranslated_js(source)


@pytest.mark.parametrize("source", [
    'h("p.hint.clip-clock", { id: `${id}-hint`, type: "button", role: "status" })',
    'import { get } from "../../api.js";',
    'if (name === "NotAllowedError" || error.code !== "Some Code") {}',
    'document.querySelector("#problem-title .x");',
    'headers["Content-Type"] = "application/json";',
    'h("p", t("Nothing is waiting for your answer."), tn("%(count)s clip", "%(count)s clips", n))',
    'export default { title: N_("Inbox") };',
    'console.warn("Service worker not registered:", error);',
    'const sizes = { "Small one": 1 };',
])
def test_the_lint_leaves_code_and_translated_text_alone(source):
    assert untranslated_js(source) == []


@pytest.mark.parametrize(("text", "words"), [
    ("Cameras", True), ("E-mail", True), ("(optional)", True), ("no footage", True),
    ("p.hint", False), ("button", False), ("aria-describedby", False), ("x-error x-hint", False),
    ("#/signin", False), ("GET", False), ("camelCase", False),
])
def test_what_reads_as_words(text, words):
    assert reads_as_words(text) is words


def test_a_marked_element_holds_text_only():
    assert pwa_i18n.html_messages('<p data-i18n>Joining  is\n  voluntary.</p>') == [(1, "Joining is voluntary.")]
    with pytest.raises(ValueError, match="inside a data-i18n element"):
        pwa_i18n.html_messages("<p data-i18n>Officers may <strong>ask</strong> you.</p>")


# --- the catalogs ---------------------------------------------------------------------------------

def _ids(catalog) -> set:
    return {message.id for message in catalog if message.id}


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)s", text))


def test_the_template_holds_exactly_the_texts_of_the_pwa():
    # After changing a text in pwa/: `flask pwa-i18n extract`, then translate what it reports.
    assert _ids(pwa_i18n.read_catalog(pwa_i18n.TEMPLATE)) == _ids(pwa_i18n.extract_template())


def test_the_staff_template_holds_the_staff_screens_texts_the_owners_do_not_use(tmp_path, monkeypatch):
    owners = _ids(pwa_i18n.read_catalog(pwa_i18n.TEMPLATE))
    staff = _ids(pwa_i18n.read_catalog(pwa_i18n.STAFF_TEMPLATE))
    assert staff == _ids(pwa_i18n.extract_staff_template())
    assert staff and not staff & owners
    assert "Sign out" in owners  # shared words stay in the owners' domain
    assert not any("views/officer" in where or "views/manager" in where
                   for message in pwa_i18n.read_catalog(pwa_i18n.TEMPLATE) for where, _ in message.locations)
    # A city adds <lang>/LC_MESSAGES/staff.po: the build puts its words into the language's JSON.
    monkeypatch.setattr(pwa_i18n, "TRANSLATIONS", tmp_path)
    (tmp_path / "es" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "es" / "LC_MESSAGES" / "pwa.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n\nmsgid "Sign out"\nmsgstr "Cerrar sesión"\n', encoding="utf-8")
    assert pwa_i18n.staff_catalogs() == []
    (tmp_path / "es" / "LC_MESSAGES" / "staff.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n\nmsgid "Approvals"\nmsgstr "Aprobaciones"\n', encoding="utf-8")
    assert pwa_i18n.catalog_json("es")["messages"] == {"Sign out": "Cerrar sesión", "Approvals": "Aprobaciones"}
    assert [path.name for _, path in pwa_i18n.other_sources()] == ["staff.po"]  # versions the worker


@pytest.mark.parametrize("language", pwa_i18n.LANGUAGES)
def test_each_catalog_translates_every_text_and_keeps_its_placeholders(language):
    path = pwa_i18n.catalog_path(language)
    catalog = pwa_i18n.read_catalog(path)
    header = path.read_text(encoding="utf-8").split("msgid", 1)[0]
    assert "NEEDS REVIEW BY A NATIVE SPEAKER" in header
    assert catalog.locale_identifier == language
    assert catalog.plural_forms == pwa_i18n.PLURAL_FORMS[language]
    assert _ids(catalog) == _ids(pwa_i18n.read_catalog(pwa_i18n.TEMPLATE))  # nothing missing, nothing stale
    assert not catalog.obsolete
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        forms = catalog.num_plurals if isinstance(message.id, tuple) else 1
        if message.fuzzy or not all(strings) or len(strings) != forms:
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
        for string in strings:
            if string and _placeholders(string) != _placeholders(ids[-1]) \
                    and _placeholders(string) != _placeholders(ids[0]):
                problems.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
    assert problems == []


def test_the_hmong_catalog_is_in_latin_script():
    # White Hmong in RPA: plain Latin letters. Babel's and CLDR's Hmong (mww, hnj) are Pahawh
    # and Nyiakeng Puachue, which must never creep in.
    catalog = pwa_i18n.read_catalog(pwa_i18n.catalog_path("hmn"))
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert not re.search(r"[\U00016B00-\U00016B8F\U0001E100-\U0001E14F]", string), string


def test_the_browser_gets_each_catalog_as_json_and_the_shell_keeps_them(client, tmp_path, monkeypatch):
    monkeypatch.setattr(pwa_i18n, "BUILD_DIR", tmp_path)  # not built: compiled from the .po
    for language in pwa_i18n.LANGUAGES:
        response = client.get(f"/app/i18n/{language}.json")
        assert response.status_code == 200 and response.mimetype == "application/json"
        body = response.get_json()
        assert body["language"] == language and body["messages"]["Sign in"]
    assert client.get("/app/i18n/es.json").get_json()["messages"]["%(count)s day ago"] == \
        ["hace %(count)s día", "hace %(count)s días"]
    assert client.get("/app/i18n/hmn.json").get_json()["nplurals"] == 1
    assert client.get("/app/i18n/en.json").status_code == 404  # English is the msgids themselves
    assert client.get("/app/i18n/..%2Fpwa.json").status_code == 404
    # Built (as make run and make test do): the file is served as written.
    pwa_i18n.build(tmp_path)
    assert json.loads((tmp_path / "es.json").read_text(encoding="utf-8")) == client.get("/app/i18n/es.json").get_json()
    source = client.get("/sw.js").get_data(as_text=True)
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", source).group(1))
    assert {"/app/i18n/es.json", "/app/i18n/hmn.json", "/app/js/i18n.js"} <= set(shell)
