"""Serves the PWA's files from pwa/ (the app itself is its own issue), the /e/<code> page,
and the pinned third-party browser files the PWA loads under /app/vendor/.

Vendored files
--------------
``package.json`` pins Leaflet, tus-js-client and jsQR, and their files live in the
repository under ``pwa/vendor/``, in npm's layout (``<package>/<path in the package>``)
beside each package's ``LICENSE``, so the app needs no Node.js to run.
``pwa/vendor/manifest.json`` names each file's package, its version in
``package-lock.json`` and its SHA-256 (tests/test_pwa_assets.py checks all three);
``make vendor`` (``flask pwa vendor`` after ``npm ci``) copies them from node_modules/ and
rewrites the manifest. :func:`vendor` answers from an explicit allow-list, so no part of
the request path ever reaches the filesystem::

    /app/vendor/jsqr.js                     pwa/vendor/jsqr/dist/jsQR.js                  window.jsQR
    /app/vendor/tus.js                      pwa/vendor/tus-js-client/dist/tus.min.js      window.tus
    /app/vendor/tus.min.js.map              pwa/vendor/tus-js-client/dist/tus.min.js.map
    /app/vendor/leaflet.js                  pwa/vendor/leaflet/dist/leaflet.js            window.L
    /app/vendor/leaflet.js.map              pwa/vendor/leaflet/dist/leaflet.js.map
    /app/vendor/leaflet.css                 pwa/vendor/leaflet/dist/leaflet.css
    /app/vendor/images/<leaflet image>.png  pwa/vendor/leaflet/dist/images/<same>.png

The scripts are UMD bundles: pages load them with classic ``<script src>`` tags (not
``type="module"``) and read the globals in the right-hand column. ``leaflet.css``
refers to ``images/...`` relative to itself, hence the ``images/`` entries, and the
source maps sit where the bundles' ``sourceMappingURL`` comments point. The vendor route
owns /app/vendor/, so nothing else under pwa/vendor/ (licences, manifest) is served.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

import click
from apiflask import APIBlueprint, Schema, fields
from flask import Blueprint, current_app, request, send_file, send_from_directory

from app import pwa_i18n
from app.agencies.service import installation_time_zone
from app.clips.uploads import allowed_containers
from app.errors import not_found
from app.footage.asks import ACTIONS, APPROVED_STATES, TRANSITIONS
from app.footage.models import OPEN_ASK_STATES, AskState
from app.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
PWA_DIR = ROOT / "pwa"
VENDOR_DIR = PWA_DIR / "vendor"
VENDOR_MANIFEST = VENDOR_DIR / "manifest.json"
NODE_MODULES = ROOT / "node_modules"
PACKAGE_LOCK = ROOT / "package-lock.json"

_JS = "text/javascript"  # Werkzeug adds "; charset=utf-8" to text/* types
_CSS = "text/css"
_PNG = "image/png"
_MAP = "application/json"

# Public name under /app/vendor/ -> (path under pwa/vendor/, as under node_modules/; content type).
VENDOR_FILES: dict[str, tuple[str, str]] = {
    "jsqr.js": ("jsqr/dist/jsQR.js", _JS),
    "tus.js": ("tus-js-client/dist/tus.min.js", _JS),
    "tus.min.js.map": ("tus-js-client/dist/tus.min.js.map", _MAP),
    "leaflet.js": ("leaflet/dist/leaflet.js", _JS),
    "leaflet.js.map": ("leaflet/dist/leaflet.js.map", _MAP),
    "leaflet.css": ("leaflet/dist/leaflet.css", _CSS),
    **{
        f"images/{image}": (f"leaflet/dist/images/{image}", _PNG)
        for image in ("layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png")
    },
}


def vendored_paths() -> list[str]:
    """Every file kept under pwa/vendor/: the served ones and each package's LICENSE."""
    served = {relative for relative, _ in VENDOR_FILES.values()}
    return sorted(served | {f"{package}/LICENSE" for package in _packages(served)})


