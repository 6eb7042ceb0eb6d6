"""The recorder's clock, and how long the recorder keeps what it saw.

Recorders' clocks drift, and many were never set right. The owner reads their
recorder's clock (on the upload screen, or on the camera's form) and the app keeps the
difference: the *offset*, the recorder's clock minus the true time, in whole seconds. A
recorder five minutes fast has +300, one an hour behind (a missed daylight-saving
change) -3600. So what happened at true time t is stamped t + offset on the recorder,
and footage stamped T happened at T - offset.

The offset is kept per clip (as read when it was uploaded: that is the evidence) and
per camera (the latest reading, which the owner may edit or clear), so the next ask for
that camera can name its window as the recorder shows it.

A recorder overwrites its oldest video after ``Camera.retention_days``: a window's first
minutes are gone that many days after they happened, whatever the clock says.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# No recorder clock is further out than this: a larger number is a typing mistake, or an
# attempt to overflow something downstream. 20 years and their leap days, in seconds.
MAX_OFFSET_S = (20 * 365 + 5) * 24 * 3600
OFFSET_RANGE_TEXT = "within ±20 years"


def offset_problem(value: Any) -> str | None:
    """Why ``value`` is no offset in seconds (None when it is one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "Must be a whole number of seconds."
    if abs(value) > MAX_OFFSET_S:
        return f"Must be {OFFSET_RANGE_TEXT} ({MAX_OFFSET_S} seconds either way)."
    return None


def in_recorder_time(moment: datetime, offset_s: int) -> datetime:
    """What the recorder's clock showed at true time ``moment``."""
    return moment + timedelta(seconds=offset_s)


def recorder_window(start: datetime, end: datetime, offset_s: int | None) -> dict[str, Any] | None:
    """A true-time window as the recorder stamps it; None when the offset is unknown.

    The times are returned as UTC instants like every other time of the API: a client
    shows them in its zone as it shows the window itself, and the two differ by the
    offset, which is what the owner looks for on the recorder.
    """
    if offset_s is None:
        return None
    return {"start": in_recorder_time(start, offset_s), "end": in_recorder_time(end, offset_s),
            "offset_s": offset_s}


@dataclass(frozen=True)
class Overwrite:
    """When the recorder overwrites the start of a window, and how many whole days remain."""

    at: datetime
    days_left: int  # 0 or less: it may already be gone


def overwrite(window_start: datetime, retention_days: int | None, now: datetime | None = None) -> Overwrite | None:
    """When a camera keeping ``retention_days`` days overwrites the window's first minutes."""
    if not retention_days:
        return None
    at = window_start + timedelta(days=retention_days)
    left = at - (now or datetime.now(UTC))
    # Whole days, rounded down: "2 days left" while 2.9 remain is the safe thing to say.
    return Overwrite(at, left // timedelta(days=1))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_epoch_ms(value: int) -> datetime:
    """A JavaScript time (milliseconds since 1970, UTC), exactly: no float in between."""
    return _EPOCH + timedelta(milliseconds=value)


def ask_times(window_start: datetime, window_end: datetime, offset_s: int | None, retention_days: int | None,
              now: datetime | None = None) -> dict[str, Any]:
    """What an owner's view of an ask says of their recorder: the window in its time, when it overwrites it."""
    gone = overwrite(window_start, retention_days, now)
    return {"recorder_window": recorder_window(window_start, window_end, offset_s),
            "overwrite_at": gone.at if gone else None,
            "overwrite_days_left": gone.days_left if gone else None}
