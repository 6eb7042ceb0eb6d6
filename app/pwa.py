"""Serves the PWA's files from pwa/ (the app itself is its own issue), the /e/<code> page,
and the third-party browser scripts the PWA loads from npm under /app/vendor/.

Vendored scripts
----------------
``package.json`` pins them and ``npm ci`` (run by ``make run`` and ``make test``) puts
them in ``node_modules/``. Nothing is copied into pwa/ (the route owns /app/vendor/, so
a pwa/vendor/ directory would never be served): :func:`vendor` answers from an explicit
allow-list, so no part of the request path ever reaches the filesystem::

    /app/vendor/jsqr.js                     node_modules/jsqr/dist/jsQR.js                  window.jsQR
    /app/vendor/tus.js                      node_modules/tus-js-client/dist/tus.min.js      window.tus
    /app/vendor/tus.min.js.map              node_modules/tus-js-client/dist/tus.min.js.map
    /app/vendor/leaflet.js                  node_modules/leaflet/dist/leaflet.js            window.L
    /app/vendor/leaflet.js.map              node_modules/leaflet/dist/leaflet.js.map
    /app/vendor/leaflet.css                 node_modules/leaflet/dist/leaflet.css
    /app/vendor/images/<leaflet image>.png  node_modules/leaflet/dist/images/<same>.png

The scripts are UMD bundles: pages load them with classic ``<script src>`` tags (not
``type="module"``) and read the globals in the right-hand column. ``leaflet.css``
refers to ``images/...`` relative to itself, hence the ``images/`` entries, and the
source maps sit where the bundles' ``sourceMappingURL`` comments point.

If node_modules/ is missing (``npm ci`` never ran) a mapped name answers 404 in the
API's JSON error shape and the log says what to run; an unmapped name is a plain 404.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from apiflask import APIBlueprint, Schema, fields
from flask import Blueprint, current_app, request, send_file, send_from_directory

from app.errors import ApiError, not_found
from app.footage.asks import TRANSITIONS, UPLOADABLE
from app.footage.models import OPEN_ASK_STATES, AskState
from app.footage.schemas import ACTIONS

ROOT = Path(__file__).resolve().parent.parent
PWA_DIR = ROOT / "pwa"
NODE_MODULES = ROOT / "node_modules"

_JS = "text/javascript"  # Werkzeug adds "; charset=utf-8" to text/* types
_CSS = "text/css"
_PNG = "image/png"
_MAP = "application/json"

# Public name under /app/vendor/ -> (path under node_modules/, content type).
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

bp = Blueprint("pwa", __name__)


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
    """A pinned third-party file from node_modules/, by its allow-listed public name."""
    entry = VENDOR_FILES.get(name)
    if entry is None:
        raise not_found("Vendored file")
    relative, mimetype = entry
    path = NODE_MODULES / relative
    if not path.is_file():
        current_app.logger.error(
            "vendored file %s is missing: %s does not exist. Run `npm ci` in %s "
            "(`make run` and `make test` do it) to install the versions pinned in package.json.",
            name, path, ROOT)
        raise ApiError(404, "not_found", f"Vendored file {name} is not installed on this server (run `npm ci`).")
    # The content type comes from the table, not from mimetypes (which varies by Python and host).
    return send_file(path, mimetype=mimetype, conditional=True)


@bp.get("/app/<path:filename>")
def asset(filename: str):
    # send_from_directory refuses paths that leave PWA_DIR.
    return send_from_directory(PWA_DIR, filename)


# --- the installable app: service worker, manifest, offline and upload-link pages -----------

# What the service worker caches as the app shell besides everything under pwa/js,
# pwa/css and pwa/icons: the start page, the offline page, the manifest and the
# vendored scripts the screens load.
_SHELL_PAGES = ("/", "/offline.html", "/manifest.webmanifest")
_SHELL_DIRS = ("js", "css", "icons")
_SHELL_VENDOR = ("leaflet.js", "leaflet.css", "tus.js", "jsqr.js")


def _shell_files() -> list[tuple[str, Path]]:
    files = [(f"/app/{p.relative_to(PWA_DIR).as_posix()}", p)
             for folder in _SHELL_DIRS for p in sorted((PWA_DIR / folder).rglob("*")) if p.is_file()]
    pages = {"/": "index.html", "/offline.html": "offline.html", "/manifest.webmanifest": "manifest.webmanifest"}
    files += [(url, PWA_DIR / pages[url]) for url in _SHELL_PAGES]
    for name in _SHELL_VENDOR:
        path = NODE_MODULES / VENDOR_FILES[name][0]
        if path.is_file():
            files.append((f"/app/vendor/{name}", path))
    return files


def _service_worker_source() -> bytes:
    """sw.js with its VERSION (a digest of every shell file) and SHELL (their URLs) filled in."""
    files = _shell_files()
    digest = hashlib.sha256()
    for url, path in files + [("/sw.js", PWA_DIR / "sw.js")]:
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


class AppConfigOut(Schema):
    map = fields.Nested(MapConfigOut)
    asks = fields.Nested(AskRulesOut)


def ask_rules() -> dict[str, Any]:
    """The ask rules, each from its one home in app.footage (lists in AskState's order)."""
    def values(states: Collection[AskState]) -> list[str]:
        return [state.value for state in AskState if state in states]
    return {"states": list(_STATES), "open": values(OPEN_ASK_STATES), "uploadable": values(UPLOADABLE),
            "actions": list(ACTIONS),
            "transitions": {state.value: values(TRANSITIONS[state]) for state in AskState}}


@config_bp.get("/app-config")
@config_bp.output(AppConfigOut)
def app_config():
    """What the PWA needs before sign-in: the map tiles, where maps open, and the ask rules"""
    config = current_app.config
    return {"map": {"tile_url": config["MAP_TILE_URL"], "attribution": config["MAP_TILE_ATTRIBUTION"],
                    "center": list(config["MAP_DEFAULT_CENTER"]), "zoom": config["MAP_DEFAULT_ZOOM"],
                    "max_zoom": config["MAP_MAX_ZOOM"]},
            "asks": ask_rules()}
