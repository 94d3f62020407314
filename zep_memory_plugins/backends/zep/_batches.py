"""A batch of messages written in several requests, for both API families' plans.

Zep's servers take a bounded number of messages per request (Community Edition and Zep Cloud:
30). A bigger batch goes in several requests, in order, and may stop part of the way: then
:class:`~zep_memory_plugins.PartialWriteError` says what landed, and calling ``add_messages``
again with the same messages completes the write without storing any twice. What is shared by
:mod:`._plans` (Zep's sessions API) and :mod:`._cloud_plans` (Zep Cloud's threads) is here.
"""

from __future__ import annotations

import threading
import uuid as _uuid
from collections.abc import Callable, Iterable, Sequence

from ..._errors import AlreadyExistsError, InvalidInputError, PartialWriteError, ZepMemoryError
from ..._models import Message, new_message_uuid
from ._transport import Plan

__all__ = ["PartialWrites", "prepare", "write_in_batches"]

#: Writes that stopped part way, remembered at most (the oldest forgotten first).
_REMEMBERED = 1024


def prepare(
    messages: Sequence[Message],
    *,
    max_content: int | None,
    server: str,
    check: Callable[[Message, str], None] | None = None,
) -> frozenset[_uuid.UUID]:
    """Give each message a uuid (written back to it) and check the batch; its uuids.

    The uuid is written back so that calling again with the same messages, after a failure
    part of the way, completes the write instead of storing them twice. A uuid given twice,
    content over ``max_content`` characters, or what ``check`` refuses (called with the
    message and its place, ``messages[i]``) raises before anything is sent.
    """
    seen: set[_uuid.UUID] = set()
    for index, message in enumerate(messages):
        if message.uuid is None:
            object.__setattr__(message, "uuid", new_message_uuid())
        assert message.uuid is not None
        if message.uuid in seen:
            raise AlreadyExistsError(f"message uuid {message.uuid} appears twice in the batch")
        seen.add(message.uuid)
        where = f"messages[{index}]"
        if max_content is not None and len(message.content) > max_content:
            raise InvalidInputError(
                f"{where}.content is {len(message.content)} characters long; {server} refuses "
                f"more than {max_content} per message. Nothing was sent.",
                field=f"{where}.content",
            )
        if check is not None:
            check(message, where)
    return frozenset(seen)


class PartialWrites:
    """The writes that stopped part way, by session: the uuids of the call that stopped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, frozenset[_uuid.UUID]] = {}

    def repeats(self, session_id: str, uuids: frozenset[_uuid.UUID]) -> bool:
        """Whether a call with these uuids is the one that stopped part way in the session."""
        with self._lock:
            return self._calls.get(session_id) == uuids

    def remember(self, session_id: str, uuids: frozenset[_uuid.UUID]) -> None:
        """A call with these uuids stopped part way (bounded: the oldest forgotten first)."""
        with self._lock:
            self._calls[session_id] = uuids
            while len(self._calls) > _REMEMBERED:
                del self._calls[next(iter(self._calls))]

    def forget(self, session_id: str) -> None:
        """The session's writes are whole again."""
        with self._lock:
            self._calls.pop(session_id, None)


def write_in_batches(
    session_id: str,
    messages: Sequence[Message],
    pending: list[Message],
    batches: Iterable[list[Message]],
    send: Callable[[list[Message]], Plan[None]],
    partial: PartialWrites,
    uuids: frozenset[_uuid.UUID],
) -> Plan[list[Message]]:
    """Send ``pending`` (``messages`` less what an earlier call stored) batch by batch.

    A failure after something was stored (by this call or the earlier one) raises
    :class:`PartialWriteError` with what landed and what did not, and is remembered so that
    the same call again completes the write.
    """
    pending_uuids = {m.uuid for m in pending}
    stored = [m for m in messages if m.uuid not in pending_uuids]  # by an earlier call
    sent = 0
    for batch in batches:
        try:
            yield from send(batch)
        except ZepMemoryError as error:
            if not stored and not sent:
                raise
            stored += pending[:sent]
            partial.remember(session_id, uuids)
            raise PartialWriteError(
                f"{len(stored)} of {len(messages)} messages were stored in session "
                f"{session_id} before a request failed ({type(error).__name__}: "
                f"{error.message}). Call add_messages again with the same messages to "
                "store the rest; none will be stored twice.",
                stored=stored,
                pending=pending[sent:],
                status_code=error.status_code,
            ) from error
        sent += len(batch)
    partial.forget(session_id)
    return list(messages)