def _packages(paths) -> set[str]:
    return {path.split("/", 1)[0] for path in paths}


def locked_versions(lock: Path = PACKAGE_LOCK) -> dict[str, str]:
    """The version package-lock.json pins for each vendored package."""
    locked = json.loads(lock.read_text(encoding="utf-8"))["packages"]
    return {package: locked[f"node_modules/{package}"]["version"] for package in _packages(vendored_paths())}


def describe_vendor(root: Path, versions: dict[str, str]) -> list[dict[str, str]]:
    """The manifest's rows for the vendored files under ``root``: package, version, file, SHA-256."""
    rows = []
    for path in vendored_paths():
        package = path.split("/", 1)[0]
        rows.append({"package": package, "version": versions[package], "file": path,
                     "sha256": hashlib.sha256((root / path).read_bytes()).hexdigest()})
    return rows


bp = Blueprint("pwa", __name__)
# /app/i18n/<lang>.json and `flask pwa-i18n ...`: the PWA's catalogs (app/pwa_i18n.py).
bp.register_blueprint(pwa_i18n.bp)


@bp.cli.command("vendor")
def refresh_vendor() -> None:
    """Copy the pinned browser files from node_modules/ into pwa/vendor/ (after `npm ci`)."""
    versions = locked_versions()
    for package, version in sorted(versions.items()):
        installed = NODE_MODULES / package / "package.json"
        found = json.loads(installed.read_text(encoding="utf-8"))["version"] if installed.is_file() else None
        if found != version:
            raise click.ClickException(
                f"node_modules/ has {package} {found or '(none)'}, package-lock.json pins {version}: run `npm ci`")
    missing = [path for path in vendored_paths() if not (NODE_MODULES / path).is_file()]
    if missing:
        raise click.ClickException(f"not in node_modules/: {', '.join(missing)}")
    shutil.rmtree(VENDOR_DIR, ignore_errors=True)
    for path in vendored_paths():
        (VENDOR_DIR / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE_MODULES / path, VENDOR_DIR / path)
    manifest = {"about": "The browser files under pwa/vendor/, copied from node_modules/ by `make vendor` at "
                         "the versions package-lock.json pins; tests/test_pwa_assets.py checks them.",
                "files": describe_vendor(VENDOR_DIR, versions)}
    VENDOR_MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    click.echo(f"pwa/vendor/: {len(manifest['files'])} files of "
               + ", ".join(f"{package} {version}" for package, version in sorted(versions.items())))


@bp.get("/")
def index():
    return send_from_directory(PWA_DIR, "index.html")


@bp.get("/e/<string:code>")
def enroll(code: str):
    # The page reads the code from its own URL; the file is the same for every code.
    response = send_from_directory(PWA_DIR, "enroll.html")
    # A member's code joins one business to the program: never let it leak through a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/app/vendor/<path:name>")
def vendor(name: str):
    """A pinned third-party file from pwa/vendor/, by its allow-listed public name."""
    entry = VENDOR_FILES.get(name)
    if entry is None:
        raise not_found("Vendored file")
    relative, mimetype = entry
    # The content type comes from the table, not from mimetypes (which varies by Python and host).
    return send_file(VENDOR_DIR / relative, mimetype=mimetype, conditional=True)


@bp.get("/app/<path:filename>")
def asset(filename: str):
    # send_from_directory refuses paths that leave PWA_DIR.
    return send_from_directory(PWA_DIR, filename)


# --- the installable app: service worker, manifest, offline and upload-link pages -----------

# What the service worker caches as the app shell besides everything under pwa/js,
# pwa/css and pwa/icons: the start page, the offline page, the manifest, the vendored
# scripts the screens load and the catalogs of the owners' languages.
_SHELL_PAGES = ("/", "/offline.html", "/manifest.webmanifest")
_SHELL_DIRS = ("js", "css", "icons")
_SHELL_VENDOR = ("leaflet.js", "leaflet.css", "tus.js", "jsqr.js")


