"""Whole-history reads that cost one small request once a session is known.

Framework adapters read a session's entire history every turn. Reading it whole costs
``ceil(n / page size)`` requests on Zep and decodes every message again. :class:`HistoryCache`
keeps each session's history in memory and refreshes it by reading only the newest
:data:`TAIL_SIZE` messages, which it checks against what it holds:

- the tail starts with a message it holds, and what it holds from there on is the tail's
  prefix: the history is what it held plus the tail's new messages. (Zep deletes a session's
  messages all at once, so if that message is still live, every older one it holds is too.)
- the tail is shorter than asked: the tail *is* the whole live history.
- anything else (another writer added more than a tail's worth, or the session was cleared and
  refilled): one full read.

So a steady conversation costs one request per read whatever its length, other writers'
messages are never missed, and a cleared session is never served from memory. The one thing a
refresh does not see is another process editing the metadata of a message already held.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ._models import Message

if TYPE_CHECKING:
    from ._client import ZepMemoryClient

__all__ = ["MAX_CACHED_SESSIONS", "TAIL_SIZE", "HistoryCache", "history_cache"]

#: Newest messages read to refresh a known session: a turn adds a few messages, so this covers
#: many turns of other writers before a full read is needed, in one Zep request.
TAIL_SIZE = 50
#: Sessions a cache keeps (least recently used first out), bounding the memory it holds.
MAX_CACHED_SESSIONS = 256

_T = TypeVar("_T")


class _Entry:
    __slots__ = ("decoded", "index", "messages")

    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        self.index: dict[uuid.UUID | None, int] = {m.uuid: i for i, m in enumerate(messages)}
        self.decoded: dict[Hashable, dict[uuid.UUID | None, Any]] = {}


def merge_tail(
    held: _Entry, tail: list[Message], tail_size: int
) -> tuple[list[Message], bool] | None:
    """What the history is, given what is held and the newest ``tail``.

    ``(new, True)``: the held messages followed by ``new``; ``(history, False)``: the whole
    history is ``history``; ``None``: unknowable without a full read.
    """
    if not tail:
        return [], False
    first = held.index.get(tail[0].uuid)
    if first is None:
        return (list(tail), False) if len(tail) < tail_size else None
    known = held.messages[first:]
    if len(known) > len(tail) or any(
        a.uuid != b.uuid for a, b in zip(known, tail[: len(known)], strict=True)
    ):
        return None
    return tail[len(known) :], True


class HistoryCache:
    """Per-client memory of whole session histories (see the module docstring)."""

    def __init__(
        self,
        client: ZepMemoryClient,
        *,
        tail_size: int = TAIL_SIZE,
        max_sessions: int = MAX_CACHED_SESSIONS,
    ) -> None:
        self._memory = client.memory
        self.tail_size = tail_size
        self.max_sessions = max_sessions
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _held(self, session_id: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is not None:
                self._entries.move_to_end(session_id)
            return entry

    def _extend(self, session_id: str, held: _Entry, new: Sequence[Message]) -> list[Message]:
        with self._lock:
            for message in new:
                held.index[message.uuid] = len(held.messages)
                held.messages.append(message)
            return list(held.messages)

    def _settle(
        self, session_id: str, held: _Entry, merged: tuple[list[Message], bool]
    ) -> list[Message]:
        messages, extends = merged
        if extends:
            return self._extend(session_id, held, messages)
        return self._keep(session_id, messages, held)

    def _keep(self, session_id: str, messages: list[Message], old: _Entry | None) -> list[Message]:
        entry = _Entry(messages)
        if old is not None:  # carry decoded forms of the messages still there
            for key, memo in old.decoded.items():
                entry.decoded[key] = {u: memo[u] for u in entry.index if u in memo}
        with self._lock:
            self._entries[session_id] = entry
            self._entries.move_to_end(session_id)
            while len(self._entries) > self.max_sessions:
                self._entries.popitem(last=False)
        return list(messages)

    def get(self, session_id: str) -> list[Message]:
        """The session's whole history, oldest first (one tail read once the session is held)."""
        held = self._held(session_id)
        if held is not None:
            tail = self._memory.get_messages(session_id, lastn=self.tail_size)
            merged = merge_tail(held, tail, self.tail_size)
            if merged is not None:
                return self._settle(session_id, held, merged)
        return self._keep(session_id, self._memory.get_messages(session_id), held)

    async def aget(self, session_id: str) -> list[Message]:
        """Async :meth:`get`."""
        held = self._held(session_id)
        if held is not None:
            tail = await self._memory.aget_messages(session_id, lastn=self.tail_size)
            merged = merge_tail(held, tail, self.tail_size)
            if merged is not None:
                return self._settle(session_id, held, merged)
        return self._keep(session_id, await self._memory.aget_messages(session_id), held)

    def read(self, session_id: str, window: int | None = None) -> list[Message]:
        """The whole history (through the cache), or only the last ``window`` messages."""
        if window is None:
            return self.get(session_id)
        return self._memory.get_messages(session_id, lastn=window)

    async def aread(self, session_id: str, window: int | None = None) -> list[Message]:
        """Async :meth:`read`."""
        if window is None:
            return await self.aget(session_id)
        return await self._memory.aget_messages(session_id, lastn=window)

    def add(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Append messages in one backend call and record them."""
        stored = self._memory.add_messages(session_id, messages)
        self.appended(session_id, stored)
        return stored

    async def aadd(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Async :meth:`add`."""
        stored = await self._memory.aadd_messages(session_id, messages)
        self.appended(session_id, stored)
        return stored

    def appended(self, session_id: str, stored: Sequence[Message]) -> None:
        """Record messages this process just added (as returned by ``add_messages``)."""
        held = self._held(session_id)
        if held is not None:
            self._extend(session_id, held, stored)

    def forget(self, session_id: str) -> None:
        """Drop what is held for a session (after clearing it, for instance)."""
        with self._lock:
            self._entries.pop(session_id, None)

    def decode(
        self,
        session_id: str,
        messages: Sequence[Message],
        key: Hashable,
        convert: Callable[[Message], _T],
    ) -> list[_T]:
        """``[convert(m) for m in messages]``, reusing conversions made for earlier reads.

        ``key`` names the conversion (one per framework); results are remembered per message
        uuid while the session is held.
        """
        held = self._held(session_id)
        memo = None if held is None else held.decoded.setdefault(key, {})
        if memo is None:
            return [convert(m) for m in messages]
        out: list[_T] = []
        for message in messages:
            value = memo.get(message.uuid)
            if value is None:
                value = memo[message.uuid] = convert(message)
            out.append(value)
        return out


_CACHES: weakref.WeakKeyDictionary[ZepMemoryClient, HistoryCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def history_cache(client: ZepMemoryClient) -> HistoryCache:
    """The :class:`HistoryCache` shared by every adapter on ``client``."""
    with _CACHES_LOCK:
        cache = _CACHES.get(client)
        if cache is None:
            cache = _CACHES[client] = HistoryCache(client)
        return cache
