"""Security headers on every response, with a strict Content-Security-Policy.

The PWA has no inline script or style and loads nothing from other origins except map
tiles, so its policy is ``'self'`` throughout (plus the tile server's origin for
images). The one page with inline code is the interactive API documentation (Swagger
UI's own template): it is allowed exactly its inline blocks by their SHA-256, nothing
more.
"""
from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request

from app import links
from app.errors import ApiError
from app.logs import redact

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_INLINE_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)


def tile_origin(tile_url: str) -> str | None:
    """The origin map tiles come from, as a CSP source ("https://*.tile.example.org" for {s} URLs)."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(app: Flask, *, scripts: list[str] = (), styles: list[str] = ()) -> str:
    images = ["'self'", "data:", "blob:"]
    tiles = tile_origin(app.config.get("MAP_TILE_URL") or "")
    if tiles:
        images.append(tiles)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *scripts],
        "style-src": ["'self'", *styles],
        "img-src": images,
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "worker-src": ["'self'"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _hashes(pattern: re.Pattern, html: str) -> list[str]:
    return [f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
            for block in pattern.findall(html)]


_FIXED_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    # The camera (QR scanning) and location (camera placement, incident point) are the
    # app's own; nothing else, and no embedded page, gets them.
    ("Permissions-Policy", "camera=(self), geolocation=(self), microphone=(), payment=(), usb=(), interest-cohort=()"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def _set_headers(response: Response) -> Response:
    """Each header unless the response set its own: one pass over the response's headers,
    where a setdefault per header would read them all again for each."""
    app = current_app
    headers = response.headers
    present = {name.lower() for name in headers.keys()}
    if "content-security-policy" not in present:
        if request.endpoint == "openapi.docs" and response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            policy = content_security_policy(app, scripts=_hashes(_INLINE_SCRIPT, html),
                                             styles=_hashes(_INLINE_STYLE, html))
        else:
            policy = app.extensions["porchlight_csp"]
        headers.add("Content-Security-Policy", policy)
    headers.extend([(name, value) for name, value in _FIXED_HEADERS if name.lower() not in present])
    if app.config.get("SESSION_COOKIE_SECURE") and request.is_secure and _HSTS[0].lower() not in present:
        headers.add(*_HSTS)
    return response


def register_security_headers(app: Flask) -> None:
    app.extensions["porchlight_csp"] = content_security_policy(app)
    app.after_request(_set_headers)
    app.before_request(_refuse_cross_site_writes)


# --- cross-site request forgery ----------------------------------------------------------

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_SESSION_STARTING = {"accounts.sign_in", "accounts.sign_up"}


def _own_origins() -> set[str]:
    # The Host the browser addressed counts too (development on 127.0.0.1 while links carry
    # the LAN address; a second name of the same server): a page on another site cannot
    # choose the Host of the request it makes, so it cannot forge a match. Links never
    # use it (app/links.py).
    return {request.host_url.rstrip("/"), links.origin()}


def _refuse_cross_site_writes() -> None:
    """Refuse a state-changing request that carries the session cookie but comes from another site.

    The cookie is SameSite=Lax already; this is the second line (OWASP's "verifying
    origin with standard headers"): browsers label every request with Sec-Fetch-Site
    and send Origin on every cross-origin write, so a page elsewhere cannot make a
    signed-in browser change anything here, nor sign it in to another account. Other
    calls without the session cookie (signed links, Twilio's webhooks, bearer upload
    links) are not cookie-authenticated and are unaffected; clients that are not
    browsers send neither header.
    """
    if request.method in _SAFE_METHODS:
        return
    # Signing in or up from another site would sign the browser into someone else's account.
    if (current_app.config["SESSION_COOKIE_NAME"] not in request.cookies
            and request.endpoint not in _SESSION_STARTING):
        return
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if site in ("cross-site", "same-site") or (origin is not None and origin not in _own_origins()):
        current_app.logger.warning("refused a cross-site %s %s from origin %r (Sec-Fetch-Site %r)",
                                   request.method, redact(request.path), origin, site)
        raise ApiError(403, "cross_site_request",
                       "This request came from another site and was refused. Use Porchlight itself.")
