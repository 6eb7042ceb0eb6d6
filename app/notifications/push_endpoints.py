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

import http.client
import ipaddress
import re
import select
import socket
import ssl
import sys
import threading
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


# Names that reach nobody (RFC 2606 and RFC 6761), as VAPID_SUBJECT placeholders use them.
_PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
_PLACEHOLDER_TLDS = ("example", "test", "invalid", "localhost", "local", "internal", "lan", "home", "localdomain")
_MAILBOX = re.compile(r"[^@\s/?#]+@([^@\s/?#]+)")


def _placeholder_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    labels = host.split(".")
    return (len(labels) < 2 or not _HOST_NAME.fullmatch(host) or _is_address(host)
            or labels[-1] in _PLACEHOLDER_TLDS
            or any(host == d or host.endswith("." + d) for d in _PLACEHOLDER_DOMAINS))


def vapid_subject_problem(subject: str | None) -> str | None:
    """Why ``subject`` is no real contact for the push services, or None.

    The VAPID token's ``sub`` tells a push service whom to contact about the server's
    messages. Apple's service refuses tokens whose ``sub`` is not a ``mailto:`` with a
    deliverable address or an ``https:`` URL, so a placeholder (localhost, example.com,
    .test, .invalid) silently loses every iPhone's notifications.
    """
    subject = (subject or "").strip()
    if subject.lower().startswith("mailto:"):
        mailbox = _MAILBOX.fullmatch(subject[len("mailto:"):])
        if not mailbox or _placeholder_host(mailbox.group(1)):
            return "is a mailto: without a real address"
        return None
    try:
        parts = urlsplit(subject)
    except ValueError:
        return "is not a mailto: or https: URL"
    if parts.scheme != "https" or not parts.hostname:
        return "is not a mailto: or https: URL"
    if parts.username is not None or parts.password is not None or _placeholder_host(parts.hostname):
        return "is an https: URL without a real public host name"
    return None


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse to start with malformed push settings, or, in production, with the test
    exemption or a placeholder VAPID subject."""
    rules = policy(config)
    if config.get("ENV_NAME") != "production":
        return
    if rules.test_origins:
        raise RuntimeError("PUSH_TEST_ORIGINS lets the server POST to the origins it lists, whatever they are; "
                           "it is for tests and must not be set in production (see docs/DEPLOY.md)")
    subject = config.get("VAPID_SUBJECT")
    problem = vapid_subject_problem(subject)
    if problem:
        raise RuntimeError(f"VAPID_SUBJECT {problem} ({subject!r}): in production set it to the agency's contact for "
                           "the push services, e.g. VAPID_SUBJECT=mailto:webmaster@police.your-city.gov or "
                           "https://police.your-city.gov (Apple refuses placeholders; see docs/DEPLOY.md)")


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


# --- the direct transport --------------------------------------------------------------------------
# requests and urllib3 cost about 0.6 ms of CPU a message on top of what the message needs
# (encryption, one write, one answer; bench/fanout.py, docs/BENCHMARKS.md): more than
# everything else a message takes. Pushes are one small POST each to a handful of origins,
# so the worker keeps its own kept-alive sockets per origin, writes each request (headers
# and body) in one send, and reads the answer with http.client. Proxies stay with requests
# (webpush.py decides which).

@dataclass(frozen=True)
class Answer:
    status: int
    reason: str


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # in a request target
_LINE_BREAK = re.compile(r"[\r\n\x00]")  # in a header value


def _request_head(target: str, host: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    if _UNSAFE.search(target):
        raise http.client.InvalidURL(f"the push endpoint's path has a control character or space: {target!r}")
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or _LINE_BREAK.search(value):
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


_MAX_HEAD = 64 * 1024  # bytes of status line and headers; push services send a few hundred
_MAX_BODY = 64 * 1024  # an answer's body read to keep its connection (push services send little or none)


def _answer(sock: socket.socket) -> tuple[Answer, bool]:
    """Read one HTTP/1.x answer from ``sock``: its status and reason, and whether the connection
    may carry another request. Raises http.client.HTTPException for a garbled answer and
    RemoteDisconnected when there is none.

    http.client parses the headers with the e-mail package, about a tenth of a message's
    CPU here; only the status and the framing matter. A body is read (and dropped) only
    when Content-Length frames it; any other framing (chunked, till-close) closes the
    connection instead of reading on, which leaves nothing to misread on the next request.
    """
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            if len(data) > _MAX_HEAD:
                raise http.client.LineTooLong("the answer's headers")
            chunk = sock.recv(16384)
            if not chunk:
                if data:
                    raise http.client.IncompleteRead(data)
                raise http.client.RemoteDisconnected("the push service closed the connection without an answer")
            data += chunk
            continue
        lines = data[:end].split(b"\r\n")
        data = data[end + 4:]
        version, _, rest = lines[0].decode("latin-1").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise http.client.BadStatusLine(lines[0].decode("latin-1"))
        status = int(code)
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints); the final one follows
            continue
        break
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        # Only the framing headers matter; a line that is no header (or continues one) is passed
        # over, as http.client does.
        name, colon, value = line.partition(b":")
        if not colon or name[:1] in (b" ", b"\t"):
            continue
        name, value = name.strip().lower(), value.strip()
        if name in headers and name in (b"content-length", b"transfer-encoding"):
            return Answer(status, reason.strip()), False  # ambiguous framing: answer read, connection not reused
        headers[name] = value
    keep = version == "HTTP/1.1" and b"close" not in headers.get(b"connection", b"").lower()
    length = headers.get(b"content-length")
    if status in (204, 304):
        length = b"0"
    if b"transfer-encoding" in headers or length is None or not length.isdigit() or int(length) > _MAX_BODY:
        return Answer(status, reason.strip()), False
    missing = int(length) - len(data)
    while missing > 0:
        chunk = sock.recv(min(missing, 16384))
        if not chunk:
            return Answer(status, reason.strip()), False
        missing -= len(chunk)
    return Answer(status, reason.strip()), keep and missing == 0


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection was closed by the server (readable means EOF or junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class PushTransport:
    """POSTs to push endpoints over kept-alive connections, ``pool_size`` idle ones per origin at
    most; thread-safe. Never follows a redirect. The rules of :func:`endpoint_problem` are the
    caller's to apply first; every new connection goes to addresses :func:`checked_addresses`
    approved, resolved once for it (the listed test origins are reached as named), and TLS keeps
    the host name (SNI, certificate check)."""

    def __init__(self, rules: Policy, pool_size: int, ca_file: str | None = None) -> None:
        self._rules = rules
        self._size = max(1, pool_size)
        self._idle: dict[Origin, list[socket.socket]] = {}
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context(cafile=ca_file)

    def _connect(self, origin: Origin, timeout: float) -> socket.socket:
        scheme, host, port = origin
        addresses = [host] if origin in self._rules.test_origins else checked_addresses(host, port)
        error: OSError | None = None
        for address in addresses:
            try:
                sock = socket.create_connection((address, port), timeout)
            except OSError as exc:
                error = exc
                continue
            sys.audit("http.client.connect", self, host, port)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme != "https":
                return sock
            try:
                return self._tls.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        raise error or OSError(f"{host} has no address")

    def _socket(self, origin: Origin, timeout: float) -> socket.socket:
        with self._lock:
            idle = self._idle.get(origin)
            while idle:
                sock = idle.pop()
                if not _dropped(sock):
                    sock.settimeout(timeout)
                    return sock
                sock.close()
        return self._connect(origin, timeout)

    def _give_back(self, origin: Origin, sock: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self._size:
                idle.append(sock)
                return
        sock.close()

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
        """POST ``body``; the answer's status and reason. Raises when there is none: RefusedAddress
        (the name resolves to an address that is not public), OSError (no address, no connection,
        a timeout, TLS) or http.client.HTTPException (a dropped or garbled answer)."""
        parts = urlsplit(url)
        origin = _origin(parts)
        scheme, host, port = origin
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        name = f"[{host}]" if ":" in host else host
        head = _request_head(target, name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}", body, headers)
        sock = self._socket(origin, timeout)
        try:
            sock.sendall(head + body)  # one write: one segment, one wake-up at the push service
            answer, keep = _answer(sock)
        except BaseException:
            sock.close()
            raise
        if keep:
            self._give_back(origin, sock)
        else:
            sock.close()
        return answer

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for sockets in idle.values():
            for sock in sockets:
                sock.close()
