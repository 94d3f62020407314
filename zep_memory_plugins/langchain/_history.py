"""``ZepChatMessageHistory``: a LangChain chat history bound to one user's session."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

# BaseChatMessageHistory is deprecated since langchain-core 1.6.4, but only direct instances
# warn: subclasses such as ours do not.
from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from .._client import ZepMemoryClient
from .._context import (
    Kind,
    Shape,
    check_budget,
    fit_start,
    safe_starts,
    split_summary,
    summary_book,
    window_start,
)
from .._duplex import Plan, arun, run
from .._errors import InvalidInputError
from .._history_cache import DecodedTail
from .._models import Message, building_many, check_id, check_metadata, shallow_copy
from .._session_guard import SessionGuard, check_client, guard_for
from ._convert import LANGCHAIN_MESSAGE_KEY, from_zep_message, own_copy, to_zep_message

__all__ = [
    "Shapes",
    "TokenCounter",
    "ZepChatMessageHistory",
    "cut_messages",
    "shape_of",
    "size_of",
]

#: Counts the tokens of a list of messages (LangChain's ``count_tokens_approximately`` by
#: default; ``chat_model.get_num_tokens_from_messages`` or any function of that shape works).
TokenCounter = Callable[[Sequence[BaseMessage]], int]

_KINDS: dict[str, Kind] = {
    "human": "user",
    "HumanMessageChunk": "user",
    "ai": "assistant",
    "AIMessageChunk": "assistant",
    "system": "system",
    "SystemMessageChunk": "system",
    "developer": "system",
    "tool": "tool",
    "ToolMessageChunk": "tool",
    "function": "tool",
    "FunctionMessageChunk": "tool",
}
_CHAT_KINDS: dict[str, Kind] = {
    "human": "user",
    "user": "user",
    "ai": "assistant",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}


#: The shapes of messages that make or answer no tool call, shared (a ``Shape`` is frozen).
_PLAIN_SHAPES: dict[str, Shape] = {
    kind: Shape(kind) for kind in ("user", "assistant", "system", "other")
}


def shape_of(message: BaseMessage) -> Shape:
    """What cutting needs to know of a LangChain message (see ``zep_memory_plugins._context``)."""
    if message.type in ("chat", "ChatMessageChunk"):
        kind = _CHAT_KINDS.get(str(getattr(message, "role", "")), "other")
    else:
        kind = _KINDS.get(message.type, "other")
    if kind == "assistant":
        made = getattr(message, "tool_calls", None)
        broken = getattr(message, "invalid_tool_calls", None)
        if not made and not broken:
            return _PLAIN_SHAPES["assistant"]
        calls = tuple(str(c["id"]) for c in made or [] if c.get("id")) + tuple(
            str(c["id"]) for c in broken or [] if c.get("id")
        )
        return Shape("assistant", calls=calls)
    if kind == "tool":
        answers = getattr(message, "tool_call_id", None)
        return Shape("tool", answers=str(answers) if answers else None)
    return _PLAIN_SHAPES[kind]


def size_of(message: BaseMessage, token_counter: TokenCounter) -> tuple[Shape, int]:
    """A message's shape and its cost, as :func:`cut_messages` works them out."""
    return shape_of(message), token_counter([message])


#: Conversion key of the remembered :class:`~zep_memory_plugins._context.Sized` in the history
#: cache.
_SIZES = "zep_memory_plugins.langchain.ZepChatMessageHistory.sizes"


class Shapes(Sequence[Shape]):
    """The shapes of ``messages``, each worked out only when first asked for.

    A window over a whole history never looks at them (the history is its own window), so a
    long conversation costs nothing here on most turns.
    """

    def __init__(self, messages: Sequence[BaseMessage]) -> None:
        self._messages = messages
        self._memo: dict[int, Shape] = {}

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> Shape: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Shape]: ...

    def __getitem__(self, index: int | slice) -> Shape | Sequence[Shape]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        shape = self._memo.get(index)
        if shape is None:
            shape = self._memo[index] = shape_of(self._messages[index])
        return shape


