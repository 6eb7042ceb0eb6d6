"""Push endpoints cannot make the server POST to internal addresses.

The attack as reported: an owner registers ``https://2130706433:PORT/`` (or ``127.1``,
``0x7f000001``, ``0177.0.0.1``, a name resolving to loopback...) as the push endpoint of
their "device", and the worker POSTs to it; or a push service answers 307 to
``http://127.0.0.1:...`` and the worker follows, marking the delivery sent. Every test
here has a real listener on the internal port and asserts it hears nothing.
"""
from __future__ import annotations

import os
import selectors
import socket
import threading
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.extensions import db
from app.notifications import delivery, push_endpoints, webpush
from app.notifications.models import Channel, DeliveryStatus, Notification, PushSubscription
from tests.conftest import production_app
from tests.peers import scenario
from tests.peers.push_service import LocalPushService

PUBLIC = "142.250.74.138"  # an address of fcm.googleapis.com's, as a resolver would give it


class Listener:
    """A TCP port on loopback that records each connection made to it (address reached, first bytes)."""

    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1", "::1"), port: int = 0) -> None:
        self.connections: list[tuple[str, bytes]] = []
        self._selector = selectors.DefaultSelector()
        self._sockets = self._bind(hosts, port)
        self.port = self._sockets[0].getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _bind(hosts: tuple[str, ...], port: int) -> list[socket.socket]:
        for _ in range(20):  # the first host's free port may be taken on another: try another
            sockets: list[socket.socket] = []
            try:
                for host in hosts:
                    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
                    sockets.append(sock)
                    sock.bind((host, port or (sockets[0].getsockname()[1] if len(sockets) > 1 else 0)))
                    sock.listen(16)
                return sockets
            except OSError:
                for sock in sockets:
                    sock.close()
                if port:
                    raise
        raise RuntimeError(f"no common free port on {hosts}")

    def _serve(self) -> None:
        for sock in self._sockets:
            sock.setblocking(False)
            self._selector.register(sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.02):
                self._accept(key.fileobj)

    def _accept(self, sock: socket.socket) -> None:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return
        with conn:
            reached = conn.getsockname()[0]
            conn.settimeout(2)
            try:
                first = conn.recv(4096)  # a TLS ClientHello, or an HTTP request line
            except OSError:
                first = b""
        self.connections.append((reached, first))

    def close(self) -> list[tuple[str, bytes]]:
        """Stop, taking in any connection still queued; every connection made."""
        self._stop.set()
        self._thread.join()
        for sock in self._sockets:
            self._accept(sock)
            sock.close()
        return self.connections


@contextmanager
def listening(*hosts: str, port: int = 0):
    listener = Listener(hosts or ("127.0.0.1", "::1"), port)
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def resolver(monkeypatch):
    """Names → addresses for the app's resolver (others resolve as usual); every lookup is kept."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = push_endpoints.resolve

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        answer = answers.get(host.rstrip("."))
        return list(answer) if answer is not None else real(host, port)

    monkeypatch.setattr(push_endpoints, "resolve", resolve)
    resolve.answers, resolve.lookups = answers, lookups
    return resolve


def browser_keys() -> dict[str, str]:
    """A subscription's keys as a browser makes them (the message is encrypted before any connection)."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"p256dh": webpush.b64url(public), "auth": webpush.b64url(os.urandom(16))}


def internal_endpoints(port: int) -> list[str]:
    """The endpoints of the report, and their relatives, all aimed at this machine or its network."""
    return [
        f"https://2130706433:{port}/push/a",
        f"https://127.1:{port}/push/a",
        f"https://0x7f000001:{port}/push/a",
        f"https://0177.0.0.1:{port}/push/a",
        f"https://[::1]:{port}/push/a",
        f"https://[::ffff:127.0.0.1]:{port}/push/a",
        f"https://localhost:{port}/push/a",
        f"https://localhost.:{port}/push/a",
        f"http://127.0.0.1:{port}/push/a",
        f"http://fcm.googleapis.com:{port}/fcm/send/a",  # plain http, whatever the host
        f"https://fcm.googleapis.com:{port}/fcm/send/a",  # on the allow-list; resolves to 127.0.0.1 here
        "https://10.0.0.8/push/a",
        "https://169.254.169.254/latest/meta-data/",
    ]


def deliver_all() -> None:
    db.session.expire_all()
    ids = list(db.session.scalars(sa.select(Notification.id).where(Notification.status == DeliveryStatus.PENDING)))
    delivery.deliver(ids)
    db.session.expire_all()


def outcomes() -> list[tuple[DeliveryStatus, str | None]]:
    """The push deliveries' outcomes (a failed push moves on to the owner's next channel, e-mail here)."""
    return [(n.status, n.last_error) for n in db.session.scalars(
        sa.select(Notification).where(Notification.channel == Channel.PUSH).order_by(Notification.id))]


# --- subscribing -----------------------------------------------------------------------------------

