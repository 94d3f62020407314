"""``ZepMemory``: a LlamaIndex ``BaseMemory`` on one user's Zep session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.memory.types import BaseMemory
from llama_index.core.utils import get_tokenizer

from .._client import ZepMemoryClient
from .._errors import InvalidInputError
from .._models import check_id, check_metadata
from .._session_guard import SessionGuard, check_client, guard_for
from ._convert import from_zep_message, to_zep_message

__all__ = ["DEFAULT_TOKEN_LIMIT", "ZepMemory"]

#: Token budget of :meth:`ZepMemory.get` unless told otherwise (as ``ChatMemoryBuffer``).
DEFAULT_TOKEN_LIMIT = 3000


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

    ``get`` returns the most recent messages that fit ``token_limit`` (minus the
    ``initial_token_count`` chat engines pass), read through a window of the last ``last_n``
    messages when set; it never starts the history on an assistant or tool message.

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
    _client: ZepMemoryClient = PrivateAttr()
    _guard: SessionGuard = PrivateAttr()
    _pending: list[ChatMessage] = PrivateAttr(default_factory=list)

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

    def _window(self, messages: list[ChatMessage], initial_token_count: int) -> list[ChatMessage]:
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
        if self.last_n is not None:
            messages = messages[-self.last_n :]
        count = len(messages)
        tokens = self._tokens(messages) + initial_token_count
        while tokens > self.token_limit and count > 1:
            count -= 1
            # Never start on an assistant or tool message: its user turn (or tool call) is gone.
            while count > 1 and messages[-count].role in (MessageRole.ASSISTANT, MessageRole.TOOL):
                count -= 1
            tokens = self._tokens(messages[-count:]) + initial_token_count
        if tokens > self.token_limit or count <= 0:
            return messages[-1:]
        return messages[-count:]

    def _tokens(self, messages: Sequence[ChatMessage]) -> int:
        if not messages:
            return 0
        return len(self.tokenizer_fn(" ".join(str(m.content) for m in messages)))

    def _batch(self, messages: Sequence[ChatMessage]) -> list[Any]:
        return [to_zep_message(m) for m in [*self._pending, *messages]]

    # -- sync --------------------------------------------------------------------------------

    def get(
        self, input: str | None = None, initial_token_count: int = 0, **kwargs: Any
    ) -> list[ChatMessage]:
        """The recent history that fits the token limit (one read once the session is known)."""
        stored: list[ChatMessage] = []
        if self._guard.check_read(self.user_id, self.session_id):
            lastn = None if self.last_n is None else max(self.last_n - len(self._pending), 1)
            raw = (
                self._guard.history(self.session_id)
                if lastn is None
                else self._client.memory.get_messages(self.session_id, lastn)
            )
            stored = [from_zep_message(m) for m in raw]
        return self._window([*stored, *self._pending], initial_token_count)

    def get_all(self) -> list[ChatMessage]:
        """Every message of the session, oldest first (held user messages last)."""
        stored: list[ChatMessage] = []
        if self._guard.check_read(self.user_id, self.session_id):
            stored = [from_zep_message(m) for m in self._guard.history(self.session_id)]
        return [*stored, *self._pending]

    def put(self, message: ChatMessage) -> None:
        """Add a message (held if it is a user message, see the class doc)."""
        if not self._defer(message):
            self.put_messages([message])

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Add messages (and any held user message) in one ``add_messages`` call."""
        held = len(self._pending)
        batch = self._batch(_chat_messages(messages))
        if not batch:
            return
        self._guard.ensure_write(self.user_id, self.session_id, self.session_metadata)
        self._guard.append(self.session_id, batch)
        del self._pending[:held]

    def flush(self) -> None:
        """Write the held user messages now."""
        self.put_messages([])

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the history (soft-deletes the session and adds ``messages`` again)."""
        batch = [to_zep_message(m) for m in _chat_messages(messages)]
        self._guard.rewrite(
            self.user_id,
            self.session_id,
            batch,
            keep_session=False,
            metadata=self.session_metadata,
        )
        self._pending.clear()

    def reset(self) -> None:
        """Forget the history: soft-delete the session (and drop held messages)."""
        self._pending.clear()
        if self._guard.check_read(self.user_id, self.session_id):
            self._guard.delete(self.session_id)

    # -- async -------------------------------------------------------------------------------

    async def aget(
        self, input: str | None = None, initial_token_count: int = 0, **kwargs: Any
    ) -> list[ChatMessage]:
        """Async :meth:`get`."""
        stored: list[ChatMessage] = []
        if await self._guard.acheck_read(self.user_id, self.session_id):
            lastn = None if self.last_n is None else max(self.last_n - len(self._pending), 1)
            raw = (
                await self._guard.ahistory(self.session_id)
                if lastn is None
                else await self._client.memory.aget_messages(self.session_id, lastn)
            )
            stored = [from_zep_message(m) for m in raw]
        return self._window([*stored, *self._pending], initial_token_count)

    async def aget_all(self) -> list[ChatMessage]:
        """Async :meth:`get_all`."""
        stored: list[ChatMessage] = []
        if await self._guard.acheck_read(self.user_id, self.session_id):
            stored = [from_zep_message(m) for m in await self._guard.ahistory(self.session_id)]
        return [*stored, *self._pending]

    async def aput(self, message: ChatMessage) -> None:
        """Async :meth:`put`."""
        if not self._defer(message):
            await self.aput_messages([message])

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`put_messages`."""
        held = len(self._pending)
        batch = self._batch(_chat_messages(messages))
        if not batch:
            return
        await self._guard.aensure_write(self.user_id, self.session_id, self.session_metadata)
        await self._guard.aappend(self.session_id, batch)
        del self._pending[:held]  # only those written: others may have been put meanwhile

    async def aflush(self) -> None:
        """Async :meth:`flush`."""
        await self.aput_messages([])

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`set`."""
        batch = [to_zep_message(m) for m in _chat_messages(messages)]
        await self._guard.arewrite(
            self.user_id,
            self.session_id,
            batch,
            keep_session=False,
            metadata=self.session_metadata,
        )
        self._pending.clear()

    async def areset(self) -> None:
        """Async :meth:`reset`."""
        self._pending.clear()
        if await self._guard.acheck_read(self.user_id, self.session_id):
            await self._guard.adelete(self.session_id)
