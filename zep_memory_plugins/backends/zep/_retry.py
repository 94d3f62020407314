"""Retry policy of the Zep backend: which failures are worth another attempt, and when.

Shared by the sync and async paths (they differ only in how they sleep). Transient failures
are retried with exponential backoff and jitter: the server could not be reached, did not
answer in time, dropped the connection, answered 429 (``Retry-After`` is honoured) or a 5xx.
Writes are retried too: every write is made idempotent before it is sent (client-chosen
message uuids, existence checks), see :mod:`._plans`; a delete or a metadata merge whose
attempt got no answer is not resent (see :class:`~zep_memory_plugins.OutcomeUnknownError`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._failures import Failure

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TASK_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "INITIAL_BACKOFF",
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
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
#: Seconds a Zep Cloud v4 user delete (an asynchronous task) is awaited before
#: :class:`~zep_memory_plugins.PendingDeletionError`.
DEFAULT_TASK_TIMEOUT = 60.0


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
