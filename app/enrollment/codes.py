"""Human-typeable enrollment codes and the QR images that carry their URL."""
from __future__ import annotations

import io
import re
import secrets

import qrcode
import qrcode.image.svg

from app import links

# No 0/O, 1/I/L: nothing a person could misread off a printed sheet.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8
# The PWA's enrollment page (app/pwa.py). Not url_for: inside a request that would put the
# request's script root (a forwarded prefix) before it.
ENROLL_PATH = "/e/{code}"
_SEPARATORS = re.compile(r"[\s\-_.]")


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def canonical(text: str) -> str | None:
    """The stored form of what a person typed (any case, with dashes or spaces), or None."""
    cleaned = _SEPARATORS.sub("", text or "").upper()
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def enrollment_url(code: str) -> str:
    """The enrollment page of ``code`` (app/pwa.py), as SMS, QR codes and printed sheets carry it."""
    return links.absolute_url(ENROLL_PATH.format(code=code))


def _qr(data: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_png(data: str) -> bytes:
    buffer = io.BytesIO()
    _qr(data).make_image().save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(data: str) -> bytes:
    buffer = io.BytesIO()
    _qr(data).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    return buffer.getvalue()


def qr_text(data: str) -> str:
    buffer = io.StringIO()
    _qr(data).print_ascii(out=buffer, invert=True)
    return buffer.getvalue()
