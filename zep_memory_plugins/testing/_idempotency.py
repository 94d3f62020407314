"""``Idempotency-Key`` on Zep Cloud v4's write routes, as the test server answers it.

zep-cloud 4.x sends a key on every write and reuses it on its own retries (spec §3.5). What
Cloud does with it is not documented (spec §3.5, §7.7); every point below is chosen, not in the
spec (listed as such in the ``testing`` docstring):

- the first request with a key is handled, and its answer kept for :data:`IDEMPOTENCY_WINDOW_S`
  (a 5xx or a 429 is not kept: the request may be tried again);
- a request with the same key, method, path and body gets that answer again (marked
  ``Idempotent-Replayed: true``), and nothing is done a second time;
- the same key with another method, path or body: 409 ``idempotency_key_reused``;
- the same key while the first request is still being handled: 409 ``idempotency_key_in_use``
  (which the SDK retries; the status is the spec's own guess, §3.5 INF);
- keys are scoped to one server (the spec: "presumably scoped per project", §3.5).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.responses import Response

from ._cloud import CloudError

__all__ = ["IDEMPOTENCY_WINDOW_S", "MAX_KEY_CHARS", "IdempotencyCache", "fingerprint"]

#: How long an answer is kept for replay: 24 hours from the first request (chosen).
IDEMPOTENCY_WINDOW_S = 24 * 3600.0
#: Longest key accepted (a longer one is a 400; chosen: the SDK sends a uuid4, 36 characters).
MAX_KEY_CHARS = 255


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and body (JSON compared as values).

    Chosen, not in the spec.
    """
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True).encode() if body else b""
    except ValueError:
        canonical = body
    return hashlib.sha256(b"\0".join((method.encode(), path.encode(), canonical))).hexdigest()


@dataclass
class _Record:
    fingerprint: str
    expires: float
    answer: tuple[int, bytes, str | None] | None = None  # status, body, media type


class IdempotencyCache:
    """The keys seen by one server, with their first answer. Thread-safe."""

    def __init__(
        self, window: float = IDEMPOTENCY_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._records

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self._records.clear()

    def begin(self, key: str, print_: str) -> Response | None:
        """Start a request with ``key``: ``None`` (handle it), the replayed answer, or a 409."""
        now = self._clock()
        with self._lock:
            for old in [k for k, r in self._records.items() if r.expires <= now]:
                del self._records[old]
            record = self._records.get(key)
            if record is None:
                self._records[key] = _Record(print_, now + self.window)
                return None
        if record.fingerprint != print_:
            raise CloudError(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
                "Idempotency-Key",
            )
        if record.answer is None:
            raise CloudError(
                409,
                "idempotency_key_in_use",
                "a request with this Idempotency-Key is still being processed",
                "Idempotency-Key",
            )
        status, body, media_type = record.answer
        return Response(
            body, status, headers={"Idempotent-Replayed": "true"}, media_type=media_type
        )

    def finish(self, key: str, response: Response) -> None:
        """Keep the answer to the request started with ``key`` (forget the key on a 5xx/429)."""
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return
            if response.status_code >= 500 or response.status_code == 429:
                del self._records[key]
            else:
                record.answer = (response.status_code, bytes(response.body), response.media_type)

    def abandon(self, key: str) -> None:
        """Forget a key whose request failed without an answer."""
        with self._lock:
            self._records.pop(key, None)
