"""Lossless conversion between LlamaIndex ``ChatMessage`` and Zep messages.

A ``ChatMessage`` becomes a Zep :class:`~zep_memory_plugins.Message` that reads naturally to any
other Zep consumer (``role``, ``role_type`` and plain-text ``content``) and carries the whole
serialised ``ChatMessage`` (``model_dump(mode="json")``: role, content blocks, additional_kwargs
with tool calls and tool results) under :data:`LLAMA_INDEX_MESSAGE_KEY` in its metadata, packed
as one JSON string (kept exactly by every backend), so that what comes back compares equal to
what went in.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.llms import ChatMessage, MessageRole

from .._errors import BackendError, InvalidInputError
from .._models import Message, check_json_value, pack_json, unpack_json

__all__ = [
    "LLAMA_INDEX_MESSAGE_KEY",
    "LLAMA_INDEX_STATUS_KEY",
    "from_zep_message",
    "role_type_of",
    "to_zep_message",
]

#: Reserved key of a Zep message's metadata holding the full LlamaIndex ``ChatMessage`` as
#: ``ChatMessage.model_dump(mode="json")`` produces it, packed as a JSON string (earlier releases
#: stored the object itself; both are read). Do not write your own metadata under it.
LLAMA_INDEX_MESSAGE_KEY = "llama_index_message"

#: Reserved metadata key holding a message's ``MessageStatus`` (``"active"`` / ``"archived"``)
#: as written by :class:`~zep_memory_plugins.llama_index.ZepDBChatStore`. Absent means active.
LLAMA_INDEX_STATUS_KEY = "llama_index_status"

# LlamaIndex roles that are Zep role types; every other role (developer, chatbot, model) is
# stored with role_type "norole" (its name stays in ``role``).
_ROLE_TYPES = {
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.SYSTEM: "system",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "function",
}
_ROLE_VALUES = {role.value for role in MessageRole}


def role_type_of(role: MessageRole) -> str:
    """The Zep role type of a LlamaIndex role: user/assistant/system/tool/function, else norole."""
    return _ROLE_TYPES.get(role, "norole")


def to_zep_message(message: ChatMessage, *, status: str | None = None) -> Message:
    """Convert a LlamaIndex ``ChatMessage`` into a Zep message, losslessly.

    ``role`` is the LlamaIndex role (``"user"``, ``"assistant"``, ``"tool"``...), ``role_type``
    its Zep role type (:func:`role_type_of`), ``content`` the text of the message's text blocks.
    The full message goes under :data:`LLAMA_INDEX_MESSAGE_KEY`; ``status`` (if given) under
    :data:`LLAMA_INDEX_STATUS_KEY`.

    Raises :class:`~zep_memory_plugins.InvalidInputError` if ``message`` is not a
    ``ChatMessage`` or holds something JSON cannot carry exactly: in ``additional_kwargs``, sets,
    frozensets, tuples, bytes, datetimes, enums, non-string keys, NaN and infinities are
    refused (naming the key) rather than stored changed. Objects in ``additional_kwargs`` that
    are pydantic models are stored as their dicts (as LlamaIndex's own SQL store does) and come
    back as dicts.
    """
    if not isinstance(message, ChatMessage):
        raise InvalidInputError(
            f"expected a LlamaIndex ChatMessage, not {type(message).__name__}", field="messages"
        )
    # Refuse what JSON would give back changed (sets, tuples, bytes, datetimes, NaN, int keys)
    # rather than store it and hand back something else.
    # Packed in one JSON string: 64-bit ids and whole floats survive on every backend.
    check_json_value(
        message.additional_kwargs, "additional_kwargs", exact=True, allow_models=True, packed=True
    )
    try:
        dumped = message.model_dump(mode="json")
    except Exception as exc:  # pydantic's PydanticSerializationError and friends
        raise InvalidInputError(
            f"the ChatMessage cannot be serialised to JSON ({type(exc).__name__}); "
            "additional_kwargs must hold JSON-serialisable values",
            field="messages",
        ) from None
    metadata: dict[str, Any] = {LLAMA_INDEX_MESSAGE_KEY: pack_json(dumped)}
    if status is not None:
        metadata[LLAMA_INDEX_STATUS_KEY] = status
    return Message(
        role=message.role.value,
        role_type=role_type_of(message.role),
        content=message.content or "",
        metadata=metadata,
    )


def from_zep_message(message: Message) -> ChatMessage:
    """Convert a Zep message back into the ``ChatMessage`` it was made from.

    A message written by someone else (no :data:`LLAMA_INDEX_MESSAGE_KEY`) is rebuilt from its
    ``role_type`` (``norole``: from ``role`` when that is a LlamaIndex role, else ``user``) and
    its text. An unreadable :data:`LLAMA_INDEX_MESSAGE_KEY` entry raises
    :class:`~zep_memory_plugins.BackendError`.
    """
    metadata = message.metadata or {}
    if LLAMA_INDEX_MESSAGE_KEY in metadata:
        try:
            return ChatMessage.model_validate(unpack_json(metadata[LLAMA_INDEX_MESSAGE_KEY]))
        except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise BackendError(
                f"stored message {message.uuid} has an unreadable {LLAMA_INDEX_MESSAGE_KEY!r} "
                f"entry in its metadata ({type(exc).__name__})"
            ) from None
    if message.role_type != "norole":
        role = MessageRole(message.role_type)
    elif message.role in _ROLE_VALUES:
        role = MessageRole(message.role)
    else:
        role = MessageRole.USER
    return ChatMessage(role=role, content=message.content)
