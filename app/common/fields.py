"""Marshmallow fields that reject what JSON clients should never send.

marshmallow's own Float and Boolean coerce strings ("12.5", "yes"); an API that
validates every input answers those with a 422 naming the field instead.
"""
from __future__ import annotations

import math

import phonenumbers
from apiflask import fields
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from marshmallow import ValidationError
from marshmallow.validate import Length


class StrictFloat(fields.Float):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("Must be a number.")
        try:
            number = float(value)
        except OverflowError:  # an integer literal beyond any float, e.g. 10**400
            raise ValidationError("Must be a finite number.") from None
        if not math.isfinite(number):
            raise ValidationError("Must be a finite number.")
        return number


class StrictBool(fields.Boolean):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


# What str.strip() removes, spelled for a JSON Schema (ECMA 262) pattern.
_STRIPPED = r"\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL_PATTERN = r"^[^\u0000]*$"
SOME_TEXT_PATTERN = rf"^[^\u0000]*[^\u0000{_STRIPPED}][^\u0000]*$"


class TrimmedString(fields.String):
    """A string with surrounding white space removed; blank counts as missing.

    Its pattern in the OpenAPI document says so: never a NUL, and where a length of at
    least 1 is asked for, something besides white space.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        needs_text = any(isinstance(v, Length) and (v.min or 0) >= 1 for v in self.validators)
        self.metadata.setdefault("pattern", SOME_TEXT_PATTERN if needs_text else NO_NUL_PATTERN)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        return text


class EmailAddress(fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("format", "email")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return _blank(self)
        return normalize_email(text)


def _blank(field: fields.Field) -> None:
    # A form's empty input means "not given" where the field may be absent (sign-up
    # takes an e-mail, a phone, or both); where it is required, blank is an error.
    if field.allow_none:
        return None
    raise ValidationError("Must not be blank.")


def normalize_email(text: str) -> str:
    """The stored form of an e-mail address (lower case), or ValidationError saying why not."""
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"Not a valid e-mail address: {exc}") from None
    return result.normalized.lower()


def normalize_phone(text: str) -> str:
    """E.164 form of a phone number, or ValidationError saying why not."""
    region = current_app.config.get("DEFAULT_PHONE_REGION") or None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationError("Not a phone number; use the international form, e.g. +14145550123.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_login(login: str) -> tuple[str, str | None]:
    """A typed login: ("email" | "phone", the stored form of it, or None when it cannot be one)."""
    login = login.strip()
    if "@" in login:
        try:
            return "email", normalize_email(login)
        except ValidationError:
            # An address the sign-up form would refuse may still belong to an account
            # made another way (the demo data, say): look it up as typed.
            return "email", login.lower()
    try:
        return "phone", normalize_phone(login)
    except ValidationError:
        return "phone", None


class PhoneNumber(fields.String):
    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("example", "+14145550123")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            return _blank(self)
        return normalize_phone(text)


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class StrictInteger(fields.Integer):
    """An integer that fits the database's INTEGER columns (ids among them)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        number = super()._deserialize(value, attr, data, **kwargs)
        # Larger numbers make PostgreSQL and SQLite raise instead of finding nothing.
        if not INT32_MIN <= number <= INT32_MAX:
            raise ValidationError(f"Must be between {INT32_MIN} and {INT32_MAX}.")
        return number


def fits_int(value: int) -> bool:
    """Whether ``value`` can be looked up in an INTEGER column (URL ids are unbounded)."""
    return INT32_MIN <= value <= INT32_MAX
