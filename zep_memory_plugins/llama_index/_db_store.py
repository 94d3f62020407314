"""``ZepDBChatStore``: the async chat store behind LlamaIndex's ``Memory``, on Zep.

``llama_index.core.memory.Memory`` keeps a FIFO queue of ``active`` messages and archives the
oldest ones (``MessageStatus.ARCHIVED``) when the queue outgrows its token budget. Zep has no
message status, so this store keeps it in message metadata:

- a message added with a status carries it under :data:`LLAMA_INDEX_STATUS_KEY` (absent means
  active, so sessions written by the other adapters read as all-active);
- ``archive_oldest_messages(n)`` marks only the last of the ``n`` messages it archives with
  :data:`LLAMA_INDEX_ARCHIVED_THROUGH_KEY` (one metadata update, whatever ``n``): every message
  up to the newest such mark is archived.

Deletions (``set_messages``, ``delete_message``, ``delete_messages`` with a status,
``delete_oldest_messages``) rewrite the session: soft delete, then the kept messages are added
again with their status spelled out (one read, one delete, one add).

``Memory`` reads the session again right after each of its own writes (``aput`` is
``add_message`` then ``get_messages``). The store answers that one read from what it read last
plus what it just wrote, so a chat turn costs one read and two writes instead of three reads;
any other read, including the next turn's first, goes to the backend through the client's
shared history cache: one request for the newest messages once the session is held, so a turn
is at most 3 HTTP requests on Zep at any history length.
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store.base_db import AsyncDBChatStore, MessageStatus

from .._context import ARCHIVED_THROUGH_KEY, marked_positions, split_summary, summary_book
from .._duplex import arun
from .._errors import InvalidInputError
from .._models import Message, check_id
from ._bound import UserBoundStore
from ._convert import LLAMA_INDEX_STATUS_KEY, from_zep_message, hand_out_all, to_zep_message

__all__ = ["LLAMA_INDEX_ARCHIVED_THROUGH_KEY", "ZepDBChatStore"]

#: Reserved message metadata key: ``True`` on the newest message of an archived batch; every
#: message up to the newest message carrying it is archived.
LLAMA_INDEX_ARCHIVED_THROUGH_KEY = ARCHIVED_THROUGH_KEY

#: Key of this store's conversions in the history cache.
_DECODED = "llama_index.db_store"
_ACTIVE, _ARCHIVED = MessageStatus.ACTIVE, MessageStatus.ARCHIVED


def _statuses(messages: Sequence[Message]) -> tuple[list[MessageStatus], int]:
    """Each message's status, and the index of the newest archived-through mark (-1: none).

    Only the marked messages (see ``History``) carry a status or a mark: a long history is not
    looked at message by message.
    """
    marked = marked_positions(messages)
    boundary = -1
    for index in marked:
        if (messages[index].metadata or {}).get(LLAMA_INDEX_ARCHIVED_THROUGH_KEY):
            boundary = index
    out = [_ARCHIVED] * (boundary + 1) + [_ACTIVE] * (len(messages) - boundary - 1)
    for index in marked:
        stored = (messages[index].metadata or {}).get(LLAMA_INDEX_STATUS_KEY)
        if index > boundary and stored == _ARCHIVED.value:
            out[index] = _ARCHIVED
    return out, boundary


class _Known:
    """A session as this store last saw it (a snapshot: changes make a new one).

    Its messages, their statuses, and the framework messages decoded so far: only those asked
    for (``Memory`` asks for the active ones).
    """

    __slots__ = ("boundary", "chats", "statuses", "stored")

    def __init__(
        self,
        stored: list[Message],
        statuses: list[MessageStatus],
        boundary: int,
        chats: list[ChatMessage | None],
    ) -> None:
        self.stored = stored
        self.statuses = statuses
        #: every message up to this index is archived (the newest archived-through mark)
        self.boundary = boundary
        self.chats = chats

    @classmethod
    def read(cls, stored: Sequence[Message]) -> _Known:
        """What a read of the session shows."""
        statuses, boundary = _statuses(stored)
        return cls(list(stored), statuses, boundary, [None] * len(stored))

    def positions(self, status: MessageStatus | None) -> Sequence[int]:
        """The indices of the messages with ``status`` (any if ``None``), oldest first."""
        if status is None:
            return range(len(self.stored))
        start = self.boundary + 1 if status is _ACTIVE else 0
        statuses = self.statuses
        return [i for i in range(start, len(statuses)) if statuses[i] is status]

    def decoded(
        self, store: ZepDBChatStore, key: str, positions: Sequence[int]
    ) -> list[ChatMessage]:
        """Copies of the framework messages at ``positions`` (each decoded once).

        What a caller gets is its own: ``Memory`` writes its memory blocks into the messages it
        gets, and a memory block tags those it is given.
        """
        chats = self.chats
        missing = [i for i in positions if chats[i] is None]
        if missing:
            fresh = store._guard.cache.decode(
                key, [self.stored[i] for i in missing], _DECODED, from_zep_message
            )
            for i, chat in zip(missing, fresh, strict=True):
                chats[i] = chat
        return hand_out_all([chats[i] for i in positions])  # type: ignore[misc]

    def rows(self, store: ZepDBChatStore, key: str) -> list[tuple[ChatMessage, MessageStatus]]:
        """Every message with its status (all decoded)."""
        chats = self.decoded(store, key, range(len(self.stored)))
        return list(zip(chats, self.statuses, strict=True))

    def added(self, stored: list[Message], statuses: list[MessageStatus]) -> _Known:
        """The session with ``stored`` added, with ``statuses``.

        Their framework messages are decoded from what was stored, as a read would: not the
        caller's objects.
        """
        return _Known(
            self.stored + stored,
            self.statuses + statuses,
            self.boundary,
            self.chats + [None] * len(stored),
        )

    def archived(self, positions: list[int]) -> _Known:
        """The session with the oldest active messages at ``positions`` archived.

        The newest of them is marked archived-through.
        """
        statuses = list(self.statuses)
        for i in positions:
            statuses[i] = _ARCHIVED
        return _Known(self.stored, statuses, max(self.boundary, positions[-1]), self.chats)


def _status(value: object, *, allow_none: bool) -> MessageStatus | None:
    if value is None and allow_none:
        return None
    try:
        return MessageStatus(value)
    except ValueError:
        raise InvalidInputError(
            f"status must be a MessageStatus ('active' or 'archived'), not {value!r}",
            field="status",
        ) from None


def _with_status(
    key: str, messages: list[ChatMessage], status: object
) -> list[tuple[ChatMessage, MessageStatus]]:
    """``messages`` to store under session ``key``, each with ``status`` (checked)."""
    check_id(key, "key")
    status_ = _status(status, allow_none=False)
    assert status_ is not None
    return [(m, status_) for m in messages]


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an int, not {type(value).__name__}", field=name)
    return value


def _encode(rows: list[tuple[ChatMessage, MessageStatus]]) -> list[Message]:
    return [to_zep_message(m, status=s.value) for m, s in rows]


class ZepDBChatStore(UserBoundStore, AsyncDBChatStore):
    """LlamaIndex's async database chat store interface on Zep, for ``Memory``.

    Keys are session ids of ``user_id`` (created on the first write; another user's session
    raises :class:`~zep_memory_plugins.SessionOwnershipError`)::

        store = ZepDBChatStore(client=client, user_id="jane")
        memory = Memory.from_defaults(session_id="jane-chat", chat_store=store)

    Message statuses (active / archived) are kept as described in the module doc.
    """

    @classmethod
    def class_name(cls) -> str:
        """Name of the class."""
        return "ZepDBChatStore"

    #: per session: what this store's last read showed, with its own writes since
    _known: dict[str, _Known] = PrivateAttr(default_factory=dict)
    #: sessions whose next read may be answered from ``_known`` (set by this store's writes)
    _just_wrote: set[str] = PrivateAttr(default_factory=set)

    async def _session(self, key: str, *, after_own_write: bool = False) -> _Known:
        check_id(key, "key")
        if after_own_write and key in self._just_wrote and key in self._known:
            self._just_wrote.discard(key)
            return self._known[key]
        self._just_wrote.discard(key)
        # Through the shared history cache: one tail read once the session is held, whatever
        # its length; a session deleted meanwhile is seen there and reported to the guard.
        summary, stored, _ = split_summary(await self._guard.aread(self.user_id, key))
        summary_book(self._client).seen(key, summary)  # for ZepSummaryBlock: no read of its own
        known = self._known[key] = _Known.read(stored)
        return known

    def _wrote(self, key: str, known: _Known | None) -> None:
        """Record this store's write: ``known`` is the session now (``None``: unknown)."""
        if known is None:
            self._known.pop(key, None)
            self._just_wrote.discard(key)
        else:
            self._known[key] = known
            self._just_wrote.add(key)

    async def _rewrite(self, key: str, rows: list[tuple[ChatMessage, MessageStatus]]) -> None:
        self._wrote(key, None)
        await arun(
            self._guard.plan_rewrite(
                self.user_id, key, _encode(rows), keep_session=False, metadata=self.session_metadata
            )
        )

    async def get_messages(
        self,
        key: str,
        status: MessageStatus | None = MessageStatus.ACTIVE,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[ChatMessage]:
        """The session's messages with ``status`` (any if ``None``), oldest first, paged.

        Only those are decoded: on a long session whose oldest messages ``Memory`` archived,
        reading the active ones costs what they cost.
        """
        wanted = _status(status, allow_none=True)
        start = 0 if offset is None else max(_count(offset, "offset"), 0)
        stop = None if limit is None else start + max(_count(limit, "limit"), 0)
        known = await self._session(key, after_own_write=True)
        return known.decoded(self, key, known.positions(wanted)[start:stop])

    async def count_messages(
        self, key: str, status: MessageStatus | None = MessageStatus.ACTIVE
    ) -> int:
        """How many messages of the session have ``status`` (any if ``None``)."""
        wanted = _status(status, allow_none=True)
        return len((await self._session(key, after_own_write=True)).positions(wanted))

    async def add_message(
        self, key: str, message: ChatMessage, status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append one message with ``status``."""
        await self.add_messages(key, [message], status)

    async def add_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Append messages with ``status`` in one ``add_messages`` call."""
        rows = _with_status(key, messages, status)
        if not rows:
            return
        write = self._guard.plan_write(self.user_id, key, _encode(rows), self.session_metadata)
        stored = await arun(write)
        known = self._known.get(key)
        self._wrote(key, None if known is None else known.added(stored, [s for _, s in rows]))

    async def set_messages(
        self, key: str, messages: list[ChatMessage], status: MessageStatus = MessageStatus.ACTIVE
    ) -> None:
        """Replace the session's messages with ``messages``, all with ``status``."""
        await self._rewrite(key, _with_status(key, messages, status))

    async def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Remove and return the message at position ``idx`` (any status; ``None`` if none)."""
        idx = _count(idx, "idx")
        rows = (await self._session(key)).rows(self, key)
        if not -len(rows) <= idx < len(rows):
            return None
        removed = rows.pop(idx)
        await self._rewrite(key, rows)
        return removed[0]

    async def delete_messages(self, key: str, status: MessageStatus | None = None) -> None:
        """Delete the session's messages with ``status`` (all, by soft delete, if ``None``)."""
        wanted = _status(status, allow_none=True)
        if wanted is None:
            check_id(key, "key")
            await self._guard.aclear(self.user_id, key)
            self._wrote(key, None)
            summary_book(self._client).forget(key)
            return
        known = await self._session(key)
        if known.positions(wanted):
            await self._rewrite(key, [(c, s) for c, s in known.rows(self, key) if s != wanted])

    async def _oldest_active(self, key: str, n: object) -> tuple[_Known, list[int]]:
        """The session, and the positions of its ``n`` oldest active messages."""
        n = _count(n, "n")
        known = await self._session(key)
        return known, list(known.positions(_ACTIVE)[: max(n, 0)])

    async def delete_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Delete the ``n`` oldest active messages and return them."""
        known, active = await self._oldest_active(key, n)
        if not active:
            return []
        doomed = set(active)
        rows = known.rows(self, key)
        await self._rewrite(key, [row for i, row in enumerate(rows) if i not in doomed])
        return [rows[i][0] for i in active]

    async def archive_oldest_messages(self, key: str, n: int) -> list[ChatMessage]:
        """Archive the ``n`` oldest active messages and return them (one read, one update)."""
        known, active = await self._oldest_active(key, n)
        if not active:
            return []
        newest = known.stored[active[-1]]
        assert newest.uuid is not None
        self._wrote(key, None)
        await self._guard.cache.aupdate_metadata(
            key, newest.uuid, {LLAMA_INDEX_ARCHIVED_THROUGH_KEY: True}
        )
        self._wrote(key, known.archived(active))
        return known.decoded(self, key, active)

    async def get_keys(self) -> list[str]:
        """The ids of the user's live sessions, oldest first."""
        return await self._guard.auser_sessions(self.user_id)
