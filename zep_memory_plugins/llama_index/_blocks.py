"""``ZepSessionsBlock``: a ``Memory`` block recalling a user's other Zep sessions."""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import LLM, ChatMessage
from llama_index.core.memory.memory import BaseMemoryBlock
from llama_index.core.utils import get_tokenizer

from .._client import ZepMemoryClient
from .._context import (
    Fold,
    Summary,
    is_summary,
    plan_fold,
    split_summary,
    summary_book,
    summary_message,
    transcript_line,
    window_start,
    zep_shape,
)
from .._duplex import Plan, arun, call
from .._errors import InvalidInputError, NotFoundError
from .._models import check_id
from .._session_guard import check_client, guard_for
from ._memory import chat_text

__all__ = ["ZepSessionsBlock", "ZepSummaryBlock"]


class ZepSessionsBlock(BaseMemoryBlock[str]):
    """A memory block with the user's other recent sessions: their metadata and last messages.

    Add it to ``Memory.from_defaults(memory_blocks=[ZepSessionsBlock(client=..., user_id=...)])``;
    the session ``Memory`` is working on is left out. Each session shows whole turns only (its
    last messages never start on a reply or a tool result). Each ``Memory.get`` costs one
    ``get_sessions`` read plus one ``get_messages`` read per session shown (none when
    ``messages_per_session`` is 0). It reads only: messages flushed out of the short-term queue
    are not sent to it.
    """

    name: str = Field(default="zep_sessions", description="The name of the memory block.")
    user_id: str = Field(description="The user whose sessions are recalled.")
    max_sessions: int = Field(default=3, ge=0, description="Most recent sessions shown.")
    messages_per_session: int = Field(default=4, ge=0, description="Last messages shown of each.")
    accept_short_term_memory: bool = Field(default=False)
    _client: ZepMemoryClient = PrivateAttr()

    def __init__(self, client: ZepMemoryClient, user_id: str, **kwargs: Any) -> None:
        """Bind the block to ``client`` and ``user_id``."""
        client = check_client(client)
        super().__init__(user_id=check_id(user_id, "user_id"), **kwargs)
        self._client = client

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        current = block_kwargs.get("session_id")
        try:
            # Straight to the client: the block shows each session's metadata and start time,
            # which the guard's user_sessions (ids only) does not keep; the listing is the
            # user's own, so it needs no ownership check.
            sessions = await self._client.user.aget_sessions(self.user_id)
        except NotFoundError:
            return ""
        others = [s for s in sessions if s.session_id != current and s.session_id is not None]
        if not self.max_sessions:
            return ""
        parts: list[str] = []
        for session in reversed(others[-self.max_sessions :]):
            assert session.session_id is not None
            header = f"Session {session.session_id}"
            if session.created_at is not None:
                header += f" (started {session.created_at.isoformat(timespec='minutes')})"
            lines = [header]
            if session.metadata:
                lines.append("metadata: " + json.dumps(session.metadata, ensure_ascii=False))
            if self.messages_per_session:
                # A windowed read through the shared history cache (these sessions are the
                # user's, listed just above: no ownership check to make).
                recent = await guard_for(self._client).cache.aread(
                    session.session_id, self.messages_per_session
                )
                whole = len(recent) < self.messages_per_session
                recent = [m for m in recent if not is_summary(m)]
                # whole turns only: never a reply (or a tool result) without what it answers
                start = window_start([zep_shape(m) for m in recent], None, whole=whole)
                lines += [f"{m.role or m.role_type}: {m.content}" for m in recent[start:]]
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Nothing to store: the sessions themselves are the memory."""


class ZepSummaryBlock(BaseMemoryBlock[str]):
    """A ``Memory`` block keeping a rolling summary of what ``Memory`` flushes, stored in Zep.

    ``Memory`` moves its oldest turns out of the short-term queue when it outgrows
    ``token_limit * chat_history_token_ratio`` (at least ``token_flush_size`` at a time, whole
    turns); this block folds them, with the app's ``llm``, into a summary that extends the
    previous one, and stores it in the session (a marked message, as ``ZepMemory`` does). The
    summary goes to the model inside the memory-block section ``Memory`` puts at the front (its
    system message with ``insert_method="system"``). It is read from the session the first
    time, then known: ``ZepDBChatStore`` hands over the summary it sees in its own reads, so a
    turn costs no extra read. A cleared or deleted session has no summary.

    ``max_tokens`` bounds the summary (default 500) and every summarising request.
    """

    name: str = Field(default="zep_summary", description="The name of the memory block.")
    user_id: str = Field(description="The user owning the sessions summarised.")
    llm: LLM = Field(description="The model that writes the summary (the app's own).", exclude=True)
    max_tokens: int = Field(default=500, gt=0, description="Longest summary kept, in tokens.")
    request_tokens: int = Field(
        default=4000, gt=0, description="Largest summarising request, in tokens."
    )
    accept_short_term_memory: bool = Field(default=True)
    tokenizer_fn: Any = Field(default_factory=get_tokenizer, exclude=True)
    _client: ZepMemoryClient = PrivateAttr()

    def __init__(self, client: ZepMemoryClient, user_id: str, llm: LLM, **kwargs: Any) -> None:
        """Bind the block to ``client``, ``user_id`` and the summarising ``llm``."""
        client = check_client(client)
        if not isinstance(llm, LLM):
            raise InvalidInputError(
                f"llm must be a LlamaIndex LLM, not {type(llm).__name__}", field="llm"
            )
        try:
            super().__init__(user_id=check_id(user_id, "user_id"), llm=llm, **kwargs)
        except ValueError as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"invalid ZepSummaryBlock: {exc}") from None
        self._client = client

    async def _summary(self, session_id: str) -> Summary | None:
        book = summary_book(self._client)
        known, summary = book.lookup(session_id)
        if known:
            return summary
        # The whole history through the shared history cache (held for the next turn too).
        summary = split_summary(await guard_for(self._client).aread(self.user_id, session_id))[0]
        book.seen(session_id, summary)
        return summary

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        session_id = block_kwargs.get("session_id")
        if not isinstance(session_id, str):
            return ""
        summary = await self._summary(session_id)
        return summary.text if summary is not None else ""

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Fold the flushed ``messages`` into the session's summary and store it."""
        if not messages:
            return
        session_id = messages[0].additional_kwargs.get("session_id")
        if not isinstance(session_id, str):
            return
        previous = await self._summary(session_id)
        lines = [transcript_line(str(m.role.value), chat_text(m)) for m in messages]
        llm = self.llm

        def ask(system: str, user: str) -> Plan[str]:
            chat = [ChatMessage(role="system", content=system), ChatMessage(content=user)]
            reply = yield call(llm, "chat", chat)
            return str(reply.message.content or "")

        def request_fits(system: str, user: str) -> bool:
            size = len(self.tokenizer_fn(system)) + len(self.tokenizer_fn(user))
            return size <= self.request_tokens

        # What it covers is what Memory archived (ZepDBChatStore's statuses), not a message
        # boundary: "through" stays empty, so another adapter shows it with every message.
        fold = Fold(previous.text if previous else None, lines, "")
        summary = await arun(
            plan_fold(
                fold,
                ask,
                request_fits=request_fits,
                summary_fits=lambda t: len(self.tokenizer_fn(t)) <= self.max_tokens,
                words=max(self.max_tokens * 3 // 4, 1),
            )
        )
        write = guard_for(self._client).plan_write
        await arun(write(self.user_id, session_id, [summary_message(summary)]))
        summary_book(self._client).seen(session_id, summary)