def _shell_files() -> list[tuple[str, Path]]:
    files = [(f"/app/{p.relative_to(PWA_DIR).as_posix()}", p)
             for folder in _SHELL_DIRS for p in sorted((PWA_DIR / folder).rglob("*")) if p.is_file()]
    pages = {"/": "index.html", "/offline.html": "offline.html", "/manifest.webmanifest": "manifest.webmanifest"}
    files += [(url, PWA_DIR / pages[url]) for url in _SHELL_PAGES]
    files += [(f"/app/vendor/{name}", VENDOR_DIR / VENDOR_FILES[name][0]) for name in _SHELL_VENDOR]
    files += pwa_i18n.shell_files()
    return files


def _service_worker_source() -> bytes:
    """sw.js with its VERSION (a digest of every shell file) and SHELL (their URLs) filled in."""
    files = _shell_files()
    digest = hashlib.sha256()
    for url, path in files + [("/sw.js", PWA_DIR / "sw.js")] + pwa_i18n.other_sources():
        digest.update(url.encode() + b"\0" + path.read_bytes() + b"\0")
    source = (PWA_DIR / "sw.js").read_text(encoding="utf-8")
    source = source.replace("__VERSION__", digest.hexdigest()[:16])
    source = source.replace("__SHELL__", json.dumps([url for url, _ in files]))
    return source.encode()


_sw_cache: dict[str, bytes] = {}


