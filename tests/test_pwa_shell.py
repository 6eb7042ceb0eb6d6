"""The installable app's server side (app/pwa.py): manifest and icons, the service worker's
version and shell list, the offline and upload-link pages, /api/app-config."""
from __future__ import annotations

import io
import json
import re
import shutil

import pytest
from PIL import Image

import config
from app import pwa
from app.footage import asks
from app.footage.models import Ask, AskState
from app.footage.schemas import AskOut

pytestmark = pytest.mark.one_database  # nothing here is about the database


def fetch(client, path):
    with client.get(path) as response:
        response.get_data()
    return response


def test_the_manifest_makes_the_app_installable(client):
    response = fetch(client, "/manifest.webmanifest")
    assert response.status_code == 200 and response.mimetype == "application/manifest+json"
    manifest = json.loads(response.get_data())
    assert manifest["name"] and manifest["short_name"] == "Porchlight"
    assert manifest["display"] == "standalone" and manifest["scope"] == "/"
    assert manifest["start_url"].startswith("/") and re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    icons = {(icon["sizes"], icon["purpose"]): icon["src"] for icon in manifest["icons"]}
    for size in (192, 512):
        for purpose in ("any", "maskable"):
            src = icons[(f"{size}x{size}", purpose)]
            image = fetch(client, src)
            assert image.status_code == 200 and image.mimetype == "image/png", src
            # The declared size is the real one (browsers reject icons that lie).
            assert Image.open(io.BytesIO(image.get_data())).size == (size, size), src
    index = fetch(client, "/").get_data(as_text=True)
    assert '<link rel="manifest" href="/manifest.webmanifest">' in index
    assert f'<meta name="theme-color" content="{manifest["theme_color"]}">' in index


