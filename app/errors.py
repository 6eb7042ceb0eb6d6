"""One JSON error shape for the whole API.

Every error is ``{"error": {"status", "code", "message", "fields"?}}``: ``code`` is
a stable machine-readable name, ``message`` a sentence for a person, and ``fields``
maps each invalid input field to its messages.
"""
from __future__ import annotations

from typing import Any

from apiflask import HTTPError
from flask import Flask, request
from flask_babel import lazy_gettext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.logs import first_line, redact
from app.storage.base import StorageUnavailable

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(HTTPError):
    """An error answered to the client, with a stable code and optional field errors."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        extra: dict[str, Any] = {"code": code}
        if fields:
            extra["fields"] = fields
        super().__init__(status, message, extra_data=extra, headers=headers)


def field_error(field: str, message: str, status: int = 422) -> ApiError:
    # ``message`` may be lazy (app/i18n): rendered here, in the request's language.
    message = str(message)
    """A validation error that names the offending field."""
    return ApiError(status, "validation_error", f"{field}: {message}", fields={field: [message]})


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", lazy_gettext("%(what)s not found.", what=what))


def forbidden(message: str = "Your role does not allow this.") -> ApiError:
    return ApiError(403, "forbidden", message)


def _flatten_fields(detail: Any) -> dict[str, list[str]]:
    """Turn webargs' {location: {field: [msgs]}} into {field: [msgs]}."""
    fields: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            fields.setdefault(prefix or "body", []).extend(value)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}[{index}]", sub)
        else:
            fields.setdefault(prefix or "body", []).append(str(value))

    if isinstance(detail, dict):
        for location, per_field in detail.items():
            if isinstance(per_field, dict):
                walk("", per_field)
            else:
                walk(str(location), per_field)
    return fields


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}


def error_body(status: int, code: str, message: str, fields: dict | None = None) -> dict:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def register_error_handlers(app: Flask) -> None:
    @app.error_processor
    def process(error: HTTPError):
        status = error.status_code
        extra = dict(error.extra_data or {})
        code = extra.pop("code", None) or _DEFAULT_CODES.get(status, "error")
        fields = extra.pop("fields", None)
        # A lazy message (app/i18n) is rendered here, in the request's language.
        message = str(error.message) if error.message else "Error"
        if status == 400 and message == "Bad Request" and request.is_json:
            # webargs could not decode the body at all.
            code, message = "malformed_json", "The request body is not valid JSON."
        if status == 422 and error.detail and not fields:
            fields = _flatten_fields(error.detail)
            if "_schema" in fields:
                fields["body"] = ["Expected a JSON object." if m == "Invalid input type." else m
                                  for m in fields.pop("_schema")]
            if fields and request.content_length and not request.is_json and request.method != "GET":
                fields.setdefault("body", []).append("Send the body as JSON (Content-Type: application/json).")
            if fields:
                parts = [f"{name}: {'; '.join(msgs)}" for name, msgs in sorted(fields.items())]
                message = "Invalid input. " + " | ".join(parts)
        elif status == 400 and error.detail and not fields:
            fields = _flatten_fields(error.detail)
        return error_body(status, code, message, fields), status, error.headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            status = exc.code or 500
            return error_body(status, _DEFAULT_CODES.get(status, "error"), exc.description or exc.name), status
        app.logger.exception("unhandled error on %s %s", request.method, redact(request.path))
        return error_body(500, "internal_error", "Something went wrong on our side; it has been logged."), 500

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(exc: StorageUnavailable):
        # The object store refused (AccessDenied, 5xx) or did not answer: the request changed nothing.
        db.session.rollback()
        app.logger.error("clip storage error on %s %s: %s", request.method, redact(request.path), exc)
        return (error_body(503, "storage_unavailable", "Clip storage is unavailable; nothing was changed. "
                           "Try again shortly."), 503, {"Retry-After": "5"})

    @app.errorhandler(DBAPIError)
    def database_unavailable(exc: DBAPIError):
        # A lost connection (the database restarting) or one refused; other driver errors are bugs.
        if not (exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))):
            return unexpected(exc)
        try:
            db.session.rollback()  # the pool has dropped a lost connection; the next checkout reconnects
        except DBAPIError:
            pass
        app.logger.error("database error on %s %s: %s", request.method, redact(request.path), first_line(exc.orig))
        return (error_body(503, "unavailable", "The database is unavailable; try again shortly."), 503,
                {"Retry-After": "1"})


__all__ = ["ApiError", "field_error", "not_found", "forbidden", "register_error_handlers"]