@bp.get("/sw.js")
def service_worker():
    # At the root so that its scope is the whole app. Built once per process (files do not
    # change under a running server), except in debug mode where they do.
    if current_app.debug or "source" not in _sw_cache:
        _sw_cache["source"] = _service_worker_source()
    response = current_app.response_class(_sw_cache["source"], mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/manifest.webmanifest")
def manifest():
    return send_from_directory(PWA_DIR, "manifest.webmanifest", mimetype="application/manifest+json")


@bp.get("/offline.html")
def offline():
    return send_from_directory(PWA_DIR, "offline.html")


@bp.get("/u/<string:token>")
def upload_link(token: str):
    # The signed upload link sent to SMS owners; the page reads the token from its URL.
    response = send_from_directory(PWA_DIR, "upload.html")
    # The token is the authority for one ask: never let it leak through a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.after_app_request
def _revalidate_app_files(response):
    # The app's pages and modules change with each release: browsers revalidate them
    # (cheap 304s); the service worker keeps the offline copy.
    if request.path == "/" or request.path.startswith(("/app/", "/e/", "/u/")):
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


# The app's own text files travel gzip-compressed to browsers that accept it: on a phone's
# slow connection they are most of what a screen waits for (about 180 KB of script and
# style, a quarter of that compressed). Each file is compressed once per version (its
# ETag) and kept; the ETag turns weak, which still answers revalidations with 304 (they
# compare weakly) and tells caches the bytes differ from the uncompressed ones.
_COMPRESSIBLE = frozenset({"text/html", "text/css", "text/javascript", "application/javascript",
                           "application/json", "application/manifest+json", "image/svg+xml"})
_COMPRESS_MIN_BYTES = 1024
_GZIP_CACHE_ENTRIES = 512
_gzip_cache: dict[tuple[str, str], bytes] = {}


@bp.after_request
def _compress_text_files(response):
    if response.mimetype not in _COMPRESSIBLE:
        return response
    response.vary.add("Accept-Encoding")
    if (response.status_code != 200 or "Content-Encoding" in response.headers
            or request.accept_encodings["gzip"] <= 0):
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < _COMPRESS_MIN_BYTES:
        return response
    etag, _ = response.get_etag()
    key = (request.path, etag or hashlib.sha256(data).hexdigest())
    compressed = _gzip_cache.get(key)
    if compressed is None:
        if len(_gzip_cache) >= _GZIP_CACHE_ENTRIES:
            _gzip_cache.clear()  # a new release's files: the old versions are not asked for again
        compressed = _gzip_cache[key] = gzip.compress(data, compresslevel=6, mtime=0)
    response.set_data(compressed)
    response.headers["Content-Encoding"] = "gzip"
    # Byte ranges would count in the compressed bytes: these small files are sent whole.
    response.headers.pop("Accept-Ranges", None)
    if etag:
        response.set_etag(etag, weak=True)
    return response


# --- what the app needs before sign-in: this deployment's map, the ask rules --------------

config_bp = APIBlueprint("app_config", __name__, url_prefix="/api", tag="App")


class MapConfigOut(Schema):
    tile_url = fields.String(metadata={"description": "Leaflet tile URL template; empty: no tiles, pins only."})
    attribution = fields.String()
    center = fields.List(fields.Float(), metadata={"description": "[latitude, longitude] maps open on."})
    zoom = fields.Integer()
    max_zoom = fields.Integer()


_STATES = [state.value for state in AskState]


def _states(description: str) -> fields.List:
    return fields.List(fields.String(metadata={"enum": _STATES}), metadata={"description": description})


class AskRulesOut(Schema):
    """The ask state machine as app.footage defines it: the PWA reads it instead of keeping a copy."""

    states = _states("Every state an ask can be in, in the order of its life.")
    open = _states("Waiting for the owner's answer: the ask's `actions` are possible.")
    uploadable = _states("The owner may add clips (up to the agency's maximum).")
    actions = fields.List(fields.String(metadata={"enum": list(ACTIONS)}), metadata={
        "description": "Every answer an open ask takes, in the order an ask's `actions` lists them."})
    transitions = fields.Dict(
        keys=fields.String(metadata={"enum": _STATES}), values=fields.List(fields.String(metadata={"enum": _STATES})),
        metadata={"description": "The states each state can become; an empty list: the ask is final."})


class UploadConfigOut(Schema):
    containers = fields.List(fields.String(), metadata={
        "description": "The video containers uploads accept (judged by their leading bytes), for the upload "
                       "screen to name."})


class LanguageOut(Schema):
    code = fields.String(metadata={"enum": list(LANGUAGES), "description": "The language's tag (hmn: White Hmong, "
                                                                            "RPA Latin script)."})
    name = fields.String(metadata={"description": "The language's name in itself, for the language switch."})


class AppConfigOut(Schema):
    map = fields.Nested(MapConfigOut)
    asks = fields.Nested(AskRulesOut)
    uploads = fields.Nested(UploadConfigOut)
    languages = fields.List(fields.Nested(LanguageOut), metadata={
        "description": "The languages offered, English first; a user's `language` is one of their codes."})
    time_zone = fields.String(allow_none=True, metadata={
        "description": "The IANA time zone signed-out screens show times in: the agency's when this installation "
                       "runs exactly one, else null (the device's). Signed in, /api/auth/me's `time_zone` counts."})


def ask_rules() -> dict[str, Any]:
    """The ask rules, each from its one home in app.footage (lists in AskState's order)."""
    def values(states: Collection[AskState]) -> list[str]:
        return [state.value for state in AskState if state in states]
    return {"states": list(_STATES), "open": values(OPEN_ASK_STATES), "uploadable": values(APPROVED_STATES),
            "actions": list(ACTIONS),
            "transitions": {state.value: values(TRANSITIONS[state]) for state in AskState}}


@config_bp.get("/app-config")
@config_bp.output(AppConfigOut)
def app_config():
    """What the PWA needs before sign-in: map tiles, where maps open, ask rules, accepted containers, languages"""
    config = current_app.config
    return {"map": {"tile_url": config["MAP_TILE_URL"], "attribution": config["MAP_TILE_ATTRIBUTION"],
                    "center": list(config["MAP_DEFAULT_CENTER"]), "zoom": config["MAP_DEFAULT_ZOOM"],
                    "max_zoom": config["MAP_MAX_ZOOM"]},
            "asks": ask_rules(), "uploads": {"containers": allowed_containers()},
            "languages": [{"code": code, "name": name} for code, name in LANGUAGES.items()],
            "time_zone": installation_time_zone()}