def _service_worker(client):
    response = fetch(client, "/sw.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    source = response.get_data(as_text=True)
    version = re.search(r'const VERSION = "([0-9a-f]{16})";', source).group(1)
    shell = json.loads(re.search(r"const SHELL = (\[.*?\]);", source).group(1))
    return source, version, shell


def test_the_service_worker_caches_the_whole_shell_and_nothing_else(client):
    source, _, shell = _service_worker(client)
    assert "__VERSION__" not in source and "__SHELL__" not in source
    assert {"/", "/offline.html", "/manifest.webmanifest", "/app/js/app.js", "/app/js/routes.js",
            "/app/css/app.css", "/app/icons/icon-192.png"} <= set(shell)
    # Every screen module the router can load is in the shell, so it opens offline.
    routes = fetch(client, "/app/js/routes.js").get_data(as_text=True)
    for module in re.findall(r'module: "\./([^"]+)"', routes):
        assert f"/app/js/{module}" in shell, module
    # The libraries the screens load, from pwa/vendor/ (always present: they are committed).
    assert {f"/app/vendor/{name}" for name in ("leaflet.js", "leaflet.css", "tus.js", "jsqr.js")} <= set(shell)
    for url in shell:
        assert fetch(client, url).status_code == 200, url
    # API answers, clips and upload links are never in the shell.
    assert not [url for url in shell if url.startswith(("/api/", "/u/", "/e/"))]


def test_the_worker_version_changes_with_any_app_file(client, monkeypatch, tmp_path):
    _, before, _ = _service_worker(client)
    pwa._sw_cache.clear()
    _, again, _ = _service_worker(client)
    assert again == before  # same files, same version
    # A copy of pwa/ with one module changed: a new version, so browsers install the new worker.
    copy = tmp_path / "pwa"
    shutil.copytree(pwa.PWA_DIR, copy)
    (copy / "js" / "ui.js").write_text((copy / "js" / "ui.js").read_text() + "\n// changed\n")
    monkeypatch.setattr(pwa, "PWA_DIR", copy)
    pwa._sw_cache.clear()
    _, changed, _ = _service_worker(client)
    pwa._sw_cache.clear()
    assert changed != before
    # So does a new version of a vendored library the shell caches.
    monkeypatch.setattr(pwa, "PWA_DIR", pwa.ROOT / "pwa")
    vendor = tmp_path / "vendor"
    shutil.copytree(pwa.VENDOR_DIR, vendor)
    (vendor / "leaflet" / "dist" / "leaflet.js").write_text("/* Leaflet, another version */")
    monkeypatch.setattr(pwa, "VENDOR_DIR", vendor)
    _, vendor_changed, _ = _service_worker(client)
    pwa._sw_cache.clear()
    assert vendor_changed not in (before, changed)


def test_offline_and_upload_link_pages(client):
    offline = fetch(client, "/offline.html")
    assert offline.status_code == 200 and "offline" in offline.get_data(as_text=True).lower()
    page = fetch(client, "/u/some-token.value")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert 'src="/app/js/upload-link.js"' in page.get_data(as_text=True)
    assert fetch(client, "/e/ABCDEFGH").headers["Referrer-Policy"] == "no-referrer"
    # App files are revalidated on every load; the worker keeps the offline copy.
    assert fetch(client, "/app/js/app.js").headers["Cache-Control"] == "no-cache"


def test_app_config_names_the_map_tiles(make_app):
    app = make_app(MAP_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png", MAP_DEFAULT_CENTER=(40.0, -75.5))
    body = app.test_client().get("/api/app-config").json
    assert body["map"]["tile_url"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert body["map"]["center"] == [40.0, -75.5] and body["map"]["zoom"] == 15
    assert make_app().test_client().get("/api/app-config").json["map"]["tile_url"] == ""


def test_app_config_carries_the_ask_rules_the_server_enforces(client):
    """The PWA keeps no copy of the ask state machine: it reads this one."""
    rules = client.get("/api/app-config").json["asks"]
    assert rules["states"] == [state.value for state in AskState]
    assert rules["open"] == ["queued", "notified", "seen"]
    assert rules["uploadable"] == ["approved", "uploading", "delivered"]
    assert rules["actions"] == ["approve", "decline", "no_footage"]
    assert {state: set(targets) for state, targets in rules["transitions"].items()} == {
        state.value: {target.value for target in targets} for state, targets in asks.TRANSITIONS.items()}
    # Each list in the order of an ask's life, as the screens show them.
    assert rules["transitions"]["queued"] == [
        "notified", "seen", "approved", "declined", "no_footage", "expired", "cancelled"]
    assert sorted(state for state, targets in rules["transitions"].items() if not targets) == [
        "cancelled", "declined", "delivered", "expired", "no_footage"]


def test_an_ask_takes_the_answers_exactly_in_the_states_app_config_calls_open(client):
    rules = client.get("/api/app-config").json["asks"]
    answered = {"approve": AskState.APPROVED, "decline": AskState.DECLINED, "no_footage": AskState.NO_FOOTAGE}
    for state in AskState:
        ask = Ask(state=state)
        is_open = state.value in rules["open"]
        # What each ask lists for the owner's buttons...
        assert AskOut(only=("actions",)).dump(ask)["actions"] == (rules["actions"] if is_open else []), state
        # ...and what the state machine lets it become.
        assert [asks.can_transition(ask, answered[action]) for action in rules["actions"]] == [is_open] * 3, state
        assert (state.value in rules["uploadable"]) == (state in asks.APPROVED_STATES)


@pytest.mark.parametrize("text", ["43.1", "north,south", "91,0", "0,181"])
def test_a_bad_default_map_centre_stops_start_up(text):
    with pytest.raises(RuntimeError, match="MAP_DEFAULT_CENTER"):
        config._coordinates(text)


def test_tiles_can_be_turned_off_by_setting():
    assert config._tile_url("none") == config._tile_url(" OFF ") == ""
    assert config._tile_url("https://t/{z}/{x}/{y}.png") == "https://t/{z}/{x}/{y}.png"
