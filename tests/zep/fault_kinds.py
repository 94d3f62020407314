"""The faults of the fault-matrix tests, and how a write under one is made and judged.

Shared by ``test_zep_fault_matrix.py`` (open-source Zep, CE) and ``test_zep_cloud_faults.py``
(Zep Cloud). The faults are injected by the test server on 127.0.0.1 (never by patching the
transport):

- ``503-after-landing``: the request is carried out, then answered 503;
- ``dropped-after-landing``: the request is carried out, then the connection is dropped;
- ``timeout``: the request is held past the client's timeout, then carried out;
- ``429``: refused once with ``Retry-After: 0``;
- ``500-burst``: refused twice with 500.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from zep_memory_plugins import NotFoundError, OutcomeUnknownError

TIMEOUT = 0.4  # the client's timeout
HELD = 1.0  # how long the "timeout" fault holds a request before carrying it out

FAULTS: dict[str, dict[str, Any]] = {
    "503-after-landing": {"status": 503, "after": True},
    "dropped-after-landing": {"drop": True, "after": True, "status": None},
    "timeout": {"status": None, "delay": HELD},
    "429": {"status": 429, "retry_after": 0},
    "500-burst": {"status": 500, "times": 2},
}
#: Faults after which the request may have been carried out without an answer coming back.
NO_ANSWER = {"dropped-after-landing", "timeout"}


def call_under_fault(
    server: Any, method: str, path: str, fault: str, call: Callable[[], Any]
) -> Exception | None:
    """Make ``call`` with ``fault`` on ``method path``; the exception it raised, if any.

    After a ``timeout`` fault, waits until the held request has been carried out.
    """
    spec = dict(FAULTS[fault])
    spec.setdefault("times", 1)
    server.faults.add(method, path, **spec)
    error: Exception | None = None
    try:
        call()
    except Exception as exc:  # judged by judge(): only the library's typed errors are allowed
        error = exc
    if fault == "timeout":
        time.sleep(HELD + 0.3)  # the held copy is carried out meanwhile
    server.faults.clear()
    return error


def judge(
    error: Exception | None,
    fault: str,
    *,
    resent: bool,
    what: str,
    sent: Callable[[], int],
    repeat: Callable[[], Any],
) -> None:
    """The rule of the matrix for a call that raised ``error`` (or nothing) under ``fault``.

    A write that is not resent after getting no answer raises ``OutcomeUnknownError`` and was
    sent once (``sent()``); after a held request the caller repeats it (``repeat``) to be sure.
    Any other write succeeds.
    """
    if fault in NO_ANSWER and not resent:
        assert isinstance(error, OutcomeUnknownError), error
        assert "may or may not" in str(error)
        count = sent()
        assert count == 1, f"{what} was sent {count} times after getting no answer"
        if fault == "timeout":
            # The held copy may or may not be carried out (a server may drop a request whose
            # client went away): the caller checks, and repeats the call to be sure.
            with contextlib.suppress(NotFoundError):  # a repeated delete: the first did it
                repeat()
    else:
        assert error is None, f"{what} under {fault}: {error!r}"
