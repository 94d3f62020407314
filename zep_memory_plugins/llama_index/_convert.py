"""Lossless conversion between LlamaIndex ``ChatMessage`` and Zep messages.

A ``ChatMessage`` becomes a Zep :class:`~zep_memory_plugins.Message` that reads naturally to any
other Zep consumer (``role``, ``role_type`` and plain-text ``content``) and carries the whole
serialised ``ChatMessage`` (``model_dump(mode="json")``: role, content blocks, additional_kwargs
with tool calls and tool results) under :data:`LLAMA_INDEX_MESSAGE_KEY` in its metadata, packed
as one JSON string (kept exactly by every backend), so that what comes back compares equal to
what went in.
"""

from __future__ import annotations

import copy as _copy
from typing import Any

from llama_index.core.base.llms.types import TextBlock
from llama_index.core.llms import ChatMessage, MessageRole
from pydantic import BaseModel

from .._context import STATUS_KEY
from .._errors import BackendError, InvalidInputError
from .._models import (
    Message,
    build_trusted,
    check_json_value,
    loads_json,
    model_slots,
    new_message,
    pack_json,
    plain_model,
    unpack_json,
)

__all__ = [
    "LLAMA_INDEX_MESSAGE_KEY",
    "LLAMA_INDEX_STATUS_KEY",
    "from_zep_message",
    "hand_out",
    "hand_out_all",
    "rebuild_chat_message",
    "role_type_of",
    "to_zep_message",
]

#: Reserved key of a Zep message's metadata holding the full LlamaIndex ``ChatMessage`` as
#: ``ChatMessage.model_dump(mode="json")`` produces it, packed as a JSON string (earlier releases
#: stored the object itself; both are read). Do not write your own metadata under it.
LLAMA_INDEX_MESSAGE_KEY = "llama_index_message"

#: Reserved metadata key holding a message's ``MessageStatus`` (``"active"`` / ``"archived"``)
#: as written by :class:`~zep_memory_plugins.llama_index.ZepDBChatStore`. Absent means active.
LLAMA_INDEX_STATUS_KEY = STATUS_KEY

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
    # Checked as Message(...) checks it, without a second walk over what is known plain.
    return new_message(
        message.role.value, role_type_of(message.role), message.content or "", metadata
    )


def from_zep_message(message: Message) -> ChatMessage:
    """Convert a Zep message back into the ``ChatMessage`` it was made from.

    A message written by someone else (no :data:`LLAMA_INDEX_MESSAGE_KEY`) is rebuilt from its
    ``role_type`` (``norole``: from ``role`` when that is a LlamaIndex role, else ``user``) and
    its text. An unreadable :data:`LLAMA_INDEX_MESSAGE_KEY` entry raises
    :class:`~zep_memory_plugins.BackendError`.

    What the library stored is a validated message's dump: it is built back without validating
    it again where its shape is the plain one (see :func:`rebuild_chat_message`); anything else
    goes through LlamaIndex's validation.
    """
    metadata = message.metadata or {}
    if LLAMA_INDEX_MESSAGE_KEY in metadata:
        entry = metadata[LLAMA_INDEX_MESSAGE_KEY]
        try:
            if type(entry) is str:  # decoded afresh: the rebuilt message may own it
                return rebuild_chat_message(loads_json(entry))
            return ChatMessage.model_validate(unpack_json(entry))  # an earlier release's object
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


_ROLES_BY_VALUE = {role.value: role for role in MessageRole}
_MESSAGE_FIELDS = tuple(ChatMessage.model_fields)
_TEXT_FIELDS = tuple(TextBlock.model_fields)
_PLAIN = (
    plain_model(ChatMessage)
    and plain_model(TextBlock)
    and ChatMessage.model_config.get("extra", "ignore") == "ignore"
    and TextBlock.model_config.get("extra", "ignore") == "ignore"
)
# The fields sets of the messages and blocks built here, each shared by all of them: every
# field is set, and with no extra fields allowed pydantic only ever adds a field's name to it
# (on assignment; a copy copies it first), so it never changes. A set each would be a sixth of
# a whole read.
_MESSAGE_SET = set(_MESSAGE_FIELDS)
_TEXT_SET = set(_TEXT_FIELDS)


