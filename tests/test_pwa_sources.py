"""The PWA's own scripts (pwa/js), read as text: each rule in one place.

- No list of ask states in the scripts: which states are open, take clips or are final
  comes from GET /api/app-config (pwa/js/config.js). The one file that names ask states,
  views/owner/common.js, only gives them words, and has words for every state and answer.
- No screen imports another screen: what two screens share lives in a module both use.
- One confirmation control (ui.confirmInPlace) and one service-worker registration.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest

from app.footage.asks import ACTIONS
from app.footage.models import AskState, RequestStatus

JS = Path(__file__).resolve().parent.parent / "pwa" / "js"
VIEWS = JS / "views"
WORDS = VIEWS / "owner" / "common.js"

STATES = [state.value for state in AskState]
# Ask states no other enum of the API shares (requests are cancelled and expire too).
ASK_ONLY = sorted(set(STATES) - {status.value for status in RequestStatus})
# Names that mean nothing but an ask's state anywhere in the app.
UNMISTAKABLE = ("notified", "seen")

_STRING = re.compile(r'"([a-z_]+)"')


def _scripts() -> list[Path]:
    return sorted(JS.rglob("*.js"))


def _name(path: Path) -> str:
    return path.relative_to(JS).as_posix()


def _imports(source: str) -> list[str]:
    return re.findall(r"""^(?:import|export)\s[^;]*?from\s+["']([^"']+)["']""", source, re.M)


def _object_keys(source: str, name: str) -> list[str]:
    body = re.search(rf"^(?:export )?const {name} = \{{\n(.*?)\n\}};$", source, re.M | re.S)
    assert body, f"{name} not found in {WORDS}"
    return re.findall(r"^  (\w+):", body.group(1), re.M)


def _state_lists(source: str) -> list[str]:
    """Array literals (innermost brackets) holding two or more ask states."""
    found = []
    for literal in re.findall(r"\[[^\[\]]*\]", source):
        if sum(1 for value in _STRING.findall(literal) if value in STATES) >= 2:
            found.append(" ".join(literal.split()))
    return found


def hard_coded_rules(source: str) -> list[str]:
    """What in ``source`` restates the ask rules instead of reading them from the server."""
    found = _state_lists(source)
    found += re.findall(rf'case "(?:{"|".join(ASK_ONLY)})":', source)
    found += re.findall(rf'"(?:{"|".join(UNMISTAKABLE)})"', source)
    return found


def test_the_scripts_read_the_ask_rules_from_the_server():
    offenders = {_name(path): hard_coded_rules(path.read_text(encoding="utf-8"))
                 for path in _scripts() if path != WORDS}
    assert {name: found for name, found in offenders.items() if found} == {}


@pytest.mark.parametrize("source", [
    'const OPEN = ["queued", "notified", "seen"];',
    'return ["approved", "uploading", "delivered"].includes(ask.state) ? "success" : "card";',
    '  ["waiting", "Waiting", [\n    "queued", "seen"]],',
    'switch (ask.state) {\n    case "approved":\n      return "You approved";',
    'if (ask.state === "notified") {',
])
def test_the_check_finds_a_copy_of_the_rules(source):
    assert hard_coded_rules(source)


@pytest.mark.parametrize("source", [
    'const FILTERS = [["", "All requests"], ["expired", "Expired"], ["cancelled", "Cancelled"]];',
    'case "cancelled":\n      return `Cancelled ${when}.`;',   # a request's status
    'const ACTIVE = new Set(["starting", "uploading", "waiting"]);',  # an upload row's state
])
def test_the_check_leaves_other_enums_alone(source):
    assert hard_coded_rules(source) == []


def test_every_ask_state_and_answer_has_owner_words():
    source = WORDS.read_text(encoding="utf-8")
    assert sorted(_object_keys(source, "ANSWERED")) == sorted(STATES)
    assert sorted(_object_keys(source, "OUTCOMES")) == sorted(STATES)
    assert sorted(_object_keys(source, "ANSWERS")) == sorted(ACTIONS)


def test_no_screen_imports_another_screen():
    """A view imports shared modules (pwa/js/*.js) and its own folder's common.js only."""
    found = []
    for path in sorted(VIEWS.rglob("*.js")):
        for spec in _imports(path.read_text(encoding="utf-8")):
            target = Path(posixpath.normpath((path.parent / spec).as_posix()))
            if target.is_relative_to(VIEWS) and target != path.parent / "common.js":
                found.append(f"{_name(path)} imports {spec}")
    assert found == []


def test_one_confirmation_control_and_one_service_worker_registration():
    sources = {_name(path): path.read_text(encoding="utf-8") for path in _scripts()}

    def where(pattern: str) -> list[str]:
        return sorted(name for name, source in sources.items() if re.search(pattern, source))

    assert where(r"confirm-question|div\.confirm\b") == ["ui.js"]
    assert where(r"serviceWorker\.register\(") == ["service-worker.js"]
    assert where(r"function registerServiceWorker") == ["service-worker.js"]
    # Every page that registers it uses that module (the upload-link page needs no worker).
    assert where(r"registerServiceWorker\(") == ["app.js", "enroll.js", "push.js", "service-worker.js"]
