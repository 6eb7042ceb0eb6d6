"""Password hashing with Argon2id (RFC 9106), cost taken from the app config."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 10
MAX_LENGTH = 256


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_KIB"],
        parallelism=config["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = _hasher()
    if password_hash is None:
        # Spend the same time as a real check so a missing account cannot be told apart.
        hasher.hash(password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


# Words that top every breached-password list; with digits or symbols stuck on either
# end ("Password2024!") they are still the first guesses an attacker tries.
_COMMON_WORDS = frozenset({
    "password", "passw0rd", "p@ssword", "p@ssw0rd", "qwerty", "qwertyuiop", "asdfghjkl", "letmein",
    "welcome", "changeme", "iloveyou", "admin", "administrator", "porchlight", "police", "football",
    "baseball", "sunshine", "princess", "monkey", "dragon", "master", "trustno", "abc", "abcdef",
    "qazwsx", "zxcvbnm", "secret", "default",
})
# Runs a person types without thinking: "1234567890", "abcdefghij", "qwertyuiop", backwards too.
_SEQUENCES = ("01234567890123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm")
_EDGE_JUNK = "0123456789!@#$%^&*()-_=+.,?~ "


def password_problem(password: str, *identifiers: str | None) -> str | None:
    """Why a new password is unacceptable, or None. NIST 800-63B: length and a check
    against common choices, not composition recipes."""
    if len(password) < MIN_LENGTH:
        return f"Must be at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Must be at most {MAX_LENGTH} characters."
    lowered = password.lower()
    for identifier in identifiers:
        if identifier and (lowered == identifier.lower() or lowered == identifier.lower().split("@")[0]):
            return "Must not be the same as your e-mail address or phone number."
    if len(set(password)) < 3:
        return "Too easy to guess: use more different characters."
    if any(lowered in seq or lowered in seq[::-1] for seq in _SEQUENCES):
        return "Too easy to guess: that is a run of keys or letters."
    if lowered.strip(_EDGE_JUNK) in _COMMON_WORDS:
        return "Too easy to guess: that is one of the most common passwords."
    return None
