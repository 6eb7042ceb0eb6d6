"""A subscription's unusable keys, the signed links a push carries, and the test push service's
token check: the last two made cheaper for a fan-out, each still what the other side expects.

- app/notifications/webpush.py: keys pywebpush cannot encrypt to are that message's error,
  retried, not an exception that ends the batch;
- app/links.py signs without itsdangerous' per-token overhead: the tokens are the very
  bytes itsdangerous makes, and itsdangerous reads them;
- tests/peers/push_service.py verifies a VAPID token's signature once, as push services
  cache them: an altered token is still refused after the genuine one was accepted.
"""
from __future__ import annotations

import json

import pytest
from itsdangerous import URLSafeSerializer

from app import links
from app.notifications import webpush
from tests.peers.push_service import LocalPushService

pytestmark = pytest.mark.one_database


@pytest.mark.parametrize("p256dh", ["BKey", webpush.b64url(b"\x04" + bytes(64)), "not base64 !"])
def test_keys_no_message_can_be_encrypted_to_are_an_error_not_an_exception(app, p256dh):
    client = webpush.PushClient(app, pool_size=1)
    try:
        result = client.send(webpush.PushMessage(7, "https://fcm.googleapis.com/fcm/send/x", p256dh,
                                                 webpush.b64url(bytes(16)), "{}", 60, "high", "t"))
    finally:
        client.close()
    assert not result.ok and result.retry and "keys" in result.error


@pytest.mark.parametrize("salt", [links.ACTION_LINK_SALT, links.UPLOAD_LINK_SALT])
@pytest.mark.parametrize("payload", [{"ask": 12, "owner": 5, "action": "decline", "exp": 1790000000},
                                     [12, 5, None], {"note": "é" * 300}])
def test_link_tokens_are_the_bytes_itsdangerous_makes(salt, payload):
    token = links._serializer("a secret key", salt).dumps(payload)
    assert token == URLSafeSerializer("a secret key", salt=salt).dumps(payload)
    assert URLSafeSerializer("a secret key", salt=salt).loads(token) == payload
    assert links._serializer("another key", salt).dumps(payload) != token


def test_the_push_service_refuses_an_altered_token_after_accepting_the_genuine_one(app):
    with LocalPushService(webpush.public_key(app)) as push:
        push.allow_in(app)
        subscriber = push.new_subscriber()
        keys = subscriber.subscription()["keys"]
        client = webpush.PushClient(app, pool_size=1)
        try:
            message = webpush.PushMessage(1, subscriber.endpoint, keys["p256dh"], keys["auth"], '{"n": 1}', 60,
                                          "high", "t1")
            assert client.send(message).ok
            genuine = client.authorization(subscriber.endpoint)
            token = genuine.split("t=", 1)[1].split(",", 1)[0]
            head, claims, signature = token.split(".")
            altered_claims = json.loads(webpush.b64url_decode(claims)) | {"sub": "mailto:someone@else.example"}
            for forged in (f"{head}.{webpush.b64url(json.dumps(altered_claims).encode())}.{signature}",
                           f"{head}.{claims}.{signature[:-4]}AAAA"):
                client._tokens[push.origin] = (2**40, genuine.replace(token, forged))
                result = client.send(message)
                assert result.error == "push service answered 403", result
        finally:
            client.close()
    assert [r.payload for r in push.received] == [{"n": 1}]
    assert len(push.errors) == 2 and all("signature" in e for e in push.errors)
