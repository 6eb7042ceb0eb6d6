"""What the logs may hold: ids, never credentials.

Message bodies, codes, tokens and links carrying tokens are never logged; phone
numbers only masked (app/notifications/sms.py ``mask``). Request paths are
credentials in a few places — upload links (``/u/<token>``), notification action
links, enrollment codes — and query strings may carry an upload token: paths go
through :func:`redact` before they are logged, and the development server's request
lines (``make run``) through :class:`RedactRequestLines`.
"""
from __future__ import annotations

import logging
import re

from flask import Flask

REDACTED = "[redacted]"
# Paths whose next segment is a credential (docs/DEPLOY.md lists them for proxies' access logs).
CREDENTIAL_PATHS = ("/u/", "/e/", "/m/", "/unsubscribe/", "/api/upload-links/", "/api/ask-actions/",
                    "/api/enrollment/lookup/")
_CREDENTIAL_SEGMENT = re.compile(
    r"(?P<lead>^|[\s\"'(]|://[^/\s\"']+)(?P<path>" + "|".join(map(re.escape, CREDENTIAL_PATHS)) + r")[^/?#\s\"']+")
_QUERY_VALUE = re.compile(r"(?P<name>[?&][^=&#\s\"']+=)[^&#\s\"']+")


def redact(text: str) -> str:
    """``text`` with the credential segment of such paths and every query value replaced."""
    text = _CREDENTIAL_SEGMENT.sub(lambda m: m["lead"] + m["path"] + REDACTED, text)
    return _QUERY_VALUE.sub(lambda m: m["name"] + REDACTED, text)


def first_line(error: object) -> str:
    """The first line of a database error: PostgreSQL's DETAIL lines quote the row's values."""
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


class RedactRequestLines(logging.Filter):
    """Redacts the request lines werkzeug's development server logs (``"GET /u/<token> HTTP/1.1" 200``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = redact(text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


def init_app(app: Flask) -> None:
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactRequestLines) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(RedactRequestLines())
