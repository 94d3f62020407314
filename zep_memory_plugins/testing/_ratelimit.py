"""Zep Cloud's rate-limit headers, on every response of a Cloud generation of the test server.

Cloud documents a limit of requests per minute per account, reported on every response as
``X-RateLimit-Limit``, ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` (unix seconds) and
``X-RateLimit-Increment`` (always 1), with ``Retry-After`` (seconds) on a 429 (spec §1.2).
:class:`RateMeter` counts the requests of fixed one-minute windows (aligned on the clock's
minutes) and writes those headers; the outer application (:mod:`._app`) answers 429 to a
request past the limit. Chosen, not in the spec (§7.9): the fixed windows, one count per server
(one "account"), and the 429 body in the generation's error shape (§1.2 INF).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["DEFAULT_RATE_LIMIT", "RATE_WINDOW_S", "RateMeter"]

#: Requests a minute a Cloud test server allows unless told otherwise: far above what a test
#: run sends, so only a test that asks for a lower limit meets a 429 it did not inject.
#: Chosen: not a Cloud plan's figure (the spec has none; only a Free account over quota
#: dropping to 5 a minute, §1.2).
DEFAULT_RATE_LIMIT = 100_000
#: The length of one rate-limit window, in seconds ("requests per minute", spec §1.2).
RATE_WINDOW_S = 60

ASGIMessage = MutableMapping[str, Any]
Send = Callable[[ASGIMessage], Awaitable[None]]


class RateMeter:
    """Counts requests per window and stamps the ``X-RateLimit-*`` headers. Thread-safe."""

    def __init__(
        self, limit: int = DEFAULT_RATE_LIMIT, clock: Callable[[], float] = time.time
    ) -> None:
        if limit < 1:
            raise ValueError("rate_limit must be at least 1 request a minute")
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        self._count = 0

    def _roll(self, now: float) -> None:
        window = int(now // RATE_WINDOW_S)
        if window != self._window:
            self._window, self._count = window, 0

    def hit(self) -> bool:
        """Count one request; whether it is past the limit (to be answered 429)."""
        with self._lock:
            self._roll(self._clock())
            self._count += 1
            return self._count > self.limit

    def reset(self) -> None:
        """Forget the requests counted so far."""
        with self._lock:
            self._window, self._count = -1, 0

    def headers(self, status: int, retry_after: str | None) -> list[tuple[bytes, bytes]]:
        """The headers of a response with ``status`` (``retry_after``: its ``Retry-After``).

        A 429 says nothing remains; one that carries its own ``Retry-After`` (an injected
        fault) resets when that says, others at the end of the window, and gain a
        ``Retry-After`` if they have none. The header names, unix-second reset, increment 1 and
        ``Retry-After`` only on a 429: spec §1.2; the values on a 429: chosen (§7.9).
        """
        with self._lock:
            now = self._clock()
            self._roll(now)
            reset = (self._window + 1) * RATE_WINDOW_S
            remaining = max(self.limit - self._count, 0)
        out: list[tuple[bytes, bytes]] = []
        if status == 429:
            remaining = 0
            if retry_after is not None and retry_after.strip().isdigit():
                reset = math.ceil(now) + int(retry_after)
            else:
                out.append((b"retry-after", str(max(1, math.ceil(reset - now))).encode()))
        out += [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
            (b"x-ratelimit-increment", b"1"),
        ]
        return out

    def stamping(self, send: Send) -> Send:
        """``send``, adding the headers to the start of the response."""

        async def stamped(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                retry_after = next(
                    (v.decode("latin-1") for k, v in headers if k.lower() == b"retry-after"), None
                )
                message = {
                    **message,
                    "headers": headers + self.headers(message["status"], retry_after),
                }
            await send(message)

        return stamped