def test_every_internal_endpoint_is_refused_at_subscription(app, world, as_owner, resolver):
    resolver.answers["fcm.googleapis.com"] = ["127.0.0.1"]
    for endpoint in internal_endpoints(8443):
        r = as_owner.post("/api/push/subscriptions", json={"endpoint": endpoint, "keys": browser_keys()})
        assert r.status_code == 422 and list(r.json["error"]["fields"]) == ["endpoint"], (endpoint, r.json)
    assert db.session.scalar(sa.select(sa.func.count(PushSubscription.id))) == 0
    # The one name that passed the URL rules was refused for its address, which is not told.
    r = as_owner.post("/api/push/subscriptions",
                      json={"endpoint": "https://fcm.googleapis.com/fcm/send/b", "keys": browser_keys()})
    assert r.json["error"]["fields"]["endpoint"] == [
        "The push service's host name resolves to an address that is not public."]
    assert "127.0.0.1" not in r.get_data(as_text=True)


def test_only_the_browser_vendors_push_services_are_accepted_by_default(app, world, as_owner, resolver):
    def subscribe(client, endpoint: str) -> int:
        resolver.answers[endpoint.split("/")[2]] = [PUBLIC]  # public-looking, whatever the name
        return client.post("/api/push/subscriptions", json={"endpoint": endpoint, "keys": browser_keys()}).status_code

    for endpoint in ("https://fcm.googleapis.com/fcm/send/c1", "https://android.googleapis.com/gcm/send/c2",
                     "https://updates.push.services.mozilla.com/wpush/v2/c3", "https://web.push.apple.com/c4",
                     "https://wns2-by3p.notify.windows.com/w/?token=c5"):
        assert subscribe(as_owner, endpoint) == 201, endpoint
    for endpoint in ("https://push.attacker.example/c6", "https://evil-fcm.googleapis.com.attacker.net/c7",
                     "https://xfcm.googleapis.com/c8", "https://googleapis.com/c9", "https://apple.com.evil/c10"):
        assert subscribe(as_owner, endpoint) == 422, endpoint
    assert db.session.scalar(sa.select(sa.func.count(PushSubscription.id))) == 5

    # A deployment with its own push service (e.g. Mozilla's autopush) lists it; the list replaces the default.
    app.config["PUSH_SERVICE_HOSTS"] = "push.example.org"
    assert subscribe(as_owner, "https://autopush.push.example.org/wpush/v2/d1") == 201
    assert subscribe(as_owner, "https://push.example.org.attacker.net/d2") == 422
    assert subscribe(as_owner, "https://fcm.googleapis.com/fcm/send/d3") == 422


# --- sending: rows stored before the rules ------------------------------------------------------

def test_stored_internal_endpoints_get_no_request_from_the_worker(app, world, resolver):
    resolver.answers["fcm.googleapis.com"] = ["127.0.0.1"]
    with listening() as listener:
        endpoints = internal_endpoints(listener.port)
        owners = [scenario.owner(subscription={"endpoint": e, "keys": browser_keys()}) for e in endpoints]
        scenario.issue(world.agency, owners)
        deliver_all()
    assert listener.connections == []
    results = outcomes()
    assert len(results) == len(endpoints)
    for endpoint, (status, error) in zip(endpoints, results, strict=True):
        assert status == DeliveryStatus.FAILED and error.startswith("endpoint refused"), (endpoint, status, error)
    # The name on the allow-list got as far as its lookup, and was refused for the address.
    _, error = results[endpoints.index(f"https://fcm.googleapis.com:{listener.port}/fcm/send/a")]
    assert "fcm.googleapis.com resolves to 127.0.0.1, which is not a public address" in error
    assert db.session.scalars(sa.select(PushSubscription.last_success_at)).all() == [None] * len(endpoints)


def test_a_name_rebound_to_loopback_after_subscribing_is_refused_at_send_time(app, world, as_owner, resolver):
    with listening("127.0.0.1") as listener:
        endpoint = f"https://fcm.googleapis.com:{listener.port}/fcm/send/e1"
        resolver.answers["fcm.googleapis.com"] = [PUBLIC]
        r = as_owner.post("/api/push/subscriptions", json={"endpoint": endpoint, "keys": browser_keys()})
        assert r.status_code == 201, r.json
        resolver.answers["fcm.googleapis.com"] = ["127.0.0.1"]  # the attacker's DNS answers differently now
        scenario.issue(world.agency, [world.owner])
        deliver_all()
    assert listener.connections == []
    [(status, error)] = outcomes()
    assert status == DeliveryStatus.FAILED and "127.0.0.1, which is not a public address" in error
    assert db.session.scalar(sa.select(PushSubscription.last_success_at)) is None


