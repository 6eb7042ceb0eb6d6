"""The third-party browser files under /app/vendor/ (app/pwa.py): served from node_modules/
by an allow-list, with the right content types, and a clear 404 when npm ci never ran."""
from __future__ import annotations

import logging
import os
import re

import pytest

from app import pwa

NODE_MODULES_PRESENT = all((pwa.NODE_MODULES / rel).is_file() for rel, _ in pwa.VENDOR_FILES.values())


pytestmark = pytest.mark.one_database  # nothing here is about the database


@pytest.fixture
def installed():
    if not NODE_MODULES_PRESENT:
        message = "node_modules/ is missing or incomplete: run `npm ci` (`make test` does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def fetch(client, path):
    """GET and close: a served file stays open until its response is closed."""
    with client.get(path) as response:
        response.get_data()
    return response


EXPECTED_TYPES = {
    "jsqr.js": "text/javascript",
    "tus.js": "text/javascript",
    "leaflet.js": "text/javascript",
    "leaflet.css": "text/css",
    "tus.min.js.map": "application/json",
    "leaflet.js.map": "application/json",
}


@pytest.mark.parametrize("name", sorted(pwa.VENDOR_FILES))
def test_each_mapped_file_is_served_with_its_content_type(client, installed, name):
    relative, _ = pwa.VENDOR_FILES[name]
    r = fetch(client, f"/app/vendor/{name}")
    assert r.status_code == 200, r.data[:200]
    expected = EXPECTED_TYPES.get(name, "image/png")
    assert r.mimetype == expected
    if expected.startswith("text/"):
        assert r.headers["Content-Type"] == f"{expected}; charset=utf-8"
    else:
        assert r.headers["Content-Type"] == expected
    assert r.data == (pwa.NODE_MODULES / relative).read_bytes()
    assert "ETag" in r.headers


def test_the_scripts_define_the_globals_the_pages_read(client, installed):
    # UMD bundles loaded by classic <script src>: each must end up as a window global.
    assert b'exports["jsQR"]' in fetch(client, "/app/vendor/jsqr.js").data
    assert b"window.L" in fetch(client, "/app/vendor/leaflet.js").data
    assert b"tus" in fetch(client, "/app/vendor/tus.js").data[:2000]


def test_relative_references_resolve_to_mapped_names(client, installed):
    # leaflet.css points at images/... and the bundles at their source maps, relative to
    # /app/vendor/: every such reference must be in the allow-list.
    css = fetch(client, "/app/vendor/leaflet.css").get_data(as_text=True)
    images = set(re.findall(r"url\((images/[^)]+)\)", css))
    assert images and images <= set(pwa.VENDOR_FILES)
    for script in ("tus.js", "leaflet.js"):
        text = fetch(client, f"/app/vendor/{script}").get_data(as_text=True)
        source_map = re.search(r"sourceMappingURL=(\S+)", text).group(1)
        assert source_map in pwa.VENDOR_FILES
        assert fetch(client, f"/app/vendor/{source_map}").status_code == 200


@pytest.mark.parametrize("name", [
    "jsQR.js",                         # the npm file name, not the public one
    "jsqr/dist/jsQR.js",
    "../package.json",
    "..%2Fpackage.json",
    "images/../../package.json",
    "leaflet/dist/leaflet.js",
    "images/",
    "",
])
def test_names_outside_the_allow_list_are_404(client, name):
    r = fetch(client, f"/app/vendor/{name}")
    assert r.status_code == 404
    if r.is_json:
        assert r.json["error"]["code"] == "not_found"
    assert b"jsQR" not in r.data and b'"name"' not in r.data


def test_missing_node_modules_is_a_json_404_and_a_clear_log(client, monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(pwa, "NODE_MODULES", tmp_path / "node_modules")
    with caplog.at_level(logging.ERROR):
        r = fetch(client, "/app/vendor/leaflet.js")
    assert r.status_code == 404
    assert r.is_json
    assert set(r.json) == {"error"}
    assert r.json["error"]["status"] == 404
    assert r.json["error"]["code"] == "not_found"
    assert "npm ci" in r.json["error"]["message"]
    logged = " ".join(rec.getMessage() for rec in caplog.records)
    assert "leaflet.js" in logged and "npm ci" in logged and str(tmp_path) in logged


def test_pwa_files_are_still_served_beside_the_vendor_route(client):
    assert fetch(client, "/app/css/base.css").status_code == 200
