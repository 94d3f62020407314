"""``ZepMemory``: a LlamaIndex ``BaseMemory`` on one user's Zep session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.memory.types import BaseMemory
from llama_index.core.utils import get_tokenizer

from .._client import ZepMemoryClient
from .._context import (
    DEFAULT_KEEP_RATIO,
    Fold,
    Kind,
    Shape,
    Summary,
    SummaryBook,
    plan_fold,
    position_of,
    split_summary,
    summary_book,
    transcript_line,
)
from .._duplex import Plan, arun, call, run
from .._errors import InvalidInputError
from .._history_cache import DecodedTail
from .._models import Message, building_many, check_id, check_metadata
from .._session_guard import SessionGuard, check_client, guard_for
from ._convert import LLAMA_INDEX_MESSAGE_KEY, from_zep_message, hand_out_all, to_zep_message

__all__ = ["DEFAULT_TOKEN_LIMIT", "SUMMARY_HEADER", "ZepMemory", "chat_shape", "chat_text"]

#: Token budget of :meth:`ZepMemory.get` unless told otherwise (as ``ChatMemoryBuffer``).
DEFAULT_TOKEN_LIMIT = 3000
#: The line introducing the rolling summary where it is shown to the model.
SUMMARY_HEADER = "Summary of the earlier conversation:"

_KINDS: dict[str, Kind] = {
    MessageRole.USER.value: "user",
    MessageRole.ASSISTANT.value: "assistant",
    MessageRole.CHATBOT.value: "assistant",
    MessageRole.MODEL.value: "assistant",
    MessageRole.SYSTEM.value: "system",
    MessageRole.DEVELOPER.value: "system",
    MessageRole.TOOL.value: "tool",
    MessageRole.FUNCTION.value: "tool",
}


def _call_id(call: object) -> str | None:
    value = call.get("id") if isinstance(call, dict) else getattr(call, "id", None)
    return str(value) if value else None


def chat_shape(message: ChatMessage) -> Shape:
    """What cutting needs to know of a LlamaIndex message (see ``zep_memory_plugins._context``).

    Tool calls are read from ``ToolCallBlock`` blocks and ``additional_kwargs["tool_calls"]``;
    a tool result's call from ``additional_kwargs["tool_call_id"]``.
    """
    kind = _KINDS.get(str(getattr(message.role, "value", message.role)), "other")
    if kind == "assistant":
        calls = [b.tool_call_id for b in message.blocks if isinstance(b, ToolCallBlock)]
        calls += [_call_id(c) for c in message.additional_kwargs.get("tool_calls") or []]
        return Shape("assistant", calls=tuple(c for c in calls if c))
    if kind == "tool":
        answers = message.additional_kwargs.get("tool_call_id")
        return Shape("tool", answers=str(answers) if answers else None)
    return Shape(kind)


def chat_text(message: ChatMessage) -> str:
    """The text of a message as counted and summarised: its content and its tool calls."""
    text = str(message.content or "")
    calls = [
        f"[calls {b.tool_name}({b.tool_kwargs})]"
        for b in message.blocks
        if isinstance(b, ToolCallBlock)
    ]
    if message.additional_kwargs.get("tool_calls"):
        calls.append(f"[calls {message.additional_kwargs['tool_calls']}]")
    return " ".join([text, *calls]) if calls else text


def summary_chat_message(text: str) -> ChatMessage:
    """The summary as shown to the model: a system message at the front."""
    return ChatMessage(role=MessageRole.SYSTEM, content=f"{SUMMARY_HEADER}\n{text}")


#: Conversion key of the remembered :class:`~zep_memory_plugins._context.Sized` in the history
#: cache.
_SIZES = "zep_memory_plugins.llama_index.ZepMemory.sizes"


def _chat_messages(messages: object) -> list[ChatMessage]:
    if not isinstance(messages, (list, tuple)) or not all(
        isinstance(m, ChatMessage) for m in messages
    ):
        raise InvalidInputError("messages must be a list of ChatMessage", field="messages")
    return list(messages)


class ZepMemory(BaseMemory):
    """Chat memory of one user's session, kept in Zep (or the embedded store).

    Use it as ``memory=`` of a chat engine (``SimpleChatEngine``, ``CondensePlusContext``...) or
    of a ``FunctionAgent`` / ``AgentWorkflow`` run. The user and the session are created on the
    first write; a session owned by another user raises
    :class:`~zep_memory_plugins.SessionOwnershipError`.

    ``get`` returns the most recent whole turns that fit ``token_limit`` (minus the
    ``initial_token_count`` chat engines pass), read through a window of at most the last
    ``last_n`` messages when set: it never starts on an assistant or tool message and never
    separates a tool call from its results (fewer messages than asked, or none, rather than a
    list a provider refuses). Tokens are counted with ``tokenizer_fn`` (LlamaIndex's tokenizer,
    which works offline) over each message's text and tool calls.

    **Rolling summary.** With ``llm`` set, when the history does not fit ``token_limit`` the
    oldest turns are folded, with that model, into a summary that extends the previous one and
    is stored in the session (a marked message, see ``zep_memory_plugins._context``): later
    reads and other processes reuse it at no extra read. ``get`` returns it first, as a system
    message. After summarising only ``keep_ratio`` of the room is kept, so summarising happens
    once per batch of turns (one more write and the model's calls on that turn).

    **One read and one write per turn.** With ``defer_user_messages`` (the default) a ``put`` of
    a user message is held in this object (and shown by ``get``/``get_all``) and written together
    with the next non-user message, ``put_messages``, ``set`` or :meth:`flush`, in a single
    ``add_messages`` call. A user message whose turn never completes (the LLM call fails and the
    object is dropped) is therefore not stored; call :meth:`flush` to store it anyway, or pass
    ``defer_user_messages=False`` to write every ``put`` at once (one more write per turn).
    """

    user_id: str = Field(description="The user owning the session.")
    session_id: str = Field(description="The Zep session holding the conversation.")
    token_limit: int = Field(default=DEFAULT_TOKEN_LIMIT, gt=0)
    last_n: int | None = Field(
        default=None, gt=0, description="Read at most this many recent messages in get()."
    )
    defer_user_messages: bool = Field(default=True)
    session_metadata: dict[str, Any] | None = Field(
        default=None, description="Metadata given to the session when this memory creates it."
    )
    tokenizer_fn: Callable[[str], list[Any]] = Field(default_factory=get_tokenizer, exclude=True)
    llm: LLM | None = Field(
        default=None, exclude=True, description="Summarises what falls out of the budget."
    )
    summary_max_tokens: int | None = Field(
        default=None, gt=0, description="Longest summary kept (default: token_limit // 4)."
    )
    keep_ratio: float = Field(default=DEFAULT_KEEP_RATIO, gt=0, lt=1)
    _client: ZepMemoryClient = PrivateAttr()
    _guard: SessionGuard = PrivateAttr()
    _pending: list[ChatMessage] = PrivateAttr(default_factory=list)
    _latest: Summary | None = PrivateAttr(default=None)
    _book: SummaryBook = PrivateAttr()

    def __init__(
        self, client: ZepMemoryClient, user_id: str, session_id: str, **kwargs: Any
    ) -> None:
        """Bind the memory to ``client``, ``user_id`` and ``session_id``."""
        client = check_client(client)
        if "session_metadata" in kwargs:
            kwargs["session_metadata"] = check_metadata(kwargs["session_metadata"])
        try:
            super().__init__(
                user_id=check_id(user_id, "user_id"),
                session_id=check_id(session_id, "session_id"),
                **kwargs,
            )
        except ValueError as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"invalid ZepMemory: {exc}") from None
        self._client = client
        self._guard = guard_for(client)
        self._book = summary_book(client)

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        client: ZepMemoryClient,
        user_id: str,
        session_id: str,
        chat_history: list[ChatMessage] | None = None,
        **kwargs: Any,
    ) -> ZepMemory:
        """Build a memory; ``chat_history``, if given, replaces what the session holds."""
        memory = cls(client, user_id, session_id, **kwargs)
        if chat_history is not None:
            memory.set(chat_history)
        return memory

    @classmethod
    def class_name(cls) -> str:
        """Name of the class, for LlamaIndex serialisation."""
        return "ZepMemory"

    @property
    def client(self) -> ZepMemoryClient:
        """The client this memory talks to."""
        return self._client

    @property
    def pending(self) -> list[ChatMessage]:
        """User messages put but not written yet (see the class doc)."""
        return list(self._pending)

    def __repr__(self) -> str:
        return (
            f"ZepMemory(user_id={self.user_id!r}, session_id={self.session_id!r}, "
            f"backend={self._client.backend.name!r})"
        )

    # -- helpers -----------------------------------------------------------------------------

    def _defer(self, message: ChatMessage) -> bool:
        if not isinstance(message, ChatMessage):
            raise InvalidInputError(
                f"expected a LlamaIndex ChatMessage, not {type(message).__name__}",
                field="message",
            )
        if self.defer_user_messages and message.role == MessageRole.USER:
            to_zep_message(message)  # refuse what cannot be stored now, not at the next put
            self._pending.append(message)
            return True
        return False

    def _check_initial(self, initial_token_count: object) -> int:
        if isinstance(initial_token_count, bool) or not isinstance(initial_token_count, int):
            raise InvalidInputError(
                "initial_token_count must be an int", field="initial_token_count"
            )
        if initial_token_count > self.token_limit:
            raise InvalidInputError(
                f"initial_token_count {initial_token_count} exceeds the token limit "
                f"{self.token_limit}",
                field="initial_token_count",
            )
        return initial_token_count

    def _tokens(self, messages: Sequence[ChatMessage]) -> int:
        return sum(len(self.tokenizer_fn(chat_text(m))) for m in messages)

    def _read_lastn(self) -> int | None:
        if self.last_n is None or self.llm is not None:
            return None
        return max(self.last_n - len(self._pending), 1)

    def _plan(
        self, raw: list[Message], lastn: int | None, initial: int, *, may_fold: bool
    ) -> tuple[list[ChatMessage], Fold | None]:
        """What ``get`` returns for the stored messages ``raw``, or a summary to make first."""
        summary, kept, whole = self._book.split(self.session_id, raw, lastn)
        stored, held = len(kept), [self._size(m) for m in self._pending]
        # Only the newest messages are looked at, as far back as the cut needs (see Tail): each
        # is decoded, shaped and counted once while the history cache holds the session, and
        # what is returned is copied.
        tail = DecodedTail(
            self._guard.cache,
            self.session_id,
            kept,
            LLAMA_INDEX_MESSAGE_KEY,
            from_zep_message,
            _SIZES,
            self._size,
            self.tokenizer_fn,
            extra=held,
            whole=whole,
        )

        def handed_out(start: int) -> list[ChatMessage]:
            with building_many:
                pending = self._pending[max(start - stored, 0) :]
                return [*hand_out_all(tail.decoded_from(start)), *pending]

        start = tail.window_start(self.last_n)
        text = summary.text if summary is not None else None
        known = self._latest
        index = None if known is None else position_of(kept, known.through)
        if known is not None and index is not None:
            text, start = known.text, max(start, index + 1)
        head = [summary_chat_message(text)] if text else []
        budget = self.token_limit
        fixed = initial + self._tokens(head)
        hi = stored if self._pending else tail.n
        if tail.fitting_from(budget - fixed, start) == start:
            return [*head, *handed_out(start)], None
        if may_fold and self.llm is not None and start < stored:
            cap = self._summary_cap()
            room = budget - fixed - max(cap - self._tokens(head), 0)
            k = tail.fold_point(int(max(room, 0) * self.keep_ratio), lo=start, hi=stored)
            if k > start:
                lines = [
                    transcript_line(str(m.role.value), chat_text(m))
                    for m in tail.decoded_from(start)[: k - start]
                ]
                return [], Fold(text, lines, str(kept[k - 1].uuid))
        found = tail.fit(budget - fixed, lo=start, hi=hi)
        if found is None:
            if self._pending:
                raise InvalidInputError(
                    f"the new input does not fit token_limit={budget}: it takes "
                    f"{fixed + sum(cost for _, cost in held)} tokens with the summary and "
                    "the initial count",
                    field="token_limit",
                )
            return [], None
        return [*head, *handed_out(found)], None

    def _size(self, message: ChatMessage) -> tuple[Shape, int]:
        """A message's shape and its token count."""
        return chat_shape(message), len(self.tokenizer_fn(chat_text(message)))

    def _summary_cap(self) -> int:
        return self.summary_max_tokens or max(self.token_limit // 4, 1)

    def _request_fits(self, system: str, user: str) -> bool:
        return len(self.tokenizer_fn(system)) + len(self.tokenizer_fn(user)) <= self.token_limit

    def _summary_fits(self, text: str) -> bool:
        return self._tokens([summary_chat_message(text)]) <= self._summary_cap()

    def _plan_summarise(self, fold: Fold) -> Plan[Message]:
        assert self.llm is not None
        llm = self.llm

        def ask(system: str, user: str) -> Plan[str]:
            chat = [ChatMessage(role="system", content=system), ChatMessage(content=user)]
            reply = yield call(llm, "chat", chat)
            return str(reply.message.content or "")

        summary = yield from plan_fold(
            fold,
            ask,
            request_fits=self._request_fits,
            summary_fits=self._summary_fits,
            words=max(self._summary_cap() * 3 // 4, 1),
        )
        self._latest = summary
        return self._book.made(self.session_id, summary)

    def _batch(self, messages: Sequence[ChatMessage]) -> list[Any]:
        return [to_zep_message(m) for m in [*self._pending, *messages]]

    # -- each operation once, as a plan (see ``zep_memory_plugins._duplex``) -----------------

    def _plan_get(self, initial_token_count: object) -> Plan[list[ChatMessage]]:
        initial = self._check_initial(initial_token_count)
        lastn = self._read_lastn()
        # A window is read as such (one request for the last messages); the whole history
        # through the shared history cache (one tail read once the session is held).
        raw = yield from self._guard.plan_read(self.user_id, self.session_id, lastn)
        messages, job = self._plan(raw, lastn, initial, may_fold=True)
        if job is not None:
            stored = yield from self._plan_summarise(job)
            added = yield from self._guard.plan_write(
                self.user_id, self.session_id, [stored], self.session_metadata
            )
            messages, _ = self._plan([*raw, *added], lastn, initial, may_fold=False)
        return messages

    def _plan_get_all(self) -> Plan[list[ChatMessage]]:
        raw = yield from self._guard.plan_read(self.user_id, self.session_id)
        kept = split_summary(raw)[1]
        decoded = self._guard.cache.decode(
            self.session_id, kept, LLAMA_INDEX_MESSAGE_KEY, from_zep_message
        )
        with building_many:  # a whole history's worth of objects (see building_many)
            return [*hand_out_all(decoded), *self._pending]

    def _plan_put_messages(self, messages: list[ChatMessage]) -> Plan[None]:
        held = len(self._pending)
        batch = self._batch(_chat_messages(messages))
        if batch:
            yield from self._guard.plan_write(
                self.user_id, self.session_id, batch, self.session_metadata
            )
            del self._pending[:held]  # only those written: others may have been put meanwhile

    def _plan_set(self, messages: list[ChatMessage]) -> Plan[None]:
        batch = [to_zep_message(m) for m in _chat_messages(messages)]
        yield from self._guard.plan_rewrite(
            self.user_id, self.session_id, batch, keep_session=False, metadata=self.session_metadata
        )
        self._pending.clear()

    def _plan_reset(self) -> Plan[bool]:
        self._pending.clear()
        self._latest = None
        self._book.forget(self.session_id)
        return (yield from self._guard.plan_clear(self.user_id, self.session_id))

    # -- sync --------------------------------------------------------------------------------

    def get(
        self, input: str | None = None, initial_token_count: int = 0, **kwargs: Any
    ) -> list[ChatMessage]:
        """The recent history that fits the token limit (one read once the session is known)."""
        return run(self._plan_get(initial_token_count))

    def get_all(self) -> list[ChatMessage]:
        """Every message of the session, oldest first (held user messages last)."""
        return run(self._plan_get_all())

    def put(self, message: ChatMessage) -> None:
        """Add a message (held if it is a user message, see the class doc)."""
        if not self._defer(message):
            self.put_messages([message])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Add messages (and any held user message) in one ``add_messages`` call."""
        run(self._plan_put_messages(messages))

    def flush(self) -> None:
        """Write the held user messages now."""
        self.put_messages([])

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the history (soft-deletes the session and adds ``messages`` again)."""
        run(self._plan_set(messages))

    def reset(self) -> None:
        """Forget the history: soft-delete the session (and drop held messages)."""
        run(self._plan_reset())

    # -- async -------------------------------------------------------------------------------

    async def aget(
        self, input: str | None = None, initial_token_count: int = 0, **kwargs: Any
    ) -> list[ChatMessage]:
        """Async :meth:`get`."""
        return await arun(self._plan_get(initial_token_count))

    async def aget_all(self) -> list[ChatMessage]:
        """Async :meth:`get_all`."""
        return await arun(self._plan_get_all())

    async def aput(self, message: ChatMessage) -> None:
        """Async :meth:`put`."""
        if not self._defer(message):
            await self.aput_messages([message])

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`put_messages`."""
        await arun(self._plan_put_messages(messages))

    async def aflush(self) -> None:
        """Async :meth:`flush`."""
        await self.aput_messages([])

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`set`."""
        await arun(self._plan_set(messages))

    async def areset(self) -> None:
        """Async :meth:`reset`."""
        await arun(self._plan_reset())