def check_counter(counter: object) -> TokenCounter:
    """Validate a token counter (``None``: ``count_tokens_approximately``)."""
    if counter is None:
        return count_tokens_approximately
    if not callable(counter):
        raise InvalidInputError(
            f"token_counter must be a function of a list of messages, not {counter!r}",
            field="token_counter",
        )
    return counter


def cut_messages(
    messages: Sequence[BaseMessage],
    *,
    window: int | None = None,
    max_tokens: int | None = None,
    token_counter: TokenCounter = count_tokens_approximately,
    whole: bool = True,
) -> list[BaseMessage]:
    """The newest whole turns of ``messages`` within ``window`` and ``max_tokens``.

    At most ``window`` messages costing at most ``max_tokens`` (as counted by
    ``token_counter``).

    Never starts on an assistant message or a tool result and never separates a tool call from
    its results, so a provider accepts what is returned; it is shorter than asked only to stay
    whole (possibly empty). ``whole=False``: ``messages`` are only the newest of the
    conversation (a window read), so their first message may itself be a cut. Unless nothing is
    to be cut, it looks at every message; the history itself looks only at the newest (see
    ``Tail``).
    """
    if max_tokens is None and whole and (window is None or window >= len(messages)):
        return list(messages)  # the history is its own window: no shape is needed
    shapes = [shape_of(m) for m in messages]
    start = window_start(shapes, window, whole=whole)
    if max_tokens is None:
        return list(messages[start:])
    ok = safe_starts(shapes, whole=whole)
    ok[start] = True
    costs = [token_counter([m]) for m in messages]
    found = fit_start(
        ok,
        costs,
        max_tokens,
        lo=start,
        total=lambda i: token_counter(list(messages[i:])) if i < len(messages) else 0,
        budget=max_tokens,
    )
    return [] if found is None else list(messages[found:])


def check_window(window: object) -> int | None:
    """Validate a history window: ``None`` (everything) or a positive int."""
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise InvalidInputError(
            f"window must be a positive int or None, not {window!r}", field="window"
        )
    return window


def _to_zep(messages: Sequence[BaseMessage]) -> list[Any]:
    if isinstance(messages, (str, bytes, BaseMessage)) or not isinstance(messages, Sequence):
        raise InvalidInputError(
            f"messages must be a sequence of LangChain messages, not {type(messages).__name__}",
            field="messages",
        )
    return [to_zep_message(m) for m in messages]


