"""How the worker talks to push services: one VAPID token per service until it nears its
expiry, kept-alive connections, and a service that closes them still gets every message.

Each message goes to a real local push service (tests/peers/push_service.py), which checks
the token against the app's key and decrypts the body as a browser would.
"""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from app.notifications import push_endpoints, webpush
from tests.peers.push_service import LocalPushService

pytestmark = pytest.mark.one_database


def _message(subscriber, n: int) -> webpush.PushMessage:
    keys = subscriber.subscription()["keys"]
    return webpush.PushMessage(n, subscriber.endpoint, keys["p256dh"], keys["auth"], json.dumps({"n": n}),
                               ttl=3600, urgency="high", topic=f"t{n}")


def test_one_vapid_token_per_push_service_until_it_nears_expiry(app):
    with LocalPushService(webpush.public_key(app)) as push, LocalPushService(webpush.public_key(app)) as other:
        app.config["PUSH_TEST_ORIGINS"] = f"{push.origin},{other.origin}"
        client = webpush.PushClient(app, pool_size=2)
        try:
            subscribers = [push.new_subscriber() for _ in range(3)]
            results = [client.send(_message(s, n)) for n, s in enumerate(subscribers)]
            elsewhere = client.send(_message(other.new_subscriber(), 9))
        finally:
            client.close()
        assert all(r.ok for r in results) and elsewhere.ok
        assert not push.errors and not other.errors
        received = push.received
        assert [r.payload["n"] for r in received] == [0, 1, 2]
        # One signed token for the three messages, and one connection.
        assert len({r.authorization for r in received}) == 1
        assert len({r.peer for r in received}) == 1
        claims = received[0].claims
        assert claims["aud"] == push.origin
        assert abs(claims["exp"] - (time.time() + webpush.VAPID_TOKEN_SECONDS)) < 60
        # The other service's token names it: a token is never sent to an origin it was not signed for.
        assert other.received[0].claims["aud"] == other.origin
        assert other.received[0].authorization != received[0].authorization

        # Within the last hour of its life the token is replaced by a new one.
        endpoint = subscribers[0].endpoint
        kept = client.authorization(endpoint, now=claims["exp"] - webpush.VAPID_RENEW_BEFORE_SECONDS - 1)
        renewed = client.authorization(endpoint, now=claims["exp"] - webpush.VAPID_RENEW_BEFORE_SECONDS + 1)
        assert kept == received[0].authorization
        assert renewed != kept


def test_a_push_service_that_closes_each_connection_still_gets_every_message(app):
    with LocalPushService(webpush.public_key(app)) as push:
        push.allow_in(app)
        client = webpush.PushClient(app, pool_size=2)
        try:
            results = [client.send(_message(push.new_subscriber(close=True), n)) for n in range(3)]
        finally:
            client.close()
    assert all(r.ok for r in results), results
    assert [r.payload["n"] for r in push.received] == [0, 1, 2]
    assert len({r.peer for r in push.received}) == 3  # a new connection after each "Connection: close"


def test_an_idle_connection_the_server_closed_is_not_reused():
    ours, theirs = socket.socketpair()
    try:
        assert not push_endpoints._dropped(ours)
        theirs.close()
        assert push_endpoints._dropped(ours)
    finally:
        ours.close()


@pytest.mark.parametrize(("sent", "status", "keep"), [
    ([b"HTTP/1.1 201 Created\r\nLocation: /m/1\r\nContent-Length: 0\r\n\r\n"], 201, True),
    # In pieces, with a body framed by its length (read, so the connection stays usable).
    ([b"HTTP/1.1 404 Not", b" Found\r\nContent-Type: application/json\r\nContent-Len", b"gth: 9\r\n\r\n{\"e\":",
      b"404}"], 404, True),
    ([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n"], 201, True),
    ([b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"], 201, False),
    ([b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n"], 201, False),
    # Framings that are not a length: answered, and the connection is not reused.
    ([b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"], 400, False),
    ([b"HTTP/1.1 410 Gone\r\n\r\n"], 410, False),
    ([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n"], 201, False),
    ([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201"], 201, False),  # more than it framed
])
def test_an_answer_is_read_by_its_framing(sent, status, keep):
    ours, theirs = socket.socketpair()
    try:
        def send():
            for piece in sent:
                theirs.sendall(piece)
                time.sleep(0.01)

        sender = threading.Thread(target=send)
        sender.start()
        answer, reusable = push_endpoints._answer(ours)
        sender.join()
        assert (answer.status, reusable) == (status, keep)
        if keep:  # nothing of this answer is left to be misread as the next one's
            theirs.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            assert push_endpoints._answer(ours)[0].status == 202
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize(("sent", "error"), [
    (b"", http.client.RemoteDisconnected),
    (b"HTTP/1.1 201 Cre", http.client.IncompleteRead),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", http.client.BadStatusLine),
])
def test_no_answer_or_a_garbled_one_is_an_error(sent, error):
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(sent)
        theirs.close()
        with pytest.raises(error):
            push_endpoints._answer(ours)
    finally:
        ours.close()
