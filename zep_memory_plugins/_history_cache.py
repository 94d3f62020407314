"""Whole-history reads that cost one small request once a session is known.

Framework adapters read a session's entire history every turn. Reading it whole costs
``ceil(n / page size)`` requests on Zep and decodes every message again. :class:`HistoryCache`
keeps each session's history in memory and refreshes it by reading only the newest
:data:`TAIL_SIZE` messages.

What the cache holds is the whole history **as of its last read** (the *verified* part), plus
the messages this process added since (recorded, but vouched for by nothing). A refresh is
checked against the newest verified message, the *anchor*:

- the tail is shorter than asked: the tail *is* the whole live history;
- the tail holds the anchor, preceded by the verified messages before it: the session was not
  deleted since the last read (a delete removes every live message, and a deleted message never
  comes back), so the history is the verified part followed by the tail's messages after the
  anchor. Messages this process added are taken from the tail, never from memory;
- anything else (no anchor, another writer added more than a tail's worth, the session was
  cleared or its user deleted, then refilled): one full read.

So a steady conversation costs one request per read whatever its length, other writers'
messages are never missed, and no message the store no longer holds is ever served: not after a
clear, not after a user delete, not after this process wrote to a session another process had
just deleted. The one thing a refresh does not see is another process editing the metadata of a
message already held.

When a read shows that messages the cache held are gone (the session was deleted meanwhile),
the cache tells its listeners (:meth:`HistoryCache.on_lost`): the client's
:class:`~zep_memory_plugins._session_guard.SessionGuard` then checks the session's owner again
before the next write.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._context import History, Shape, Sized, Tail, is_marked
from ._duplex import Plan, Step, arun, call, run
from ._models import Message, building_many
from ._per_client import PerClient

if TYPE_CHECKING:
    from ._client import ZepMemoryClient

__all__ = [
    "MAX_CACHED_SESSIONS",
    "TAIL_SIZE",
    "DecodedTail",
    "HistoryCache",
    "history_cache",
    "merge_tail",
]

#: Newest messages read to refresh a known session: a turn adds a few messages, so this covers
#: many turns of other writers before a full read is needed, in one Zep request.
TAIL_SIZE = 50
#: Sessions a cache keeps (least recently used first out), bounding the memory it holds.
MAX_CACHED_SESSIONS = 256

#: Sessions whose newest message a cache remembers (to see deletes), per session it holds.
_SEEN_PER_SESSION = 16

#: Metadata values a remembered conversion of a message not held can be checked against (they
#: cannot change in place; see ``HistoryCache.decode``).
_ATOMS = frozenset((str, int, float, bool, type(None)))
#: Reads of a session not held longer than this (a wide window) remember no conversions.
_RECENT_MESSAGES = 1000

_T = TypeVar("_T")
_S = TypeVar("_S")

#: Conversions of messages not held, by uuid int: (a copy of what the message held, conversion).
_Converted = dict[int, tuple[dict[str, Any], Any]]


class _Entry:
    __slots__ = ("decoded", "index", "marked", "messages", "verified")

    def __init__(self, messages: list[Message]) -> None:
        #: the whole history at the last read, then this process's own writes since
        self.messages = messages
        self.index: dict[uuid.UUID | None, int] = {m.uuid: i for i, m in enumerate(messages)}
        #: the indices of the marked messages, ascending (see ``History``)
        self.marked = [i for i, m in enumerate(messages) if is_marked(m)]
        #: how many of ``messages`` the last read vouched for (the rest: own writes since)
        self.verified = len(messages)
        #: per conversion key, conversions by message uuid (as an int: ``uuid.UUID`` hashes in
        #: Python, a tenth of a whole history's lookups)
        self.decoded: dict[Hashable, dict[int, Any]] = {}

    def append(self, message: Message) -> None:
        """Hold one more message, at the end."""
        if is_marked(message):
            self.marked.append(len(self.messages))
        self.index[message.uuid] = len(self.messages)
        self.messages.append(message)

    def truncate(self, length: int) -> None:
        """Hold only the first ``length`` messages."""
        for message in self.messages[length:]:
            self.index.pop(message.uuid, None)
        del self.messages[length:]
        self.marked[bisect.bisect_left(self.marked, length) :] = []

    def replace(self, at: int, message: Message) -> None:
        """Hold ``message`` at index ``at`` instead of the one there."""
        self.messages[at] = message
        where = bisect.bisect_left(self.marked, at)
        held = where < len(self.marked) and self.marked[where] == at
        if is_marked(message) and not held:
            self.marked.insert(where, at)
        elif held and not is_marked(message):
            del self.marked[where]

    def history(self) -> History:
        """A copy of what is held."""
        return History(self.messages, self.marked)

    def tracked(self) -> list[uuid.UUID | None]:
        """Uuids whose absence from a later read proves the session was deleted meanwhile."""
        anchor = [self.messages[self.verified - 1].uuid] if self.verified else []
        return anchor + [m.uuid for m in self.messages[self.verified :]]


def merge_tail(held: _Entry, tail: list[Message], tail_size: int) -> int | None:
    """Where the newest ``tail`` (asked with ``lastn=tail_size``) continues what is held.

    Returns ``-1`` if the tail is the whole history (shorter than asked), ``j`` if the history
    is the held verified messages followed by ``tail[j:]``, and ``None`` if only a full read can
    tell.
    """
    if len(tail) < tail_size:
        return -1
    k = held.verified
    if k == 0:
        return None
    anchor = held.messages[k - 1].uuid
    at = next((i for i in range(len(tail) - 1, -1, -1) if tail[i].uuid == anchor), None)
    if at is None or at + 1 > k:
        return None
    overlap = held.messages[k - 1 - at : k]
    if any(a.uuid != b.uuid for a, b in zip(overlap, tail[: at + 1], strict=True)):
        return None
    return at + 1


def _exactly(held: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether a message's ``values`` are exactly the ``held`` ones they compare equal to.

    Equal is not enough: ``True == 1``, metadata keys may come in another order, and two
    times in different offsets can be the same instant.
    """
    metadata, kept = values["metadata"], held["metadata"]
    if metadata and (
        list(metadata) != list(kept)
        or not all(type(value) is type(kept[key]) for key, value in metadata.items())
    ):
        return False
    at, was = values["created_at"], held["created_at"]
    return at is None or (was is not None and at.utcoffset() == was.utcoffset())


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
        self._lost_listeners: list[Callable[[str], None]] = []
        #: per session, held or not: the newest message known to be in it (read or written)
        self._seen: OrderedDict[str, uuid.UUID | None] = OrderedDict()
        #: per session not held, per conversion key: the conversions of its last read's
        #: messages by uuid int, each with what its message held when converted (see decode)
        self._recent: OrderedDict[str, dict[Hashable, tuple[_Converted, _Converted]]] = (
            OrderedDict()
        )

    def on_lost(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(session_id)`` when a read shows that held messages are gone."""
        self._lost_listeners.append(listener)

    def _lost(self, session_id: str) -> None:
        for listener in list(self._lost_listeners):
            listener(session_id)

    def _note(self, session_id: str, newest: uuid.UUID | None) -> None:
        """Remember ``newest`` as in the session now (call with the lock held)."""
        self._seen[session_id] = newest
        self._seen.move_to_end(session_id)
        while len(self._seen) > _SEEN_PER_SESSION * self.max_sessions:
            self._seen.popitem(last=False)

    def _saw(self, session_id: str, messages: Sequence[Message], *, whole: bool) -> bool:
        """Note what a read returned (call with the lock held).

        ``True`` if ``messages`` is the whole history and lacks the newest message noted before
        (read or written by this process): the session was deleted meanwhile.
        """
        lost = False
        if session_id in self._seen:
            seen = self._seen.pop(session_id)
            lost = whole and not any(m.uuid == seen for m in reversed(messages))
        if messages:
            self._note(session_id, messages[-1].uuid)
        return lost

    def _held(self, session_id: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is not None:
                self._entries.move_to_end(session_id)
            return entry

    def _refresh(self, session_id: str, held: _Entry, tail: list[Message]) -> list[Message] | None:
        """Settle a tail read against ``held``; ``None`` if a full read is needed."""
        with self._lock:
            at = merge_tail(held, tail, self.tail_size)
            if at is None:
                return None
            if at < 0:
                messages, lost = self._replace(session_id, list(tail), held)
            else:
                current = self._entries.get(session_id)
                if current is not held:  # replaced or dropped meanwhile: read in full
                    return None
                messages, lost = self._continue(held, tail[at:])
                self._saw(session_id, messages, whole=True)  # the anchor proves nothing is lost
        if lost:
            self._lost(session_id)
        return messages

    def _continue(self, held: _Entry, new: list[Message]) -> tuple[list[Message], bool]:
        """The verified history goes on with ``new`` (call with the lock held)."""
        present = {m.uuid for m in new}
        own = held.messages[held.verified :]  # this process's writes: the tail has them
        lost = any(m.uuid not in present for m in own)
        held.truncate(held.verified)
        for message in new:
            held.append(message)
        held.verified = len(held.messages)
        return held.history(), lost

    def _replace(
        self, session_id: str, messages: list[Message], old: _Entry | None
    ) -> tuple[list[Message], bool]:
        """Hold ``messages`` as the whole history (call with the lock held).

        The flag says whether a message held before is gone (the session was deleted meanwhile).
        """
        entry = _Entry(messages)
        lost = self._saw(session_id, messages, whole=True)
        if old is not None:  # carry decoded forms of the messages still there
            lost = lost or any(u not in entry.index for u in old.tracked())
            for key, memo in old.decoded.items():
                ints = (None if u is None else u.int for u in entry.index)
                entry.decoded[key] = {u: memo[u] for u in ints if u in memo}
        self._entries[session_id] = entry
        self._entries.move_to_end(session_id)
        while len(self._entries) > self.max_sessions:
            self._entries.popitem(last=False)
        return entry.history(), lost

    def _keep(self, session_id: str, messages: list[Message], old: _Entry | None) -> list[Message]:
        with building_many, self._lock:  # an index of a whole history (see building_many)
            kept, lost = self._replace(session_id, messages, old)
        if lost:
            self._lost(session_id)
        return kept

    def plan_get(self, session_id: str) -> Plan[list[Message]]:
        """The plan of :meth:`get` (to ``yield from`` in other plans)."""
        held = self._held(session_id)
        if held is not None:
            tail = yield call(self._memory, "get_messages", session_id, lastn=self.tail_size)
            merged = self._refresh(session_id, held, tail)
            if merged is not None:
                return merged
        whole = yield call(self._memory, "get_messages", session_id)
        return self._keep(session_id, whole, held)

    def get(self, session_id: str) -> list[Message]:
        """The session's whole history, oldest first (one tail read once the session is held)."""
        return run(self.plan_get(session_id))

    async def aget(self, session_id: str) -> list[Message]:
        """Async :meth:`get`."""
        return await arun(self.plan_get(session_id))

    def _windowed(self, session_id: str, messages: list[Message], window: int) -> list[Message]:
        with self._lock:
            lost = self._saw(session_id, messages, whole=len(messages) < window)
            if not messages:  # an empty session: whatever was held for it is gone
                self._recent.pop(session_id, None)
                held = self._entries.pop(session_id, None)
                lost = lost or (held is not None and bool(held.messages))
        if lost:
            self._lost(session_id)
        return messages

    def plan_read(self, session_id: str, window: int | None = None) -> Plan[list[Message]]:
        """The plan of :meth:`read`."""
        if window is None:
            return (yield from self.plan_get(session_id))
        messages = yield call(self._memory, "get_messages", session_id, lastn=window)
        return self._windowed(session_id, messages, window)

    def read(self, session_id: str, window: int | None = None) -> list[Message]:
        """The whole history (through the cache), or only the last ``window`` messages."""
        return run(self.plan_read(session_id, window))

    async def aread(self, session_id: str, window: int | None = None) -> list[Message]:
        """Async :meth:`read`."""
        return await arun(self.plan_read(session_id, window))

    def plan_add(self, session_id: str, messages: Sequence[Message]) -> Plan[list[Message]]:
        """The plan of :meth:`add`.

        For messages the library built (the adapters'): they are not checked a second time
        (see ``MemoryClient._add_built``).
        """
        memory = self._memory
        step = Step(memory._add_built, memory._aadd_built, (session_id, list(messages)))
        stored: list[Message] = yield step
        self.appended(session_id, stored)
        return stored

    def add(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Append messages the library built in one backend call, and record them."""
        return run(self.plan_add(session_id, messages))

    async def aadd(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Async :meth:`add`."""
        return await arun(self.plan_add(session_id, messages))

    def plan_update_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Plan[Message]:
        """The plan of :meth:`update_metadata`."""
        updated: Message = yield call(
            self._memory, "update_message_metadata", session_id, message_uuid, metadata
        )
        with self._lock:
            held = self._entries.get(session_id)
            at = None if held is None else held.index.get(updated.uuid)
            if held is not None and at is not None:
                held.replace(at, updated)  # the held copy must not keep the old metadata
                if updated.uuid is not None:
                    for memo in held.decoded.values():
                        memo.pop(updated.uuid.int, None)
        return updated

    def update_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Merge metadata into one message, and into the copy held of it."""
        return run(self.plan_update_metadata(session_id, message_uuid, metadata))

    async def aupdate_metadata(
        self, session_id: str, message_uuid: uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Async :meth:`update_metadata`."""
        return await arun(self.plan_update_metadata(session_id, message_uuid, metadata))

    def appended(self, session_id: str, stored: Sequence[Message]) -> None:
        """Record messages this process just added (as returned by ``add_messages``).

        They are not vouched for: the next read still checks the session against what its last
        read saw, and takes these messages from the store.
        """
        with self._lock:
            if stored:
                self._note(session_id, stored[-1].uuid)
            held = self._entries.get(session_id)
            if held is None:
                return
            for message in stored:
                if message.uuid not in held.index:
                    held.append(message)

    def _deleted(self, kind: str, ident: str) -> None:
        """Told by the client about a delete made through it."""
        if kind == "session":
            self.forget(ident)

    def forget(self, session_id: str) -> None:
        """Drop what is held for a session (after clearing it, for instance)."""
        with self._lock:
            self._entries.pop(session_id, None)
            self._seen.pop(session_id, None)
            self._recent.pop(session_id, None)

    def decode(
        self,
        session_id: str,
        messages: Sequence[Message],
        key: Hashable,
        convert: Callable[[Message], _T],
        stale: Callable[[_T], bool] | None = None,
        *,
        more: bool = False,
    ) -> list[_T]:
        """``[convert(m) for m in messages]``, reusing conversions made for earlier reads.

        ``key`` names the conversion (one per framework); results are remembered per message
        uuid while the session is held. A remembered result for which ``stale`` is true (made
        with other settings, say) is converted again and replaces it.

        For a session not held (window reads), the conversions of the last read are remembered
        instead, each with a copy of what its message held, and reused only for a message that
        holds exactly that again (``convert`` depends on nothing else), so a window read every
        turn converts only the messages new since the one before. ``more``: ``messages`` are
        more of the same read (older ones, as a ``DecodedTail`` asks for them), remembered with
        what this read converted before.
        """
        held = self._held(session_id)
        memo = None if held is None else held.decoded.setdefault(key, {})
        with building_many:  # a whole history's worth of objects (see building_many)
            if memo is None:
                return self._decode_recent(session_id, messages, key, convert, stale, more)
            out: list[_T] = []
            append, get = out.append, memo.get
            for message in messages:
                uid = message.uuid
                if uid is None:  # nothing to remember it by (the store gives every one a uuid)
                    append(convert(message))
                    continue
                key = uid.int
                value = get(key)
                if value is None or (stale is not None and stale(value)):
                    value = memo[key] = convert(message)
                append(value)
            return out

    def _decode_recent(
        self,
        session_id: str,
        messages: Sequence[Message],
        key: Hashable,
        convert: Callable[[Message], _T],
        stale: Callable[[_T], bool] | None,
        more: bool,
    ) -> list[_T]:
        """:meth:`decode` for a session not held (see there)."""
        with self._lock:
            # (what the last read converted, what this one has so far): a read's first call
            # looks in the last read's, and its later ones (``more``) in the one before it
            last, current = self._recent.get(session_id, {}).get(key) or ({}, {})
        before = last if more else current
        now: _Converted = {}
        out: list[_T] = []
        append, get, atoms = out.append, before.get, _ATOMS
        for message in messages:
            uid = message.uuid
            values = message.__dict__
            metadata = values["metadata"]
            if uid is None or (
                metadata and not all(type(v) in atoms for v in metadata.values())
            ):  # nothing to remember it by, or metadata that could change in place
                append(convert(message))
                continue
            known = get(uid.int)
            if known is not None and known[0] == values and _exactly(known[0], values):
                value = known[1]
                if stale is not None and stale(value):
                    value = convert(message)
            else:
                value = convert(message)
            if len(messages) <= _RECENT_MESSAGES:
                # what it held, copied (its metadata too: its values cannot change in place)
                now[uid.int] = (
                    {**values, "metadata": None if metadata is None else {**metadata}},
                    value,
                )
            append(value)
        with self._lock:
            recent = self._recent.setdefault(session_id, {})
            self._recent.move_to_end(session_id)
            if not more:
                recent[key] = (current, now)
            elif len(current) + len(now) <= _RECENT_MESSAGES:
                recent[key] = (last, {**current, **now})
            while len(self._recent) > self.max_sessions:
                self._recent.popitem(last=False)
        return out

    def decode_and_measure(
        self,
        session_id: str,
        messages: Sequence[Message],
        key: Hashable,
        convert: Callable[[Message], _T],
        measures: Hashable,
        measure: Callable[[_T], _S],
        stale: Callable[[_S], bool] | None = None,
        *,
        more: bool = False,
    ) -> tuple[list[_T], list[_S]]:
        """:meth:`decode` under ``key``, and ``measure`` of each converted form under ``measures``.

        Every message is converted at most once (a new one, missing from both memos, included);
        a measure is always taken of the converted form handed out. ``stale`` applies to the
        measures, ``more`` to both (see :meth:`decode`).
        """
        fresh: dict[int, _T] = {}  # converted by this call, by message object
        remembered: dict[int, _T] = {}  # all of them, filled on the first need

        def converted(message: Message) -> _T:
            value = fresh[id(message)] = convert(message)
            return value

        def measured(message: Message) -> _S:
            value = fresh.get(id(message))
            if value is None:  # remembered, but its measure is not (or is stale)
                if not remembered:
                    remembered.update(zip(map(id, messages), decoded, strict=True))
                value = remembered[id(message)]
            return measure(value)

        decoded = self.decode(session_id, messages, key, converted, more=more)
        return decoded, self.decode(session_id, messages, measures, measured, stale, more=more)


class DecodedTail(Tail, Generic[_T]):
    """A :class:`~zep_memory_plugins._context.Tail` over a session's stored messages.

    Through the history cache: each message looked at is converted (under ``key``) and sized by
    ``size`` at most once while the cache holds the session, per ``counter`` (a size taken with
    another counter is taken again). ``extra``: the sizes of messages that follow the stored
    ones and are not stored (an adapter's held user messages).
    """

    def __init__(
        self,
        cache: HistoryCache,
        session_id: str,
        messages: Sequence[Message],
        key: Hashable,
        convert: Callable[[Message], _T],
        sizes: Hashable,
        size: Callable[[_T], tuple[Shape, int]],
        counter: object,
        *,
        extra: Sequence[tuple[Shape, int]] = (),
        whole: bool = True,
    ) -> None:
        self.stored = len(messages)
        self._decoded: list[_T] = []  # messages[min(base, stored):], converted
        self._extra = list(extra)

        def measure(a: int, b: int) -> list[tuple[Shape, int]]:
            stop = min(b, self.stored)
            sized: list[tuple[Shape, int]] = []
            if a < stop:
                part, seen = cache.decode_and_measure(
                    session_id,
                    messages[a:stop],
                    key,
                    convert,
                    sizes,
                    lambda value: Sized(*size(value), counter),
                    stale=lambda known: known.counter is not counter,
                    more=stop < self.stored,  # older than the first run: the same read
                )
                self._decoded[:0] = part
                sized = [(s.shape, s.cost) for s in seen]
            return sized + self._extra[max(a, self.stored) - self.stored : max(b - self.stored, 0)]

        super().__init__(self.stored + len(self._extra), measure, whole=whole)

    def decoded_from(self, start: int) -> list[_T]:
        """The converted stored messages from index ``start`` on (measured back to it)."""
        self.reach(start)
        return self._decoded[start - min(self.base, self.stored) :] if start < self.stored else []


def _new_cache(client: ZepMemoryClient) -> HistoryCache:
    cache = HistoryCache(client)
    client._on_delete(cache._deleted)
    return cache


_CACHES: PerClient[HistoryCache] = PerClient(_new_cache)


def history_cache(client: ZepMemoryClient) -> HistoryCache:
    """The :class:`HistoryCache` shared by every adapter on ``client``.

    It forgets a session when it is deleted through ``client`` (see
    :meth:`ZepMemoryClient._on_delete`).
    """
    return _CACHES.get(client)
