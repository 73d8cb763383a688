"""Times a user types on the command line: `7d`, `12h`, `30m`, `2w`, or an ISO date.

Light on purpose (no project imports): `matches`, `prune` and `backtest` read the same
spellings, and the first two should not pay for the pipeline's imports to do it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class TimeSpecError(ValueError):
    """A time or an age the user wrote that cannot be read; the message says what works."""


def parse_age(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, `2w` as a length of time."""
    relative = _RELATIVE.match(text)
    if not relative:
        raise TimeSpecError(f"cannot read the age {text!r}: use 90d, 12h, 30m or 2w")
    amount, unit = int(relative.group(1)), relative.group(2)
    return timedelta(**{_UNITS[unit]: amount})


def parse_when(text: str, *, now: datetime) -> datetime:
    """`7d`, `12h`, `30m`, `2w` before now, or an ISO date/time (UTC unless it says)."""
    if _RELATIVE.match(text):
        return now - parse_age(text)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise TimeSpecError(
            f"cannot read the time {text!r}: use 7d, 12h, 30m, 2w or an ISO date like 2024-10-18"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)
