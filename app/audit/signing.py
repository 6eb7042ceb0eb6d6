"""The installation's Ed25519 signing key: signed audit checkpoints and clip receipts.

``AUDIT_SIGNING_KEY`` holds the private key as 32 raw bytes in base64, or the path of
a file holding that. Development and the embedded install generate one into
instance/audit_signing_key on first start (as app/crypto.py does for ENCRYPTION_KEYS);
production refuses to start without it. The public half is published with every
checkpoint and receipt, so anyone can check them without us.

``AUDIT_RETIRED_PUBLIC_KEYS`` lists the public halves (base64, comma-separated) of keys
used before a rotation: checkpoints and receipts signed with them still verify.
"""
from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from flask import Flask, current_app

from app.audit.canonical import key_id
from app.common import instance_keys

log = logging.getLogger(__name__)

SETTING = "AUDIT_SIGNING_KEY"
RETIRED_SETTING = "AUDIT_RETIRED_PUBLIC_KEYS"
KEY_FILE = "audit_signing_key"
EXTENSION = "porchlight.audit_signing"
ALGORITHM = "Ed25519"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(text: str) -> bytes:
    """Standard or urlsafe base64, padded or not; ValueError when it is neither."""
    text = text.strip()
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_key() -> str:
    """A new private key, as AUDIT_SIGNING_KEY takes it (base64 of the 32 raw bytes)."""
    return b64(Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))


def parse_private_key(text: str, source: str = SETTING) -> Ed25519PrivateKey:
    try:
        raw = unb64(text)
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
    except ValueError:
        # The key itself is never echoed: a malformed secret is still a secret.
        raise RuntimeError(f"{source} is not an Ed25519 private key (32 bytes in base64, or the path of a file "
                           "holding that); make one with `flask audit generate-key` (see docs/DEPLOY.md)") from None
    return Ed25519PrivateKey.from_private_bytes(raw)


def parse_public_key(text: str, source: str) -> Ed25519PublicKey:
    try:
        raw = unb64(text)
        if len(raw) != 32:
            raise ValueError("not 32 bytes")
    except ValueError:
        raise RuntimeError(f"{source}: {text.strip()[:60]!r} is not an Ed25519 public key (32 bytes in base64)") \
            from None
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class Signer:
    """The current key (signs) and the retired public keys (still verify), by key id."""

    private_key: Ed25519PrivateKey
    retired: tuple[Ed25519PublicKey, ...] = ()

    @property
    def public_key(self) -> bytes:
        return raw_public(self.private_key.public_key())

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        return b64(self.private_key.sign(message))

    def public_keys(self) -> dict[str, bytes]:
        """Every key that verifies (raw public bytes) by key id: the current one and the retired."""
        keys = {key_id(raw_public(k)): raw_public(k) for k in self.retired}
        keys[self.key_id] = self.public_key
        return keys

    def published_keys(self) -> list[dict[str, object]]:
        """Every public key that verifies, the current one first, as the public pages show them."""
        current = {"key_id": self.key_id, "algorithm": ALGORITHM, "public_key": b64(self.public_key),
                   "current": True}
        return [current, *({"key_id": key_id(raw_public(k)), "algorithm": ALGORITHM,
                            "public_key": b64(raw_public(k)), "current": False} for k in self.retired)]


def _key_from_instance(instance_path: str) -> str:
    path = Path(instance_path) / KEY_FILE
    text, made = instance_keys.read_or_create(path, generate_key)
    if made:
        log.warning("generated the audit signing key into %s; back it up apart from the database "
                    "(set %s to use your own)", path, SETTING)
    return text


def _configured_key(value: str) -> tuple[str, str]:
    """(the key's text, where it came from): the file the setting names, else the setting itself.

    A file is looked for first, since base64 may begin with "/" too.
    """
    value = value.strip()
    path = Path(value).expanduser()
    try:
        if path.is_file():
            return path.read_text(), str(path)
    except OSError as exc:
        raise RuntimeError(f"{SETTING} names the file {path}, which cannot be read: {exc.strerror}") from None
    return value, SETTING


def init_app(app: Flask) -> None:
    """Load the signing key (refusing to start without one in production) and the retired public keys."""
    configured = app.config.get(SETTING)
    if configured:
        text, source = _configured_key(configured)
    elif app.config["ENV_NAME"] == "production":
        raise RuntimeError(f"{SETTING} must be set in production: an Ed25519 private key in base64, or the path "
                           "of a file holding it (see docs/DEPLOY.md, 'The audit signing key')")
    else:
        text, source = _key_from_instance(app.instance_path), str(Path(app.instance_path) / KEY_FILE)
    retired = tuple(parse_public_key(part, RETIRED_SETTING)
                    for part in (app.config.get(RETIRED_SETTING) or "").split(",") if part.strip())
    app.extensions[EXTENSION] = Signer(parse_private_key(text, source), retired)


def signer(app: Flask | None = None) -> Signer:
    return (app or current_app).extensions[EXTENSION]