def rebuild_chat_message(stored: Any) -> ChatMessage:
    """``ChatMessage.model_validate(stored)``, without validating a validated dump again.

    ``stored`` is what ``ChatMessage.model_dump(mode="json")`` made of a message, decoded
    afresh: the message built may keep its dicts and lists as its own. When it holds exactly
    the fields of a ``ChatMessage`` in order, a role LlamaIndex knows, a dict of extra fields
    without the legacy ``images`` (which validation turns into blocks), and text blocks only,
    the message is built from them as they are: equal to what validation builds, and behaving
    the same (every field set, properties and assignments as usual). Anything else (images,
    audio, documents, tool calls as blocks...) is validated by LlamaIndex, as it always was.
    """
    if _PLAIN and type(stored) is dict and tuple(stored) == _MESSAGE_FIELDS:
        role = _ROLES_BY_VALUE.get(stored["role"]) if type(stored["role"]) is str else None
        extra, blocks = stored["additional_kwargs"], stored["blocks"]
        if (
            role is not None
            and type(extra) is dict
            and "images" not in extra
            and type(blocks) is list
            and all(_plain_text_block(block) for block in blocks)
        ):
            built = [build_trusted(TextBlock, block, _TEXT_SET, None) for block in blocks]
            values = {"role": role, "additional_kwargs": extra, "blocks": built}
            return build_trusted(ChatMessage, values, _MESSAGE_SET, None)
    return ChatMessage.model_validate(stored)


def _plain_text_block(block: Any) -> bool:
    return (
        type(block) is dict
        and tuple(block) == _TEXT_FIELDS
        and block["block_type"] == "text"
        and type(block["text"]) is str
    )


def hand_out(message: ChatMessage) -> ChatMessage:
    """A copy of a decoded message to give a caller, so that what it changes stays its own.

    The message, its extra fields (deeply) and its list of blocks are copied, and so are its text
    blocks (other blocks are shared, as in ``model_copy``): a caller may edit what it gets
    without changing what the history cache holds for the next read. LlamaIndex's agents do:
    they write their state into the last message's text block in place.
    """
    if message.__pydantic_fields_set__ is not _MESSAGE_SET:
        return message.model_copy(
            update={
                "blocks": [_copy_block(b) for b in message.blocks],
                "additional_kwargs": _own_extra(message.additional_kwargs),
            }
        )
    values = message.__dict__
    blocks = [_copy_block(b) for b in values["blocks"]]
    extra = _own_extra(values["additional_kwargs"])
    copied = {"role": values["role"], "additional_kwargs": extra, "blocks": blocks}
    return build_trusted(ChatMessage, copied, _MESSAGE_SET, None)


def _own_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """A copy of a message's extra fields sharing nothing a caller could edit in place.

    Deep: extra fields hold JSON (nested dicts and lists); most messages have none.
    """
    return _copy.deepcopy(extra) if extra else {}


def _copy_block(block: Any) -> Any:
    if type(block) is TextBlock and block.__pydantic_fields_set__ is _TEXT_SET:
        return build_trusted(TextBlock, block.__dict__.copy(), _TEXT_SET, None)
    return block.model_copy() if isinstance(block, BaseModel) else block


def hand_out_all(messages: list[ChatMessage]) -> list[ChatMessage]:
    """``[hand_out(m) for m in messages]``, written out for a whole history.

    Messages and text blocks this module built (sharing its fields sets) are copied inline,
    through their slots; any other goes through :func:`hand_out`.
    """
    new, set_dict, set_fields, set_extra, set_private = model_slots()
    message_type, message_set, text_type, text_set = ChatMessage, _MESSAGE_SET, TextBlock, _TEXT_SET
    own_extra = _own_extra
    out: list[ChatMessage] = []
    append = out.append
    for message in messages:
        if message.__pydantic_fields_set__ is not message_set:
            append(hand_out(message))
            continue
        values = message.__dict__
        blocks = []
        for block in values["blocks"]:
            if type(block) is text_type and block.__pydantic_fields_set__ is text_set:
                copied = new(text_type)
                set_dict(copied, block.__dict__.copy())
                set_fields(copied, text_set)
                set_extra(copied, None)
                set_private(copied, None)
                blocks.append(copied)
            else:
                blocks.append(_copy_block(block))
        copy = new(message_type)
        set_dict(
            copy,
            {
                "role": values["role"],
                "additional_kwargs": own_extra(values["additional_kwargs"]),
                "blocks": blocks,
            },
        )
        set_fields(copy, message_set)
        set_extra(copy, None)
        set_private(copy, None)
        append(copy)
    return out