def test_the_connection_goes_to_the_address_that_was_checked(app, world, monkeypatch):
    """One lookup per connection, and the socket goes where that lookup said: a second,
    different answer (loopback) is never asked for. 127.0.0.2 plays a public address."""
    real_routable = push_endpoints.routable
    monkeypatch.setattr(push_endpoints, "routable", lambda a: a == "127.0.0.2" or real_routable(a))
    answers, lookups = iter([["127.0.0.2"]]), []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers, ["127.0.0.1"])

    monkeypatch.setattr(push_endpoints, "resolve", rebinding)
    with listening("127.0.0.1") as loopback, listening("127.0.0.2", port=loopback.port) as checked:
        owner = scenario.owner(subscription={"endpoint": f"https://fcm.googleapis.com:{loopback.port}/fcm/send/f1",
                                             "keys": browser_keys()})
        scenario.issue(world.agency, [owner])
        deliver_all()
    assert lookups == ["fcm.googleapis.com"]
    assert loopback.connections == []
    [(reached, hello)] = checked.connections
    # TLS to the checked address still names the push service (SNI), so its certificate is checked for it.
    assert reached == "127.0.0.2" and hello[:1] == b"\x16" and b"fcm.googleapis.com" in hello
    [(status, _)] = outcomes()
    assert status != DeliveryStatus.SENT  # this listener speaks no TLS
    assert db.session.scalar(sa.select(PushSubscription.last_success_at)) is None


# --- sending: redirects ------------------------------------------------------------------------------

@pytest.mark.parametrize("target_listed", [False, True], ids=["internal-target", "listed-target"])
def test_a_push_service_redirect_is_never_followed(app, world, target_listed):
    """The allowed push service answers 307 to an internal address; even to another allowed
    origin the worker does not follow, and the delivery is failed, not sent (nor retried)."""
    with listening("127.0.0.1") as internal, LocalPushService(webpush.public_key(app)) as push:
        push.allow_in(app)
        if target_listed:
            app.config["PUSH_TEST_ORIGINS"] += f",http://127.0.0.1:{internal.port}"
        subscriber = push.new_subscriber(status=307, location=f"http://127.0.0.1:{internal.port}/admin/reset")
        scenario.issue(world.agency, [scenario.owner(subscription=subscriber.subscription())])
        deliver_all()
        assert not push.errors  # the push service took a well-formed message, and redirected it
    assert internal.connections == []
    [n] = db.session.scalars(sa.select(Notification)).all()
    assert (n.status, n.attempts) == (DeliveryStatus.FAILED, 1)
    assert "307" in n.last_error and "never followed" in n.last_error
    assert db.session.scalar(sa.select(PushSubscription.last_success_at)) is None


# --- the rules themselves ---------------------------------------------------------------------------

@pytest.mark.parametrize("address,public", [
    ("142.250.74.138", True), ("2a00:1450:4001:80b::200a", True), ("64:ff9b::8efa:4a8a", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("224.0.0.251", False), ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("fd00::2", False),
    ("::ffff:127.0.0.1", False), ("::7f00:1", False), ("2002:7f00:1::", False), ("64:ff9b::7f00:1", False),
    ("ff02::1", False),
])
def test_only_public_unicast_addresses_are_routable(address, public):
    """Including the IPv6 spellings that carry an IPv4 address (mapped, 6to4, NAT64)."""
    assert push_endpoints.routable(address) is public


@pytest.mark.parametrize("subject", [
    None, "", "mailto:porchlight@localhost", "mailto:admin@example.com", "mailto:push@city.test",
    "mailto:push@police.invalid", "mailto:", "mailto:webmaster", "webmaster@police.milwaukee.gov",
    "https://localhost", "https://127.0.0.1/contact", "http://police.milwaukee.gov", "https://www.example.org/",
])
def test_production_refuses_to_start_with_a_placeholder_vapid_subject(subject):
    # Apple's push service refuses a VAPID token whose sub is no real mailto: or https: URL.
    with pytest.raises(RuntimeError, match="^VAPID_SUBJECT .*mailto:webmaster@police.your-city.gov"):
        production_app(VAPID_SUBJECT=subject)


@pytest.mark.parametrize("subject", ["mailto:webmaster@police.milwaukee.gov", "https://police.milwaukee.gov/contact"])
def test_production_takes_a_real_vapid_subject_and_development_keeps_its_default(subject):
    assert production_app(VAPID_SUBJECT=subject).config["VAPID_SUBJECT"] == subject
    push_endpoints.check_config({"ENV_NAME": "development", "VAPID_SUBJECT": "mailto:porchlight@localhost"})


def test_production_refuses_to_start_with_the_test_exemption():
    with pytest.raises(RuntimeError, match="PUSH_TEST_ORIGINS"):
        production_app(PUSH_TEST_ORIGINS="http://127.0.0.1:8089")
    with pytest.raises(RuntimeError, match="PUSH_SERVICE_HOSTS"):
        production_app(PUSH_SERVICE_HOSTS="https://fcm.googleapis.com/")
    app = production_app()
    assert push_endpoints.policy(app.config).hosts == (
        "fcm.googleapis.com", "android.googleapis.com", "push.services.mozilla.com", "push.apple.com",
        "notify.windows.com")
