"""Lossless conversion between LangChain messages and Zep messages.

A LangChain message becomes a Zep :class:`~zep_memory_plugins.Message` that reads naturally to
any other Zep consumer (``role_type``, ``role`` and plain-text ``content``) and carries the whole
serialised LangChain message under :data:`LANGCHAIN_MESSAGE_KEY` in its metadata, packed as one
JSON string (every backend keeps a string exactly, 64-bit integers inside it included), so that
what comes back compares equal to what went in.
"""

from __future__ import annotations

import copy as _copy
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
    messages_from_dict,
)

from .._errors import BackendError, InvalidInputError
from .._models import (
    ROLE_TYPES,
    Message,
    build_trusted,
    check_json_value,
    check_text,
    loads_json,
    new_message,
    pack_json,
    plain_model,
    shallow_copy,
    unpack_json,
)

__all__ = [
    "LANGCHAIN_MESSAGE_KEY",
    "from_zep_message",
    "own_copy",
    "rebuild_message",
    "to_zep_message",
]

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
    text = message.text  # a str subclass in langchain-core 1.x; validation makes it a str
    # Checked as Message(...) checks it, without a second walk over what is known plain.
    return new_message(
        message.name or default_role,
        role_type,
        text if type(text) is str else str.__str__(text),
        {LANGCHAIN_MESSAGE_KEY: pack_json(message_to_dict(message))},
    )


def from_zep_message(message: Message) -> BaseMessage:
    """Convert a Zep message back into the LangChain message it was made from.

    A message written by someone else (no :data:`LANGCHAIN_MESSAGE_KEY`) is rebuilt from its
    ``role_type``: user → ``HumanMessage``, assistant → ``AIMessage``, system →
    ``SystemMessage``, anything else → ``ChatMessage`` with the Zep role; its ``id`` is the Zep
    message uuid. An unreadable :data:`LANGCHAIN_MESSAGE_KEY` entry raises
    :class:`~zep_memory_plugins.BackendError`.

    What the library stored is a validated message's dump: it is built back without validating
    it again where its shape is the plain one a validated message dumps (see
    :func:`rebuild_message`); anything else goes through LangChain's validation.
    """
    metadata = message.metadata or {}
    if LANGCHAIN_MESSAGE_KEY in metadata:
        entry = metadata[LANGCHAIN_MESSAGE_KEY]
        try:
            if type(entry) is str:  # decoded afresh: the rebuilt message may own it
                return rebuild_message(loads_json(entry))
            return messages_from_dict([unpack_json(entry)])[0]  # an earlier release's object
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


# The message classes rebuilt without validation, by type: (class, its fields in order).
_PLAIN: dict[str, tuple[type[BaseMessage], tuple[str, ...]]] = {
    cls.model_fields["type"].default: (cls, tuple(cls.model_fields))
    for cls in (HumanMessage, AIMessage, SystemMessage, ToolMessage, FunctionMessage, ChatMessage)
    if plain_model(cls) and cls.model_config.get("extra") == "allow"
}
_TOOL_CALL_KEYS = ("name", "args", "id", "type")


def rebuild_message(stored: Any) -> BaseMessage:
    """``messages_from_dict([stored])[0]``, without validating a validated message's dump again.

    ``stored`` is what :func:`langchain_core.messages.message_to_dict` made of a message,
    decoded afresh: the message built may keep its dicts and lists as its own. When
    its data holds exactly the fields of its type, in order, with the plain values a validated
    message has (text or a list of text and dicts as content, dicts of extra fields, string or
    ``None`` name and id, tool calls in their final form, no invalid tool calls; a tool
    message's call id a string and its status ``success`` or ``error``), the message is built
    from them as they are: equal to what validation builds, and behaving the same (every field
    set, assignments as usual). Anything else is validated by LangChain, as it always was.
    """
    if type(stored) is dict:
        kind = stored.get("type")
        plain = _PLAIN.get(kind) if type(kind) is str else None
        data = stored.get("data")
        if plain is not None and type(data) is dict:
            cls, names = plain
            if tuple(data) == names and data["type"] == kind and _plain_values(kind, data):
                return build_trusted(cls, data, set(names), {})
    return messages_from_dict([stored])[0]


def _plain_values(kind: str, data: dict[str, Any]) -> bool:
    content = data["content"]
    if type(content) is not str and not (
        type(content) is list and all(type(part) in (str, dict) for part in content)
    ):
        return False
    name, msg_id = data["name"], data["id"]
    if (
        type(data["additional_kwargs"]) is not dict
        or type(data["response_metadata"]) is not dict
        or (name is not None and type(name) is not str)
        or (msg_id is not None and type(msg_id) is not str)
    ):
        return False
    if kind == "ai":
        calls = data["tool_calls"]
        usage = data["usage_metadata"]
        return (
            type(calls) is list
            and data["invalid_tool_calls"] == []
            and (usage is None or type(usage) is dict)
            and all(_plain_tool_call(call) for call in calls)
            # with no tool calls, validation would parse the provider's raw ones
            and (bool(calls) or "tool_calls" not in data["additional_kwargs"])
        )
    if kind == "tool":
        return type(data["tool_call_id"]) is str and data["status"] in ("success", "error")
    if kind == "chat":
        return type(data["role"]) is str
    if kind == "function":
        return type(name) is str
    return True


def _plain_tool_call(call: Any) -> bool:
    """A tool call as validation leaves it: name, args, id and ``type: tool_call``."""
    return (
        type(call) is dict
        and tuple(call) == _TOOL_CALL_KEYS
        and call["type"] == "tool_call"
        and type(call["name"]) is str
        and type(call["args"]) is dict
        and (call["id"] is None or type(call["id"]) is str)
    )


def own_copy(message: BaseMessage) -> BaseMessage:
    """A copy of ``message`` that shares nothing a caller could change in place.

    Its fields' dicts and lists (``additional_kwargs``, ``response_metadata``, tool calls, a
    content block list, extra fields) are copied too, deeply: they hold JSON. Strings and
    ``None`` are shared (they cannot change).
    """
    copied = shallow_copy(message)
    for values in (copied.__dict__, copied.__pydantic_extra__ or {}):
        for name, value in values.items():
            kind = type(value)
            if kind is dict or kind is list:
                values[name] = _copy.deepcopy(value) if value else kind()
    return copied
