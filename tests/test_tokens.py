"""Single-use links and codes (app/accounts/tokens.py), on both databases."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.accounts import tokens
from app.accounts.models import OneTimeToken, Role
from app.db import utcnow
from app.errors import ApiError
from app.extensions import db
from tests import factories


@pytest.fixture
def owner(app):
    user = factories.user(Role.OWNER)
    db.session.commit()
    return user


def test_a_link_works_once_and_only_its_hash_is_kept(owner):
    row, token = tokens.issue_link(owner, "password_reset", owner.email, timedelta(minutes=30))
    db.session.commit()
    assert token.split(".")[1] not in row.secret_hash and len(row.secret_hash) == 64
    assert tokens.peek_link("password_reset", token).id == row.id  # looking does not use it
    assert tokens.redeem_link("password_reset", token).used_at is not None
    db.session.commit()
    with pytest.raises(ApiError) as used:
        tokens.redeem_link("password_reset", token)
    assert (used.value.status_code, used.value.extra_data["code"]) == (410, "link_invalid")


@pytest.mark.parametrize("mangle", [
    lambda t: t + "x", lambda t: "9" + t, lambda t: t.split(".")[1], lambda t: "", lambda t: "1." + "a" * 500])
def test_a_wrong_link_is_refused_the_same_way(owner, mangle):
    _, token = tokens.issue_link(owner, "password_reset", owner.email, timedelta(minutes=30))
    db.session.commit()
    with pytest.raises(ApiError) as refused:
        tokens.redeem_link("password_reset", mangle(token))
    assert refused.value.extra_data["code"] == "link_invalid"


def test_a_link_is_for_its_purpose_and_ends_when_replaced_or_expired(owner):
    _, first = tokens.issue_link(owner, "password_reset", owner.email, timedelta(minutes=30))
    _, second = tokens.issue_link(owner, "password_reset", owner.email, timedelta(minutes=30))
    _, other = tokens.issue_link(owner, "email_verification", owner.email, timedelta(minutes=30))
    db.session.commit()
    for purpose, token in (("password_reset", first), ("email_verification", second)):
        with pytest.raises(ApiError):
            tokens.peek_link(purpose, token)
    assert tokens.peek_link("email_verification", other)
    row = tokens.peek_link("password_reset", second)
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(ApiError):
        tokens.redeem_link("password_reset", second)


def test_a_code_allows_five_guesses(owner):
    row, code = tokens.issue_code(owner, "password_reset", "+14145550100", timedelta(minutes=30))
    db.session.commit()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        with pytest.raises(ApiError) as guess:
            tokens.redeem_code(owner, "password_reset", wrong)
        assert guess.value.status_code == 422 and f"{left} tr" in guess.value.message
    with pytest.raises(ApiError):
        tokens.redeem_code(owner, "password_reset", wrong)
    with pytest.raises(ApiError) as void:  # the right code, after five wrong ones
        tokens.redeem_code(owner, "password_reset", code)
    assert (void.value.status_code, void.value.extra_data["code"]) == (410, "code_invalid")


def test_a_right_code_is_used_once_and_counted_for_rate_limits(owner):
    since = utcnow() - timedelta(seconds=1)
    _, code = tokens.issue_code(owner, "password_reset", "+14145550100", timedelta(minutes=30))
    db.session.commit()
    assert tokens.redeem_code(owner, "password_reset", code).address == "+14145550100"
    db.session.commit()
    with pytest.raises(ApiError):
        tokens.redeem_code(owner, "password_reset", code)
    assert tokens.sent_since("password_reset", since, address="+14145550100") == 1
    assert tokens.sent_since("password_reset", since, user_id=owner.id) == 1


def test_ended_tokens_are_purged_after_a_day(owner):
    tokens.issue_link(owner, "password_reset", owner.email, timedelta(minutes=30))
    db.session.commit()
    assert tokens.purge_ended_tokens(utcnow()) == 0
    assert tokens.purge_ended_tokens(utcnow() + timedelta(days=2)) == 1
    assert db.session.query(OneTimeToken).count() == 0
