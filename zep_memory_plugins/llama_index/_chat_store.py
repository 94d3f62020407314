"""``ZepChatStore``: a LlamaIndex ``BaseChatStore`` whose keys are one user's Zep sessions."""

from __future__ import annotations

from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store import BaseChatStore

from .._context import is_summary
from .._errors import InvalidInputError
from .._models import check_id
from ._bound import UserBoundStore
from ._convert import from_zep_message, to_zep_message

__all__ = ["ZepChatStore"]


def _messages(messages: object) -> list[ChatMessage]:
    if not isinstance(messages, (list, tuple)):
        raise InvalidInputError(
            f"messages must be a list of ChatMessage, not {type(messages).__name__}",
            field="messages",
        )
    return list(messages)


def _index(idx: object) -> int:
    if isinstance(idx, bool) or not isinstance(idx, int):
        raise InvalidInputError(f"idx must be an int, not {type(idx).__name__}", field="idx")
    return idx


class ZepChatStore(UserBoundStore, BaseChatStore):
    """A ``BaseChatStore`` on Zep (or the embedded store) whose keys are session ids of one user.

    Sessions are created for ``user_id`` (and the user too) on the first write; a key that is a
    session of another user raises :class:`~zep_memory_plugins.SessionOwnershipError`.
    ``get_keys`` lists the user's live sessions. Every method has a native async twin under the
    name ``BaseChatStore`` uses (``aget_messages``, ``async_add_message``, ...).

    Zep cannot delete single messages: ``set_messages``, ``delete_message`` and
    ``delete_last_message`` soft-delete the session and add the kept messages again (one read,
    one delete, one add; the kept messages get new Zep uuids). ``delete_messages`` soft-deletes
    the session, which then leaves ``get_keys``. A rolling summary stored in the session (see
    ``ZepMemory``) is not one of its messages. Use it under LlamaIndex memory with
    ``ChatMemoryBuffer.from_defaults(chat_store=store, chat_store_key=session_id)``.
    """

    @classmethod
    def class_name(cls) -> str:
        """Name of the class, for LlamaIndex serialisation."""
        return "ZepChatStore"

    # -- sync --------------------------------------------------------------------------------

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the session's messages (soft delete + re-add; an empty list keeps the key)."""
        check_id(key, "key")
        batch = [to_zep_message(m) for m in _messages(messages)]
        self._guard.rewrite(
            self.user_id, key, batch, keep_session=True, metadata=self.session_metadata
        )

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The session's messages, oldest first ([] for an unknown or deleted session)."""
        check_id(key, "key")
        if not self._guard.check_read(self.user_id, key):
            return []
        return [from_zep_message(m) for m in self._guard.history(key) if not is_summary(m)]

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Append a message (one write once the session is known)."""
        check_id(key, "key")
        batch = [to_zep_message(message)]
        self._guard.ensure_write(self.user_id, key, self.session_metadata)
        self._guard.append(key, batch)

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Soft-delete the session and return its messages (``None`` if there is no session)."""
        messages = self.get_messages(key)
        return messages if self._guard.delete(key) else None

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Remove and return the message at ``idx`` (``None`` if out of range)."""
        idx = _index(idx)
        messages = self.get_messages(key)
        if not -len(messages) <= idx < len(messages):
            return None
        removed = messages.pop(idx)
        self._guard.rewrite(
            self.user_id, key, [to_zep_message(m) for m in messages], keep_session=True
        )
        return removed

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Remove and return the last message (``None`` if there is none)."""
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        """The ids of the user's live sessions, oldest first."""
        return self._guard.user_sessions(self.user_id)

    # -- async -------------------------------------------------------------------------------

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Async :meth:`set_messages`."""
        check_id(key, "key")
        batch = [to_zep_message(m) for m in _messages(messages)]
        await self._guard.arewrite(
            self.user_id, key, batch, keep_session=True, metadata=self.session_metadata
        )

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        """Async :meth:`get_messages`."""
        check_id(key, "key")
        if not await self._guard.acheck_read(self.user_id, key):
            return []
        return [from_zep_message(m) for m in await self._guard.ahistory(key) if not is_summary(m)]

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        """Async :meth:`add_message`."""
        check_id(key, "key")
        batch = [to_zep_message(message)]
        await self._guard.aensure_write(self.user_id, key, self.session_metadata)
        await self._guard.aappend(key, batch)

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async :meth:`delete_messages`."""
        messages = await self.aget_messages(key)
        return messages if await self._guard.adelete(key) else None

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async :meth:`delete_message`."""
        idx = _index(idx)
        messages = await self.aget_messages(key)
        if not -len(messages) <= idx < len(messages):
            return None
        removed = messages.pop(idx)
        await self._guard.arewrite(
            self.user_id, key, [to_zep_message(m) for m in messages], keep_session=True
        )
        return removed

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async :meth:`delete_last_message`."""
        return await self.adelete_message(key, -1)

    async def aget_keys(self) -> list[str]:
        """Async :meth:`get_keys`."""
        return await self._guard.auser_sessions(self.user_id)
