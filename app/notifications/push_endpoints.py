"""Which push endpoints the server will POST to, and a transport that keeps to them.

A subscription's endpoint is a URL the subscriber's browser chooses; taken on trust it
lets anyone with an owner account make the worker POST to any address the server can
reach (its own loopback, the cloud metadata service, the agency's network). So:

- an endpoint is an ``https`` URL whose host is a name (never an address, in any of
  the spellings the C resolver accepts, e.g. ``2130706433`` or ``0x7f000001``) on the
  allow-list PUSH_SERVICE_HOSTS — the browser vendors' push services unless widened;
- every address that name resolves to is publicly routable;
- exact origins listed in PUSH_TEST_ORIGINS (the tests' local push services) are exempt
  from both rules; production refuses to start with any listed.

Both rules are applied when a subscription is registered and again before each message
(rows stored before these rules existed, a name whose addresses changed). At send time
the name is resolved once per new connection and the socket connects to the very
addresses that were checked, so a name that answers differently the second time (DNS
rebinding) gains nothing. :class:`PushSession` never follows redirects.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

_HOST_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*\.?")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 6052's well-known NAT64 prefix: the IPv4 address in its last 32 bits is what is reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Origin = tuple[str, str, int]  # scheme, host, port


class RefusedAddress(Exception):
    """The endpoint's host name resolves to an address the server must not send to."""


@dataclass(frozen=True)
class Policy:
    hosts: tuple[str, ...]  # host suffixes, matched on a label boundary
    test_origins: frozenset[Origin]

    def allows_host(self, host: str) -> bool:
        host = host.rstrip(".")
        return any(host == suffix or host.endswith("." + suffix) for suffix in self.hosts)


def _items(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[,\s]+", value)
    return [item.strip() for item in value if item and item.strip()]


def _origin(parts: SplitResult) -> Origin:
    return parts.scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)


def policy(config: Mapping[str, Any]) -> Policy:
    """The rules PUSH_SERVICE_HOSTS and PUSH_TEST_ORIGINS set; RuntimeError for a malformed entry."""
    hosts = []
    for item in _items(config.get("PUSH_SERVICE_HOSTS")):
        suffix = item.lower().strip(".")
        if not _HOST_NAME.fullmatch(suffix) or _is_address(suffix):
            raise RuntimeError(f"PUSH_SERVICE_HOSTS takes host names such as fcm.googleapis.com, not {item!r}")
        hosts.append(suffix)
    origins = set()
    for item in _items(config.get("PUSH_TEST_ORIGINS")):
        try:
            parts = urlsplit(item)
            origin = _origin(parts)
        except ValueError:
            parts = origin = None
        if (parts is None or parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username
                or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment):
            raise RuntimeError(f"PUSH_TEST_ORIGINS takes origins such as http://127.0.0.1:8089, not {item!r}")
        origins.add(origin)
    return Policy(tuple(hosts), frozenset(origins))


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse to start with malformed push settings, or with the test exemption in production."""
    rules = policy(config)
    if rules.test_origins and config.get("ENV_NAME") == "production":
        raise RuntimeError("PUSH_TEST_ORIGINS lets the server POST to the origins it lists, whatever they are; "
                           "it is for tests and must not be set in production (see docs/DEPLOY.md)")


def _is_address(host: str) -> bool:
    """Whether ``host`` is an IP address in any spelling a resolver would take as one."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(host)  # 127.1, 2130706433, 0x7f000001, 0177.0.0.1 ...
        return True
    except (OSError, ValueError):
        return False


def endpoint_problem(endpoint: str, rules: Policy) -> str | None:
    """Why the server must not send to ``endpoint`` judging by the URL alone, or None."""
    try:
        parts = urlsplit(endpoint)
        origin = _origin(parts)
    except ValueError:
        return "Must be an absolute https URL."
    host = parts.hostname or ""
    if not host or parts.username is not None or parts.password is not None or parts.fragment:
        return "Must be an absolute https URL without credentials or fragment."
    if origin in rules.test_origins:
        return None
    if parts.scheme != "https":
        return "Must be an https URL."
    if _is_address(host):
        return "Must name the push service's host, not an address."
    if not _HOST_NAME.fullmatch(host):
        return "Must be an absolute https URL."
    if not rules.allows_host(host):
        return "Must be the URL of a push service this server accepts (a browser vendor's)."
    return None


