"""``ZepSessionsBlock``: a ``Memory`` block recalling a user's other Zep sessions."""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import ChatMessage
from llama_index.core.memory.memory import BaseMemoryBlock

from .._client import ZepMemoryClient
from .._errors import NotFoundError
from .._models import check_id
from .._session_guard import check_client

__all__ = ["ZepSessionsBlock"]


class ZepSessionsBlock(BaseMemoryBlock[str]):
    """A memory block with the user's other recent sessions: their metadata and last messages.

    Add it to ``Memory.from_defaults(memory_blocks=[ZepSessionsBlock(client=..., user_id=...)])``;
    the session ``Memory`` is working on is left out. Each ``Memory.get`` costs one
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
                recent = await self._client.memory.aget_messages(
                    session.session_id, self.messages_per_session
                )
                lines += [f"{m.role or m.role_type}: {m.content}" for m in recent]
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Nothing to store: the sessions themselves are the memory."""