class ZepChatMessageHistory(BaseChatMessageHistory):
    """The chat history of one user's session, stored in Zep (or the embedded store).

    Args:
        session_id: The conversation.
        user_id: Its owner. The user and the session are created on the first write (the
            session with ``session_metadata``); a session that belongs to another user raises
            :class:`~zep_memory_plugins.SessionOwnershipError` on the first read or write.
        client: The client to use; by default a new :class:`~zep_memory_plugins.ZepMemoryClient`
            (embedded store, or Zep when ``ZEP_API_URL`` is set).
        window: Return at most the last ``window`` messages (default: the whole history),
            fewer where the oldest would start on an assistant message or cut a tool call from
            its results.
        max_tokens: Return only the newest whole turns that fit this many tokens.
        token_counter: Counts the tokens of a list of messages (default LangChain's
            ``count_tokens_approximately``).
        session_metadata: Metadata of the session when this history creates it.

    Every LangChain message type round-trips: what :attr:`messages` returns compares equal to
    what was added. :meth:`add_messages` stores a whole batch in one backend call.

    The first read is kept and served again until this object writes or clears (so
    ``RunnableWithMessageHistory``, which reads twice per turn, costs one request); any write
    drops it, so the next read sees the store as it is. :meth:`refresh` drops it on demand.
    """

    def __init__(
        self,
        *,
        session_id: str,
        user_id: str,
        client: ZepMemoryClient | None = None,
        window: int | None = None,
        session_metadata: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        token_counter: TokenCounter | None = None,
        _guard: SessionGuard | None = None,
    ) -> None:
        super().__init__()
        self.session_id = check_id(session_id, "session_id")
        self.user_id = check_id(user_id, "user_id")
        self.window = check_window(window)
        self.max_tokens = check_budget(max_tokens)
        self.token_counter = check_counter(token_counter)
        self.session_metadata = check_metadata(session_metadata, "session_metadata")
        self._owns_client = client is None
        self.client = check_client(client) if client is not None else ZepMemoryClient()
        self._guard = _guard if _guard is not None else guard_for(self.client)
        self._cache: list[BaseMessage] | None = None

    def __repr__(self) -> str:
        return (
            f"ZepChatMessageHistory(session_id={self.session_id!r}, user_id={self.user_id!r}, "
            f"window={self.window!r}, max_tokens={self.max_tokens!r}, client={self.client!r})"
        )

    # -- reading -------------------------------------------------------------------------------

    def _plan_messages(self) -> Plan[list[BaseMessage]]:
        if self._cache is None:
            stored = yield from self._guard.plan_read(self.user_id, self.session_id, self.window)
            self._cache = self._decode(stored)
        return list(self._cache)

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The session's messages, oldest first (cut to ``window`` / ``max_tokens`` if set)."""
        return run(self._plan_messages())

    async def aget_messages(self) -> list[BaseMessage]:
        """Async :attr:`messages`."""
        return await arun(self._plan_messages())

    def _decode(self, stored: list[Message]) -> list[BaseMessage]:
        # Conversions are reused across reads. LangGraph assigns missing message ids in place:
        # id-less messages go out as shallow copies, so the cache keeps what was stored.
        with building_many:  # a whole history's worth of objects (see building_many)
            conversation = split_summary(stored)[1]  # the summary is never part of the history
            whole = self.window is None or len(stored) < self.window
            if self.max_tokens is None:
                decoded = cut_messages(
                    self._guard.cache.decode(
                        self.session_id, conversation, LANGCHAIN_MESSAGE_KEY, from_zep_message
                    ),
                    window=self.window,
                    whole=whole,
                )
            else:
                decoded = self._newest_within_budget(conversation, whole)
            if self.window is not None:
                # A window's conversions are remembered from read to read as well (see
                # HistoryCache.decode), and a window read has always handed out messages of
                # the caller's own: copies sharing nothing that changes in place.
                return [own_copy(m) for m in decoded]
            return [m if m.id is not None else shallow_copy(m) for m in decoded]

    def _newest_within_budget(self, conversation: list[Message], whole: bool) -> list[BaseMessage]:
        """:func:`cut_messages` with ``max_tokens``, looking only at the newest messages.

        Each message looked at is decoded, shaped and counted once while the history cache
        holds the session; only as many as the cut needs are looked at (see ``Tail``), so a
        turn on a long history costs what the messages it returns cost.
        """
        assert self.max_tokens is not None
        counter, budget = self.token_counter, self.max_tokens
        tail = DecodedTail(
            self._guard.cache,
            self.session_id,
            conversation,
            LANGCHAIN_MESSAGE_KEY,
            from_zep_message,
            _SIZES,
            lambda message: size_of(message, counter),
            counter,
            whole=whole,
        )
        start = tail.window_start(self.window)
        found = tail.fit(
            budget,
            lo=start,
            total=lambda i: counter(tail.decoded_from(i)) if i < tail.n else 0,
            budget=budget,
        )
        return [] if found is None else tail.decoded_from(found)

    def refresh(self) -> None:
        """Forget the messages read so far: the next read asks the backend again."""
        self._cache = None

    # -- writing -------------------------------------------------------------------------------

    def add_message(self, message: BaseMessage) -> None:
        """Append one message."""
        self.add_messages([message])

    def _plan_add(self, messages: Sequence[BaseMessage]) -> Plan[None]:
        batch = _to_zep(messages)
        if batch:
            self._cache = None
            yield from self._guard.plan_write(
                self.user_id, self.session_id, batch, self.session_metadata
            )

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Append messages in one backend call (creating the user and session if needed)."""
        run(self._plan_add(messages))

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`."""
        await arun(self._plan_add(messages))

    def _plan_clear(self) -> Plan[bool]:
        self._cache = None
        summary_book(self.client).forget(self.session_id)
        return (yield from self._guard.plan_clear(self.user_id, self.session_id))

    def clear(self) -> None:
        """Soft-delete the session and its messages, as Zep does (a new write revives it)."""
        run(self._plan_clear())

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await arun(self._plan_clear())

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client if this history built it."""
        if self._owns_client:
            self.client.close()
