"""The app's public address, and every absolute link built on it.

This is the only module that knows where people reach Porchlight: SMS and push texts,
upload links, enrollment URLs and their QR codes, printed sheets, CSV exports, CLI
output and the URL Twilio signs all join their path onto ``base_url()``. It comes from
PUBLIC_BASE_URL and never from a request's Host or X-Forwarded-* headers: those say
whatever the client (or anyone before the proxy) sent, and a link built from them once
carried ``http://evil.example`` into every owner's SMS.

Production refuses to start without PUBLIC_BASE_URL. Development (``make run``) falls
back to ``http://HOST:PORT``; with a wildcard HOST (``0.0.0.0``) that is this machine's
LAN address, so a phone on the same network can open the links and scan the QR code.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from flask import Flask, current_app

EXAMPLE = "PUBLIC_BASE_URL=https://porchlight.example.gov"
_WILDCARD_HOSTS = {"0.0.0.0", "::"}  # noqa: S104 (names of "every interface", not a bind)
# Addresses on private networks, only routed to, never sent to: the first one the machine
# has a route for tells which address it would send from (its LAN address).
_ROUTE_PROBES = ("10.255.255.254", "192.168.255.254", "172.31.255.254")


def init_app(app: Flask) -> None:
    """Settle the public base URL once at start-up, or refuse to start (production without one)."""
    config = app.config
    configured = config.get("PUBLIC_BASE_URL")
    production = config["ENV_NAME"] == "production"
    if configured:
        config["PUBLIC_BASE_URL"] = checked_base_url(configured, production=production)
    elif production:
        raise RuntimeError(
            "PUBLIC_BASE_URL must be set in production: the https:// address people reach Porchlight at, "
            f"which every link, QR code and SMS carries, e.g. {EXAMPLE} (see docs/DEPLOY.md)")
    else:
        config["PUBLIC_BASE_URL"] = development_base_url(app, config.get("HOST"), config.get("PORT"))


def checked_base_url(text: str, *, production: bool) -> str:
    """``text`` without its trailing slash, or a RuntimeError saying what is wrong with it."""
    problem = _problem(text, production=production)
    if problem:
        raise RuntimeError(f"PUBLIC_BASE_URL {problem}, got {text!r}: set the absolute address people reach "
                           f"Porchlight at, e.g. {EXAMPLE} (see docs/DEPLOY.md)")
    return text.rstrip("/")


def _problem(text: str, *, production: bool) -> str | None:
    if text != text.strip() or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return "must not contain spaces or control characters"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http(s):// URL naming a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if "?" in text or "#" in text:
        return "must not have a query (?) or fragment (#)"
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when asked)
    except ValueError:
        return "has an invalid port"
    # Refused rather than warned about: the PWA's service worker, push and camera work only
    # in a secure context, production cookies are Secure (sign-in fails over http), and every
    # SMS would carry an upload token in plain text. Loopback stays allowed: browsers count
    # it as secure and it never leaves the machine (benchmarks of the production settings).
    if production and parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "must start with https:// in production"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def development_base_url(app: Flask, host: str | None, port: int | None) -> str:
    """``http://HOST:PORT`` as ``make run`` serves it; a wildcard HOST becomes the LAN address."""
    host = (host or "127.0.0.1").strip("[]")
    if host in _WILDCARD_HOSTS:
        found = lan_address()
        if found is None:
            app.logger.warning("HOST is %s but no network address of this machine was found: links and QR codes "
                               "point at 127.0.0.1; set PUBLIC_BASE_URL to the address a phone reaches it at", host)
        host = found or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return checked_base_url(f"http://{host}:{port or 5000}", production=False)


def lan_address() -> str | None:
    """The address this machine would send from to reach a private network, or None.

    Connecting a UDP socket only chooses a route and a source address: no packet leaves.
    """
    for probe in _ROUTE_PROBES:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                address = udp.getsockname()[0]
        except OSError:
            continue
        if address != "0.0.0.0" and not ipaddress.ip_address(address).is_loopback:  # noqa: S104
            return address
    return None


def base_url() -> str:
    """The public base URL, without a trailing slash (settled by ``init_app``)."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        raise RuntimeError("PUBLIC_BASE_URL is not set (the app was not built by create_app)")
    return base.rstrip("/")


def absolute_url(path: str) -> str:
    """``path`` (starting with ``/``, query allowed) on the public base URL."""
    if not path.startswith("/"):
        raise ValueError(f"a path starting with / is needed, got {path!r}")
    return base_url() + path


def origin() -> str:
    """``scheme://host[:port]`` of the public base URL (what browsers send as Origin)."""
    parts = urlsplit(base_url())
    return f"{parts.scheme}://{parts.netloc}"


def reachable_from_internet() -> bool:
    """False when the base URL names a loopback or private address no outside service can call."""
    host = urlsplit(base_url()).hostname or ""
    if host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_private or address.is_loopback or address.is_link_local)
