"""The third-party browser files under /app/vendor/ (app/pwa.py): committed under pwa/vendor/
at the versions package-lock.json pins, each with the SHA-256 its manifest records, served
by an allow-list with the right content types; `make vendor` (`flask pwa vendor`) refreshes
them from node_modules/."""
from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest

from app import pwa
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.one_database  # nothing here is about the database


def fetch(client, path, **headers):
    """GET and close: a served file stays open until its response is closed."""
    with client.get(path, headers=headers) as response:
        response.get_data()
    return response


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_rows() -> list[dict]:
    return json.loads(pwa.VENDOR_MANIFEST.read_text(encoding="utf-8"))["files"]


EXPECTED_TYPES = {
    "jsqr.js": "text/javascript",
    "tus.js": "text/javascript",
    "leaflet.js": "text/javascript",
    "leaflet.css": "text/css",
    "tus.min.js.map": "application/json",
    "leaflet.js.map": "application/json",
}


@pytest.mark.parametrize("name", sorted(pwa.VENDOR_FILES))
def test_each_mapped_file_is_served_with_its_content_type(client, name):
    relative, _ = pwa.VENDOR_FILES[name]
    r = fetch(client, f"/app/vendor/{name}")
    assert r.status_code == 200, r.data[:200]
    expected = EXPECTED_TYPES.get(name, "image/png")
    assert r.mimetype == expected
    if expected.startswith("text/"):
        assert r.headers["Content-Type"] == f"{expected}; charset=utf-8"
    else:
        assert r.headers["Content-Type"] == expected
    assert r.data == (pwa.VENDOR_DIR / relative).read_bytes()
    assert "ETag" in r.headers


def test_they_are_served_without_node_modules(client, monkeypatch, tmp_path):
    # `make run` on a machine without Node.js: nothing served comes from node_modules/.
    monkeypatch.setattr(pwa, "NODE_MODULES", tmp_path / "no-node_modules")
    for name, (relative, _) in pwa.VENDOR_FILES.items():
        r = fetch(client, f"/app/vendor/{name}")
        assert r.status_code == 200 and r.data == (pwa.VENDOR_DIR / relative).read_bytes(), name


def test_the_scripts_define_the_globals_the_pages_read(client):
    # UMD bundles loaded by classic <script src>: each must end up as a window global.
    assert b'exports["jsQR"]' in fetch(client, "/app/vendor/jsqr.js").data
    assert b"window.L" in fetch(client, "/app/vendor/leaflet.js").data
    assert b"tus" in fetch(client, "/app/vendor/tus.js").data[:2000]


def test_relative_references_resolve_to_mapped_names(client):
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
    "jsqr/dist/jsQR.js",               # the path under pwa/vendor/, not the public name
    "leaflet/LICENSE",
    "manifest.json",
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
    assert b"jsQR" not in r.data and b'"name"' not in r.data and b"Copyright" not in r.data
    assert b"sha256" not in r.data


def test_pwa_files_are_still_served_beside_the_vendor_route(client):
    assert fetch(client, "/app/css/base.css").status_code == 200


# --- what is committed under pwa/vendor/ ---------------------------------------------------

def test_pwa_vendor_holds_the_served_files_and_each_package_s_licence_and_nothing_else():
    present = {p.relative_to(pwa.VENDOR_DIR).as_posix() for p in pwa.VENDOR_DIR.rglob("*") if p.is_file()}
    assert present == set(pwa.vendored_paths()) | {"manifest.json"}
    for package in ("jsqr", "leaflet", "tus-js-client"):
        assert f"{package}/LICENSE" in present
        assert (pwa.VENDOR_DIR / package / "LICENSE").read_text(encoding="utf-8").strip()


def test_every_vendored_file_has_the_sha256_its_manifest_records():
    rows = manifest_rows()
    assert [row["file"] for row in rows] == pwa.vendored_paths()
    mismatched = [row["file"] for row in rows if sha256(pwa.VENDOR_DIR / row["file"]) != row["sha256"]]
    assert not mismatched, f"changed since `make vendor` wrote the manifest: {mismatched}"


def test_the_manifest_names_the_versions_package_lock_pins():
    lock = json.loads(pwa.PACKAGE_LOCK.read_text(encoding="utf-8"))["packages"]
    for row in manifest_rows():
        assert row["package"] == row["file"].split("/")[0]
        assert row["version"] == lock[f"node_modules/{row['package']}"]["version"], row
        # package.json pins the same version exactly, as a dependency of the app.
        assert lock[""]["dependencies"][row["package"]] == row["version"], row
    assert {row["package"] for row in manifest_rows()} == {"jsqr", "leaflet", "tus-js-client"}