def subscription_problem(endpoint: str, rules: Policy) -> str | None:
    """Why an endpoint may not be registered (the URL, then what its host name resolves to), or None."""
    problem = endpoint_problem(endpoint, rules)
    if problem is not None:
        return problem
    parts = urlsplit(endpoint)
    if _origin(parts) in rules.test_origins:
        return None
    try:
        checked_addresses(parts.hostname or "", parts.port or 443)
    except socket.gaierror:
        return "The push service's host name does not resolve."
    except RefusedAddress:
        # Which internal address a name has is not the subscriber's business.
        return "The push service's host name resolves to an address that is not public."
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (socket.gaierror when it does not); tests replace this."""
    found: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if sockaddr[0] not in found:
            found.append(sockaddr[0])
    return found


def routable(address: str) -> bool:
    """Whether ``address`` is a public unicast address; one embedding an IPv4 address is judged by that."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches that IPv4 address.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return routable(str(embedded))
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses of ``host``, all public; RefusedAddress if any is not, gaierror if none."""
    addresses = resolve(host, port)
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    refused = [a for a in addresses if not routable(a)]
    if refused:
        raise RefusedAddress(f"{host} resolves to {refused[0]}, which is not a public address")
    return addresses


# --- the transport -----------------------------------------------------------------------------

class RefusedConnection(NewConnectionError):
    """A connection not made because the host resolved to an address that is not public."""

    def __init__(self, conn: Any, why: str) -> None:
        super().__init__(conn, why)
        self.why = why


class _CheckedAddressConnection:
    """Connects only to addresses :func:`checked_addresses` approved, resolved once per connection.

    TLS server name, certificate check and the Host header still use the host name:
    only the TCP connection is made to the checked address.
    """

    def _new_conn(self) -> socket.socket:
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except RefusedAddress as exc:
            raise RefusedConnection(self, str(exc)) from None
        error: Exception | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError:
                error = ConnectTimeoutError(self, f"Connection to {self.host} ({address}) timed out. "
                                                  f"(connect timeout={self.timeout})")
            except OSError as exc:
                error = NewConnectionError(self, f"Failed to establish a new connection to {address}: {exc}")
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        raise error


class CheckedHTTPConnection(_CheckedAddressConnection, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedAddressConnection, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    """requests' pooled adapter whose new connections go only to checked public addresses.

    An outbound proxy (HTTPS_PROXY) resolves the names itself: through one, only the
    URL rules apply here and keeping the proxy off internal addresses is its own job.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}


class PushSession(requests.Session):
    """A session that never follows a redirect: a 3xx is the push service's answer.

    requests follows 307/308 for a POST, body and VAPID header included, to wherever
    ``Location`` says; pywebpush has no switch for it.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def refusal(exc: requests.ConnectionError) -> str | None:
    """The reason a connection was refused by the address check, if that is what ``exc`` is."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return reason.why if isinstance(reason, RefusedConnection) else None


def session(rules: Policy, pool_size: int) -> PushSession:
    """A pooled session for sending pushes: checked addresses, no redirects, the test origins as listed."""
    push_session = PushSession()
    checked = CheckedAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    push_session.mount("https://", checked)
    push_session.mount("http://", checked)
    for scheme, host, port in rules.test_origins:
        exempt = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
        netloc = f"[{host}]" if ":" in host else host
        push_session.mount(f"{scheme}://{netloc}:{port}/", exempt)
        if port == _DEFAULT_PORTS[scheme]:
            push_session.mount(f"{scheme}://{netloc}/", exempt)
    return push_session
