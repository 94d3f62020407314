"""Retry policy of the Zep backend: which failures are worth another attempt, and when.

Shared by the sync and async paths (they differ only in how they sleep). Transient failures
are retried with exponential backoff and jitter: the server could not be reached, did not
answer in time, dropped the connection, answered 429 (``Retry-After`` is honoured) or a 5xx.
Writes are retried too: every write is made idempotent before it is sent (client-chosen
message uuids, existence checks), see :mod:`._common`.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "INITIAL_BACKOFF",
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "Failure",
    "RetryPolicy",
]

#: Seconds to wait for the server (connect, read, write, pool) before giving up on an attempt.
DEFAULT_TIMEOUT = 30.0
#: Attempts after the first one for a transient failure (so at most 4 requests per call).
DEFAULT_MAX_RETRIES = 3
#: Delay before the first retry, in seconds; doubled at each further retry.
INITIAL_BACKOFF = 0.2
#: Longest delay between two attempts computed by backoff, in seconds.
MAX_BACKOFF = 5.0
#: Longest ``Retry-After`` honoured, in seconds; a longer one is capped to this.
MAX_RETRY_AFTER = 30.0


@dataclass
class Failure:
    """What went wrong with one attempt, independent of the SDK generation.

    ``status`` is the HTTP status (``None`` when no answer came back), ``text`` the server's
    message, ``kind`` one of ``"http"``, ``"connect"`` (nothing was sent: always safe to
    retry), ``"timeout"``, ``"network"`` (connection lost: the outcome is unknown) or
    ``"protocol"`` (an answer the SDK could not read).
    """

    kind: str
    status: int | None = None
    text: str = ""
    retry_after: float | None = None
    detail: str = ""

    @property
    def transient(self) -> bool:
        """Whether another attempt may succeed."""
        if self.kind in ("connect", "timeout", "network"):
            return True
        if self.kind == "http" and self.status is not None:
            if self.status == 429:
                return True
            return self.status >= 500 and not is_duplicate_key(self.text)
        return False

    @property
    def outcome_unknown(self) -> bool:
        """Whether the server may have carried out the request although it failed."""
        if self.kind == "connect":
            return False
        return not (self.kind == "http" and self.status is not None and self.status < 500)


def is_duplicate_key(text: str) -> bool:
    """Whether a server message says a unique key (a message uuid) is already taken.

    The real server passes Postgres' words on (``duplicate key value violates unique
    constraint``); the test server says ``message uuid ... already exists``.
    """
    lowered = text.lower()
    return any(w in lowered for w in ("duplicate", "unique constraint", "already exists"))


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (number or HTTP date), if any."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - time.time()
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry a transient failure and how long to wait in between."""

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_backoff: float = INITIAL_BACKOFF
    max_backoff: float = MAX_BACKOFF

    def delay(self, failure: Failure, attempt: int) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``, or ``None`` to give up."""
        if attempt >= self.max_retries or not failure.transient:
            return None
        if failure.retry_after is not None:
            return min(failure.retry_after, MAX_RETRY_AFTER)
        backoff = min(self.initial_backoff * (2.0**attempt), self.max_backoff)
        return backoff * (0.5 + random.random() / 2)
