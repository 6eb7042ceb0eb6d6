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
    for url in shell:
        if url.startswith("/app/vendor/"):
            continue  # present only after npm ci; test_pwa_assets covers them
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


@pytest.mark.parametrize("text", ["43.1", "north,south", "91,0", "0,181"])
def test_a_bad_default_map_centre_stops_start_up(text):
    with pytest.raises(RuntimeError, match="MAP_DEFAULT_CENTER"):
        config._coordinates(text)


def test_tiles_can_be_turned_off_by_setting():
    assert config._tile_url("none") == config._tile_url(" OFF ") == ""
    assert config._tile_url("https://t/{z}/{x}/{y}.png") == "https://t/{z}/{x}/{y}.png"
