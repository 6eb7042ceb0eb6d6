"""The message encryption (RFC 8291), the signed links a push carries, and the test push service's
token check: each made cheaper for a fan-out, each still what the other side expects.

- app/notifications/webpush.py encrypts without pywebpush: the RFC's own example gives the
  RFC's bytes, and http_ece (another implementation) decrypts a fresh message;
- app/links.py signs without itsdangerous' per-token overhead: the tokens are the very
  bytes itsdangerous makes, and itsdangerous reads them;
- tests/peers/push_service.py verifies a VAPID token's signature once, as push services
  cache them: an altered token is still refused after the genuine one was accepted.
"""
from __future__ import annotations

import json
import os

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from itsdangerous import URLSafeSerializer

from app import links
from app.notifications import webpush
from tests.peers.push_service import LocalPushService

pytestmark = pytest.mark.one_database

b64 = webpush.b64url_decode

# RFC 8291 Appendix A.
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_UA_PUBLIC = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
RFC_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_BODY = ("DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK"
            "6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")


def test_the_rfc_8291_example_encrypts_to_the_rfcs_bytes():
    sender = ec.derive_private_key(int.from_bytes(b64(RFC_AS_PRIVATE), "big"), ec.SECP256R1())
    body = webpush.encrypt(RFC_PLAINTEXT, RFC_UA_PUBLIC, RFC_AUTH, salt=b64(RFC_SALT), sender=sender)
    assert webpush.b64url(body) == RFC_BODY


def test_each_message_has_its_own_key_and_salt_and_http_ece_decrypts_it():
    receiver = ec.generate_private_key(ec.SECP256R1())
    p256dh = webpush.b64url(webpush._public_bytes(receiver))
    auth = os.urandom(16)
    data = json.dumps({"title": "Riverside PD asks for footage", "body": "Porch · Tue 14:05-15:05"}).encode()
    first, second = (webpush.encrypt(data, p256dh, webpush.b64url(auth)) for _ in range(2))
    assert first[:16] != second[:16] and first[21:86] != second[21:86]  # salt, ephemeral public key
    for body in (first, second):
        assert http_ece.decrypt(body, private_key=receiver, auth_secret=auth, version="aes128gcm") == data


@pytest.mark.parametrize("p256dh", ["BKey", webpush.b64url(b"\x04" + bytes(64)), "not base64 !"])
def test_keys_no_message_can_be_encrypted_to_are_an_error_not_an_exception(app, p256dh):
    client = webpush.PushClient(app, pool_size=1)
    try:
        result = client.send(webpush.PushMessage(7, "https://fcm.googleapis.com/fcm/send/x", p256dh,
                                                 webpush.b64url(bytes(16)), "{}", 60, "high", "t"))
    finally:
        client.close()
    assert not result.ok and result.retry and "keys" in result.error


def test_a_payload_beyond_one_record_is_refused():
    receiver = webpush.b64url(webpush._public_bytes(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(webpush.TooLarge):
        webpush.encrypt(b"x" * 4080, receiver, webpush.b64url(bytes(16)))


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
            altered_claims = json.loads(b64(claims)) | {"sub": "mailto:someone@else.example"}
            for forged in (f"{head}.{webpush.b64url(json.dumps(altered_claims).encode())}.{signature}",
                           f"{head}.{claims}.{signature[:-4]}AAAA"):
                client._tokens[push.origin] = (2**40, genuine.replace(token, forged))
                result = client.send(message)
                assert result.error == "push service answered 403", result
        finally:
            client.close()
    assert [r.payload for r in push.received] == [{"n": 1}]
    assert len(push.errors) == 2 and all("signature" in e for e in push.errors)
