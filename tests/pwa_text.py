"""Finds the texts in the PWA's scripts and pages that are shown to people but not translated.

A JavaScript string (or template literal) reads as words ("Sign in", "No requests yet",
"case %(n)s") unless it looks like code (a selector, a class, an event or attribute
name, an API value); it is translated when it sits inside a call of t(), tn() or N_().
Strings compared against, used as object keys or indexes, imported from, or handed to
the DOM and console functions named in CODE_CALLS are code whatever they look like.
In HTML, every text outside <script>, <style> and <noscript> sits in a data-i18n element.
"""
from __future__ import annotations

import re
import warnings
from html.parser import HTMLParser

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from babel.messages import jslexer

TRANSLATING = {"t", "tn", "N_"}
# Calls whose string arguments are code, never shown.
CODE_CALLS = {"querySelector", "querySelectorAll", "getElementById", "addEventListener", "removeEventListener",
              "setAttribute", "getAttribute", "removeAttribute", "hasAttribute", "closest", "matches", "error",
              "warn", "log", "import", "get", "post", "patch", "del", "api", "fetch", "dispatchEvent",
              "CustomEvent", "createElement", "getItem", "setItem", "removeItem", "startsWith", "endsWith",
              "includes", "split", "replace", "replaceAll", "join", "toggle", "add", "remove", "contains",
              "namedItem", "Date", "URL", "URLSearchParams", "RegExp", "Error", "postMessage", "open", "put",
              "match", "has", "delete", "set", "Intl", "DateTimeFormat", "NumberFormat", "Request", "Response",
              "Blob", "File", "matchMedia", "registerProtocolHandler", "assign", "pushState", "replaceState"}
_PREVIOUS_CODE = {"===", "!==", "==", "!=", "from", "case", "in", "typeof"}
# Object keys whose values are code: {class: "...", type: "...", autocomplete: "..."}.
CODE_KEYS = {"class", "className", "id", "type", "role", "name", "autocomplete", "inputmode", "inputMode", "pattern",
             "accept", "href", "src", "rel", "for", "mode", "method", "credentials", "tabindex", "autocapitalize",
             "enterkeyhint", "capture", "display", "action", "code", "state", "status", "kind", "path", "tag",
             "aria-describedby", "aria-labelledby", "aria-live", "aria-controls", "aria-current", "dateTime",
             "lang", "dir", "target", "download", "facingMode", "preload", "loading", "decoding", "scope"}
_INDEX = "[index]"
# Names after which "[" opens an array, not an index.
_KEYWORDS = {"return", "case", "typeof", "in", "of", "else", "yield", "await", "do", "throw", "void"}
_WORDS = re.compile(r"[A-Za-z]{2,}")
_CONDITIONAL = re.compile(r"(?<=\s)\?\??(?=\s)")
_IDENTIFIER_LIKE = re.compile(r"^(?:[#.\[]\S*|[a-z0-9]+(?:[-_:/.][a-z0-9]+)*|[a-z]+[A-Z]\w*)$")


def _literal_text(token) -> str:
    text = token.value[1:-1]
    if token.type == "template_string":
        text = re.sub(r"\$\{[^}]*\}", "x", text)
    return text


def reads_as_words(text: str) -> bool:
    """Whether a string's text is words a person reads, not code."""
    stripped = text.strip()
    if not _WORDS.search(stripped) or stripped.startswith(("/", "#/", "http", "data:", "mailto:", "tel:")):
        return False
    words = stripped.split()
    if len(words) == 1:
        # One word: prose when capitalised ("Cameras", "E-mail") or in brackets ("(verified)"),
        # not when it is a value or a name.
        word = words[0]
        return bool(re.fullmatch(r"[A-Z][A-Za-z’'-]*[a-z][.:!?…]?", word) or re.fullmatch(r"\([a-z’' ]+\)[.,]?", word))
    # Several words: prose when one is a plain word ("no footage"), not when all are names
    # ("x-error x-hint", "p.hint", "camelCase").
    return any(re.fullmatch(r"[A-Za-z’']+[.,:;!?…]?|[^\w\s]*[A-Za-z’']+[^\w\s]*", word) for word in words) \
        or not all(_IDENTIFIER_LIKE.match(word) for word in words)


def untranslated_js(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string in ``source`` that reads as words outside t()/tn()/N_()."""
    # Babel's lexer knows no "?" and drops it, so `ok ? ["Sent", x]` read as an index
    # (code) and `a ? "Yes" : "No"` lost its operator: a conditional reads as "||" here.
    source = _CONDITIONAL.sub("||", source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tokens = list(jslexer.tokenize(source, jsx=False, template_string=True))
    found = []
    calls: list[str | None] = []
    previous = None
    tokens = [token for token in tokens if not token.type.endswith("comment")]
    for index, token in enumerate(tokens):
        if token.value == "=" and previous is not None and previous.value in ("==", "!="):
            previous = token._replace(value="===")  # the lexer reads === as == and =
            continue
        if token.type == "operator" and token.value in "([{":
            if token.value == "(":
                calls.append(previous.value.rsplit(".", 1)[-1] if previous and previous.type == "name" else None)
            elif token.value == "[" and previous and previous.value not in _KEYWORDS \
                    and (previous.type == "name" or previous.value in (")", "]")):
                calls.append(_INDEX)  # obj["key"]: code
            else:
                calls.append(None)
        elif token.type == "operator" and token.value in ")]}":
            if calls:
                calls.pop()
        elif token.type in ("string", "template_string"):
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            is_key = following is not None and following.value == ":" and previous is not None \
                and previous.value in ("{", ",")
            before = tokens[index - 2] if index >= 2 else None
            code_value = previous is not None and previous.value == ":" and before is not None \
                and before.value.strip("\"'") in CODE_KEYS
            code_context = (previous is not None and previous.value in _PREVIOUS_CODE) or is_key or code_value \
                or (following is not None and following.value in ("===", "!==", "in"))
            wrapped = any(call in TRANSLATING for call in calls)
            code_call = bool(calls) and (calls[-1] in CODE_CALLS or calls[-1] == _INDEX)
            text = _literal_text(token)
            if not wrapped and not code_context and not code_call and reads_as_words(text):
                found.append((token.lineno, text))
        previous = token
    return found


class _PageText(HTMLParser):
    SKIPPED = {"script", "style", "noscript"}
    VOID = {"meta", "link", "input", "br", "hr", "img", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.found: list[tuple[int, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append((tag, "data-i18n" in dict(attrs)))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if not data.strip() or any(tag in self.SKIPPED or marked for tag, marked in self.stack):
            return
        self.found.append((self.getpos()[0], " ".join(data.split())))


def untranslated_html(source: str) -> list[tuple[int, str]]:
    parser = _PageText()
    parser.feed(source)
    parser.close()
    return parser.found
