"""How long soft-deleted data is kept, how a duration is written, and what a purge reports.

A session cleared with ``delete_memory`` (a soft delete) can be revived by a write for a while;
after the *retention period* the embedded store hard-deletes it and whatever is left of its
messages, and its ids are free again. Zep servers do the same on their own schedule: open-source
Zep v0.27 hard-deletes everything soft-deleted every ``data.purge_every`` minutes (60 by
default), Community Edition at once. :data:`DEFAULT_RETENTION` (one hour) keeps soft-deleted
data as long as a default v0.27 server keeps it at most.

A duration is written ``30d``, ``12h``, ``45m``, ``90s`` (``1.5s``: seconds may have up to 6
decimals), ``2w``, or several of those from the largest unit to the smallest (``1h30m``), or
``0``; the Python entries also take a
:class:`~datetime.timedelta` or a number of seconds. :func:`parse_duration` reads one, and
:func:`format_duration` writes one back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ._errors import InvalidInputError

__all__ = [
    "DEFAULT_RETENTION",
    "MAX_RETENTION",
    "PurgeReport",
    "PurgedSession",
    "check_duration",
    "format_duration",
    "parse_duration",
]

#: How long a soft-deleted session stays revivable before the embedded store hard-deletes it
#: (``retention=`` / ``ZEP_MEMORY_RETENTION``): what a default Zep v0.27 server keeps at most.
DEFAULT_RETENTION = timedelta(hours=1)
#: The longest duration accepted (100 years): beyond it a cutoff would leave the calendar.
MAX_RETENTION = timedelta(days=36_500)

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
# Digits are ASCII only (``re.ASCII``: ``\d`` would take any script's digits); at most 12 of
# them per part, far beyond MAX_RETENTION and far from Python's limit on int conversion.
_DURATION = re.compile(
    r"(?:([0-9]{1,12})w)?(?:([0-9]{1,12})d)?(?:([0-9]{1,12})h)?(?:([0-9]{1,12})m)?"
    r"(?:([0-9]{1,12}(?:\.[0-9]{1,6})?)s)?",
    re.ASCII,
)
_SYNTAX = "a duration such as 30d, 12h, 45m, 90s, 2w, 1h30m or 0"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: object) -> timedelta:
    """A duration from text (``"30d"``, ``"1h30m"``, ``"0"``), a timedelta or seconds.

    Raises :class:`ValueError` saying what is wrong: a negative, infinite or NaN duration, one
    longer than :data:`MAX_RETENTION`, text in another syntax (a unit is required but for
    ``0``; units go from the largest to the smallest, each at most once), any other type.
    """
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, bool):
        raise ValueError(f"must be {_SYNTAX}, not a bool")
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number of seconds, not {value}")
        if value < 0:
            raise ValueError(f"must not be negative, not {value}")
        if value > MAX_RETENTION.total_seconds():
            raise ValueError(f"must be at most {format_duration(MAX_RETENTION)}")
        duration = timedelta(seconds=value)
    elif isinstance(value, str):
        duration = _parse_text(value)
    else:
        raise ValueError(
            f"must be {_SYNTAX} (or a timedelta, or seconds), not {type(value).__name__}"
        )
    if duration < timedelta(0):
        raise ValueError(f"must not be negative, not {duration}")
    if duration > MAX_RETENTION:
        raise ValueError(f"must be at most {format_duration(MAX_RETENTION)}")
    return duration


def _parse_text(value: str) -> timedelta:
    text = value.strip().lower()
    if text and text.isascii() and text.isdigit() and not text.strip("0"):
        return timedelta(0)  # 0, 00...: no unit needed
    match = _DURATION.fullmatch(text)
    if text.isascii() and text.isdigit():
        raise ValueError(f"needs a unit (s, m, h, d or w, as in 30d), not {_shown(value)}")
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"must be {_SYNTAX}, not {_shown(value)}")
    *whole, fraction = match.groups()
    seconds = sum(
        int(part) * size for part, size in zip(whole, _UNITS.values(), strict=False) if part
    )
    if seconds > MAX_RETENTION.total_seconds():
        raise ValueError(f"must be at most {format_duration(MAX_RETENTION)}")
    # Seconds may have up to 6 decimals (microseconds), read exactly: no float rounding.
    integral, _, decimals = (fraction or "0").partition(".")
    micro = int(integral) * 1_000_000 + int(decimals.ljust(6, "0"))
    return timedelta(seconds=seconds, microseconds=micro)


def check_duration(value: object, field: str) -> timedelta:
    """:func:`parse_duration`, refusing with :class:`InvalidInputError` naming ``field``."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidInputError(f"{field} {exc}", field=field) from None


def format_duration(duration: timedelta) -> str:
    """A duration written back as :func:`parse_duration` reads it (``1h30m``, ``30d``, ``0``).

    Fractions of a second are shown as decimals of seconds (``1.5s``).
    """
    if not duration:
        return "0"
    rest = duration // timedelta(seconds=1)
    fraction = duration - timedelta(seconds=rest)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if unit == "s" and fraction:
            seconds = f"{count + fraction.total_seconds():.6f}".rstrip("0").rstrip(".")
            parts.append(f"{seconds}s")
        elif count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@dataclass(frozen=True)
class PurgedSession:
    """One session a purge touched.

    ``removed`` is ``True`` when the session itself was soft-deleted and is now gone for good
    (its id free again); ``False`` when it was revived since, and only the old messages its
    soft delete had left were removed. ``messages`` counts the messages removed.
    """

    session_id: str
    user_id: str | None
    deleted_at: datetime
    messages: int
    removed: bool

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain, JSON-ready dict."""
        return {
            "session_id": self.session_id,
            "user_id": self.user_id,
            "deleted_at": self.deleted_at.isoformat(),
            "messages": self.messages,
            "removed": self.removed,
        }


@dataclass(frozen=True)
class PurgeReport:
    """What a purge hard-deleted: the data soft-deleted more than ``older_than`` ago.

    ``sessions`` lists every session touched, oldest delete first (see :class:`PurgedSession`).
    """

    older_than: timedelta
    sessions: tuple[PurgedSession, ...] = ()

    @property
    def session_ids(self) -> list[str]:
        """The ids of the sessions removed for good (now free for a new session)."""
        return [s.session_id for s in self.sessions if s.removed]

    @property
    def message_count(self) -> int:
        """How many messages were removed, in all."""
        return sum(s.messages for s in self.sessions)

    def as_dict(self) -> dict[str, Any]:
        """The report as a plain, JSON-ready dict."""
        return {
            "older_than": format_duration(self.older_than),
            "sessions_removed": len(self.session_ids),
            "messages_removed": self.message_count,
            "sessions": [s.as_dict() for s in self.sessions],
        }
