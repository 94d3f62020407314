"""Lossless conversion between LangChain messages and Zep messages.

A LangChain message becomes a Zep :class:`~zep_memory_plugins.Message` that reads naturally to
any other Zep consumer (``role_type``, ``role`` and plain-text ``content``) and carries the whole
serialised LangChain message under :data:`LANGCHAIN_MESSAGE_KEY` in its metadata, packed as one
JSON string (every backend keeps a string exactly, 64-bit integers inside it included), so that
what comes back compares equal to what went in.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    message_to_dict,
    messages_from_dict,
)

from .._errors import BackendError, InvalidInputError
from .._models import ROLE_TYPES, Message, check_json_value, check_text, pack_json, unpack_json

__all__ = ["LANGCHAIN_MESSAGE_KEY", "from_zep_message", "to_zep_message"]

#: Reserved key of a Zep message's metadata holding the full LangChain message, as produced by
#: ``langchain_core.messages.message_to_dict`` (``{"type": ..., "data": {...}}``), packed as a
#: JSON string (earlier releases stored the object itself; both are read). Do not write your
#: own metadata under this key.
LANGCHAIN_MESSAGE_KEY = "langchain_message"

# LangChain message type (chunks included) -> (Zep role_type, role when the message has no name)
_ROLES: dict[str, tuple[str, str]] = {
    "human": ("user", "human"),
    "HumanMessageChunk": ("user", "human"),
    "ai": ("assistant", "ai"),
    "AIMessageChunk": ("assistant", "ai"),
    "system": ("system", "system"),
    "SystemMessageChunk": ("system", "system"),
    "tool": ("tool", "tool"),
    "ToolMessageChunk": ("tool", "tool"),
    "function": ("function", "function"),
    "FunctionMessageChunk": ("function", "function"),
}
# Custom ChatMessage roles that name a Zep role type under LangChain's usual spelling.
_CHAT_ROLE_TYPES = {"human": "user", "ai": "assistant"}


def to_zep_message(message: BaseMessage) -> Message:
    """Convert a LangChain message into a Zep message, losslessly.

    ``role_type`` follows the message type (human → ``user``, ai → ``assistant``, system, tool,
    function; a ``ChatMessage`` maps its custom role when it is a Zep role type, else
    ``norole``). ``role`` is the message's ``name``, else its type (or a ``ChatMessage``'s custom
    role). ``content`` is the text (text blocks of a block list joined). The full message is
    kept under :data:`LANGCHAIN_MESSAGE_KEY` in ``metadata``.

    Raises :class:`~zep_memory_plugins.InvalidInputError` if ``message`` is not a LangChain
    message, its ``name`` is not valid text (a lone surrogate, over
    :data:`~zep_memory_plugins._models.MAX_TEXT_LENGTH` characters) or it holds something JSON
    cannot carry exactly (in ``additional_kwargs`` and ``response_metadata``: tuples, sets,
    bytes, datetimes... are refused, naming the key).
    """
    if not isinstance(message, BaseMessage):
        raise InvalidInputError(
            f"expected a LangChain BaseMessage, not {type(message).__name__}", field="messages"
        )
    if message.name is not None:
        check_text(message.name, "name")
    # What JSON would give back changed (tuples, sets, bytes...) is refused, not stored changed.
    # The copy travels packed in one JSON string: 64-bit ids and whole floats survive in it.
    check_json_value(message.additional_kwargs, "additional_kwargs", exact=True, packed=True)
    check_json_value(message.response_metadata, "response_metadata", exact=True, packed=True)
    if isinstance(message, ChatMessage) or message.type in ("chat", "ChatMessageChunk"):
        custom = str(getattr(message, "role", "") or "")
        role_type = custom if custom in ROLE_TYPES else _CHAT_ROLE_TYPES.get(custom, "norole")
        default_role = custom or "chat"
    else:
        role_type, default_role = _ROLES.get(message.type, ("norole", message.type))
    return Message(
        role=message.name or default_role,
        role_type=role_type,
        content=message.text,
        metadata={LANGCHAIN_MESSAGE_KEY: pack_json(message_to_dict(message))},
    )


def from_zep_message(message: Message) -> BaseMessage:
    """Convert a Zep message back into the LangChain message it was made from.

    A message written by someone else (no :data:`LANGCHAIN_MESSAGE_KEY`) is rebuilt from its
    ``role_type``: user → ``HumanMessage``, assistant → ``AIMessage``, system →
    ``SystemMessage``, anything else → ``ChatMessage`` with the Zep role; its ``id`` is the Zep
    message uuid. An unreadable :data:`LANGCHAIN_MESSAGE_KEY` entry raises
    :class:`~zep_memory_plugins.BackendError`.
    """
    metadata = message.metadata or {}
    if LANGCHAIN_MESSAGE_KEY in metadata:
        try:
            stored: Any = unpack_json(metadata[LANGCHAIN_MESSAGE_KEY])
            return messages_from_dict([stored])[0]
        except (TypeError, ValueError, KeyError) as exc:  # pydantic errors are ValueErrors
            raise BackendError(
                f"stored message {message.uuid} has an unreadable {LANGCHAIN_MESSAGE_KEY!r} "
                f"entry in its metadata ({type(exc).__name__})"
            ) from None
    msg_id = str(message.uuid) if message.uuid is not None else None
    name = message.role if message.role and message.role != message.role_type else None
    if message.role_type == "user":
        return HumanMessage(content=message.content, name=name, id=msg_id)
    if message.role_type == "assistant":
        return AIMessage(content=message.content, name=name, id=msg_id)
    if message.role_type == "system":
        return SystemMessage(content=message.content, name=name, id=msg_id)
    return ChatMessage(content=message.content, role=message.role or message.role_type, id=msg_id)