def test_the_vendored_files_are_the_installed_ones_when_node_modules_is_present():
    if not (pwa.NODE_MODULES / ".package-lock.json").is_file():
        skip_or_fail("node_modules/ is missing: run `npm ci` (`make test` does it)")
    versions = pwa.locked_versions()
    for package, version in versions.items():
        installed = json.loads((pwa.NODE_MODULES / package / "package.json").read_text(encoding="utf-8"))
        assert installed["version"] == version, f"node_modules/ has {package} {installed['version']}: run `npm ci`"
    differ = [path for path in pwa.vendored_paths()
              if sha256(pwa.NODE_MODULES / path) != sha256(pwa.VENDOR_DIR / path)]
    assert not differ, f"pwa/vendor/ differs from node_modules/ (run `make vendor`): {differ}"


# --- make vendor ----------------------------------------------------------------------------

@pytest.fixture
def npm_tree(tmp_path, monkeypatch):
    """A node_modules/ holding the locked packages (from pwa/vendor/) and an empty pwa/vendor/ to fill."""
    node_modules = tmp_path / "node_modules"
    for path in pwa.vendored_paths():
        (node_modules / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pwa.VENDOR_DIR / path, node_modules / path)
    for package, version in pwa.locked_versions().items():
        (node_modules / package / "package.json").write_text(json.dumps({"name": package, "version": version}))
    vendor = tmp_path / "pwa" / "vendor"
    vendor.mkdir(parents=True)
    (vendor / "stale.js").write_text("// a file no longer vendored")
    monkeypatch.setattr(pwa, "NODE_MODULES", node_modules)
    monkeypatch.setattr(pwa, "VENDOR_DIR", vendor)
    monkeypatch.setattr(pwa, "VENDOR_MANIFEST", vendor / "manifest.json")
    return node_modules, vendor


def test_make_vendor_copies_the_installed_files_and_writes_the_manifest(runner, npm_tree):
    node_modules, vendor = npm_tree
    (node_modules / "leaflet" / "dist" / "leaflet.css").write_text("/* a new leaflet.css */")
    result = runner.invoke(args=["pwa", "vendor"])
    assert result.exit_code == 0, result.output
    assert "jsqr 1.4.0" in result.output and "leaflet 1.9.4" in result.output
    assert (vendor / "leaflet" / "dist" / "leaflet.css").read_text() == "/* a new leaflet.css */"
    assert not (vendor / "stale.js").exists()
    assert sorted(p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file()) == sorted(
        pwa.vendored_paths() + ["manifest.json"])
    rows = json.loads((vendor / "manifest.json").read_text())["files"]
    assert rows == pwa.describe_vendor(vendor, pwa.locked_versions())
    assert {"package": "leaflet", "version": "1.9.4", "file": "leaflet/dist/leaflet.css",
            "sha256": hashlib.sha256(b"/* a new leaflet.css */").hexdigest()} in rows


def test_make_vendor_refuses_a_node_modules_that_is_not_the_locked_one(runner, npm_tree):
    node_modules, vendor = npm_tree
    (node_modules / "leaflet" / "package.json").write_text(json.dumps({"name": "leaflet", "version": "2.0.0"}))
    result = runner.invoke(args=["pwa", "vendor"])
    assert result.exit_code == 1
    assert "leaflet 2.0.0" in result.output and "pins 1.9.4" in result.output and "npm ci" in result.output
    assert [p.name for p in vendor.iterdir()] == ["stale.js"]  # nothing copied, nothing removed


# --- compression ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/app/js/app.js", "/app/css/app.css", "/app/vendor/leaflet.js", "/", "/sw.js"])
def test_text_files_go_gzip_compressed_to_browsers_that_accept_it(client, path):
    import gzip

    plain = fetch(client, path)
    packed = fetch(client, path, **{"Accept-Encoding": "gzip, deflate, br"})
    assert plain.status_code == packed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in plain.headers["Vary"] and "Accept-Encoding" in packed.headers["Vary"]
    assert gzip.decompress(packed.data) == plain.data
    assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data) / 2
    # A cached copy is revalidated with 304 whichever form it was fetched in.
    etag = packed.headers.get("ETag")
    if etag:
        assert etag.startswith('W/"') and etag[2:] == plain.headers["ETag"]
        again = fetch(client, path, **{"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert again.status_code == 304 and again.data == b""


def test_images_ranges_and_refusals_are_sent_as_they_are(client):
    png = fetch(client, "/app/vendor/images/marker-icon.png", **{"Accept-Encoding": "gzip"})
    assert png.status_code == 200 and "Content-Encoding" not in png.headers
    part = fetch(client, "/app/js/app.js", **{"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
    assert part.status_code == 206 and "Content-Encoding" not in part.headers and len(part.data) == 100
    refused = fetch(client, "/app/js/app.js", **{"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers
    missing = fetch(client, "/app/vendor/nothing.js", **{"Accept-Encoding": "gzip"})
    assert missing.status_code == 404 and "Content-Encoding" not in missing.headers
