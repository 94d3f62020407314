"""Fault injection and request recording for the Zep-compatible test server.

Pure Python, no web framework: the ASGI layer in :mod:`._app` asks :class:`FaultInjector` which
fault (if any) applies to a request, and appends every request to a :class:`RequestLog`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Fault", "FaultInjector", "RecordedRequest", "RequestLog"]


class RecordedRequest(NamedTuple):
    """One request the server received: ``("POST", "/api/v2/sessions/s1/memory")``.

    A plain tuple, so ``("GET", "/healthz") in server.requests`` works.
    """

    method: str
    path: str


def _compile(pattern: str) -> re.Pattern[str]:
    """Turn a path pattern into a regex: ``*`` is one path segment, ``**`` anything."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


@dataclass
class Fault:
    """One injected failure; built by :meth:`FaultInjector.add`.

    ``hits`` counts how many requests it has answered so far; ``remaining`` how many it still
    will (``None``: no limit).
    """

    method: str
    path: str
    status: int | None = 500
    times: int | None = 1
    after: bool = False
    delay: float = 0.0
    drop: bool = False
    retry_after: int | None = None
    body: str | None = None
    hits: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = _compile(self.path)

    @property
    def remaining(self) -> int | None:
        """How many more requests this fault will answer (``None``: unlimited)."""
        return None if self.times is None else max(self.times - self.hits, 0)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request (ignoring how many times it has fired)."""
        return (self.method == "*" or self.method == method.upper()) and bool(
            self._regex.fullmatch(path)
        )


class FaultInjector:
    """The faults armed on a test server (``server.faults``). Thread-safe.

    Faults are tried in the order they were added; the first one that matches the request and
    still has ``times`` left answers it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str = "*",
        path: str = "**",
        status: int | None = 500,
        *,
        times: int | None = 1,
        after: bool = False,
        delay: float = 0.0,
        drop: bool = False,
        retry_after: int | None = None,
        body: str | None = None,
    ) -> Fault:
        """Arm a fault and return it.

        - ``method``: HTTP method, or ``"*"`` for any.
        - ``path``: the request path; ``*`` matches one path segment, ``**`` anything
          (``"/api/v2/sessions/*/memory"``). Query strings are not part of the path.
        - ``status``: the status answered instead of the real one (``None`` with ``delay``
          alone: only slow the request down, then answer normally).
        - ``times``: how many requests it answers (``None``: every one until cleared).
        - ``after``: handle the request first (so a write lands), then answer ``status``
          (or drop the connection) anyway: the client sees a failure although the write happened.
        - ``delay``: seconds to wait before answering (past a client's timeout, say).
        - ``drop``: close the connection without a complete response instead of answering
          ``status``; the client sees a transport error.
        - ``retry_after``: value of the ``Retry-After`` header; defaults to ``0`` for 429 and 503.
        - ``body``: the error body's text (default ``"injected fault: <status>"``).
        """
        if status is None and not drop and not delay:
            raise ValueError("a fault needs a status, drop=True or a delay")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for no limit)")
        if retry_after is None and status in (429, 503):
            retry_after = 0
        fault = Fault(
            method=method.upper(),
            path=path,
            status=status,
            times=times,
            after=after,
            delay=delay,
            drop=drop,
            retry_after=retry_after,
            body=body,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that answers this request, counting the hit; ``None`` if there is none."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and fault.remaining != 0:
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)


class RequestLog(list[RecordedRequest]):
    """Every request the server received, in order (``server.requests``).

    A list of :class:`RecordedRequest` tuples, with :meth:`matching` to filter by method and
    path pattern (``len(server.requests.matching("POST", "/api/v2/sessions/*/memory"))``).
    """

    def matching(self, method: str = "*", path: str = "**") -> list[RecordedRequest]:
        """The recorded requests with this ``method`` (``"*"``: any) whose path matches ``path``.

        ``*`` in ``path`` matches one path segment, ``**`` anything.
        """
        regex = _compile(path)
        method = method.upper()
        return [
            r
            for r in list(self)
            if (method == "*" or r.method == method) and regex.fullmatch(r.path)
        ]
