"""The order an owner's channels are tried in (``users.channel_order``, set in Settings).

The first message about an ask goes on the first channel of the owner's order that
reaches them now; an escalation (an unanswered first message after the agency's
delay, or at once when the first reached nobody) goes on the next channel of the order
that reaches them and was not tried for the ask yet. The default order is push, SMS,
e-mail; a channel the owner switched off, or that cannot reach them (no push
subscription, no verified number), is passed over.
"""
from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence

import sqlalchemy as sa

from app.accounts.models import CHANNELS, User, parse_channel_order
from app.notifications.models import Channel

DEFAULT = tuple(Channel(value) for value in CHANNELS)


def parse(text: str | None) -> list[Channel]:
    return [Channel(value) for value in parse_channel_order(text)]


def first(order: Sequence[Channel], reachable: Collection[Channel]) -> Channel | None:
    """The first channel of ``order`` among ``reachable``, or None."""
    return next((channel for channel in order if channel in reachable), None)


def next_untried(order: Sequence[Channel], reachable: Collection[Channel], tried: Iterable[Channel]) -> Channel | None:
    """The first channel of ``order`` among ``reachable`` that is not among ``tried``, or None."""
    done = set(tried)
    return first([channel for channel in order if channel not in done], reachable)


def first_reachable_sql(reaches: Mapping[Channel, sa.ColumnElement[bool]]) -> sa.ColumnElement[str]:
    """SQL: the first channel of the User row's order that reaches it (by ``reaches``), NULL if none.

    One CASE per possible order: no SQL both databases speak splits a string, and this
    keeps the choice inside a fan-out's single INSERT ... SELECT.
    """
    def in_order(order: Sequence[Channel]) -> sa.Case:
        return sa.case(*[(reaches[channel], sa.literal(channel.value)) for channel in order],
                       else_=sa.null())

    orders = [(User.channel_order == ",".join(c.value for c in order), in_order(order))
              for order in itertools.permutations(DEFAULT) if order != DEFAULT]
    # The default order is also what an unexpected value gets.
    return sa.case(*orders, else_=in_order(DEFAULT))
