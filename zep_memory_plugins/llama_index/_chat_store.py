"""``ZepChatStore``: a LlamaIndex ``BaseChatStore`` whose keys are one user's Zep sessions."""

from __future__ import annotations

from llama_index.core.llms import ChatMessage
from llama_index.core.storage.chat_store import BaseChatStore

from .._context import split_summary
from .._duplex import Plan, arun, run
from .._errors import InvalidInputError
from .._models import building_many, check_id
from ._bound import UserBoundStore
from ._convert import LLAMA_INDEX_MESSAGE_KEY, from_zep_message, hand_out_all, to_zep_message

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

    # -- each operation once, as a plan (see ``zep_memory_plugins._duplex``) -----------------

    def _plan_set(self, key: str, messages: list[ChatMessage]) -> Plan[None]:
        check_id(key, "key")
        batch = [to_zep_message(m) for m in _messages(messages)]
        yield from self._guard.plan_rewrite(
            self.user_id, key, batch, keep_session=True, metadata=self.session_metadata
        )

    def _plan_get(self, key: str) -> Plan[list[ChatMessage]]:
        stored = yield from self._guard.plan_read(self.user_id, check_id(key, "key"))
        with building_many:  # a whole history's worth of objects (see building_many)
            # Conversions are reused across reads (the history cache keeps them); the caller
            # gets copies, so that what it changes stays its own.
            conversation = split_summary(stored)[1]  # a summary is not one of its messages
            decoded = self._guard.cache.decode(
                key, conversation, LLAMA_INDEX_MESSAGE_KEY, from_zep_message
            )
            return hand_out_all(decoded)

    def _plan_add(self, key: str, message: ChatMessage) -> Plan[None]:
        check_id(key, "key")
        batch = [to_zep_message(message)]
        yield from self._guard.plan_write(self.user_id, key, batch, self.session_metadata)

    def _plan_delete_all(self, key: str) -> Plan[list[ChatMessage] | None]:
        messages = yield from self._plan_get(key)
        return messages if (yield from self._guard.plan_delete(key)) else None

    def _plan_delete_one(self, key: str, idx: object) -> Plan[ChatMessage | None]:
        idx = _index(idx)
        messages = yield from self._plan_get(key)
        if not -len(messages) <= idx < len(messages):
            return None
        removed = messages.pop(idx)
        batch = [to_zep_message(m) for m in messages]
        yield from self._guard.plan_rewrite(self.user_id, key, batch, keep_session=True)
        return removed

    # -- sync --------------------------------------------------------------------------------

    def set_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Replace the session's messages (soft delete + re-add; an empty list keeps the key)."""
        run(self._plan_set(key, messages))

    def get_messages(self, key: str) -> list[ChatMessage]:
        """The session's messages, oldest first ([] for an unknown or deleted session)."""
        return run(self._plan_get(key))

    def add_message(self, key: str, message: ChatMessage) -> None:
        """Append a message (one write once the session is known)."""
        run(self._plan_add(key, message))

    def delete_messages(self, key: str) -> list[ChatMessage] | None:
        """Soft-delete the session and return its messages (``None`` if there is no session)."""
        return run(self._plan_delete_all(key))

    def delete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Remove and return the message at ``idx`` (``None`` if out of range)."""
        return run(self._plan_delete_one(key, idx))

    def delete_last_message(self, key: str) -> ChatMessage | None:
        """Remove and return the last message (``None`` if there is none)."""
        return self.delete_message(key, -1)

    def get_keys(self) -> list[str]:
        """The ids of the user's live sessions, oldest first."""
        return self._guard.user_sessions(self.user_id)

    # -- async -------------------------------------------------------------------------------

    async def aset_messages(self, key: str, messages: list[ChatMessage]) -> None:
        """Async :meth:`set_messages`."""
        await arun(self._plan_set(key, messages))

    async def aget_messages(self, key: str) -> list[ChatMessage]:
        """Async :meth:`get_messages`."""
        return await arun(self._plan_get(key))

    async def async_add_message(self, key: str, message: ChatMessage) -> None:
        """Async :meth:`add_message`."""
        await arun(self._plan_add(key, message))

    async def adelete_messages(self, key: str) -> list[ChatMessage] | None:
        """Async :meth:`delete_messages`."""
        return await arun(self._plan_delete_all(key))

    async def adelete_message(self, key: str, idx: int) -> ChatMessage | None:
        """Async :meth:`delete_message`."""
        return await arun(self._plan_delete_one(key, idx))

    async def adelete_last_message(self, key: str) -> ChatMessage | None:
        """Async :meth:`delete_last_message`."""
        return await self.adelete_message(key, -1)

    async def aget_keys(self) -> list[str]:
        """Async :meth:`get_keys`."""
        return await self._guard.auser_sessions(self.user_id)
