"""LangChain messages read back are built without a second validation: they are what it builds.

The history stores ``message_to_dict(message)`` of a validated message; reading it back builds
the message straight from that dump where it has the plain shape a validated message dumps
(``rebuild_message``), and through LangChain's validation otherwise. These tests hold both ways
to the validated message: equal, dumping, copying and pickling the same, with the same fields
set, assignments working, and each read's messages the caller's own.
"""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_strategies import PACKED_VALUE, TEXT
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
from test_langchain_history import every_message_type

from zep_memory_plugins import BackendError, InvalidInputError, Message, ZepMemoryClient
from zep_memory_plugins._models import new_message
from zep_memory_plugins.langchain import ZepChatMessageHistory, _convert
from zep_memory_plugins.langchain._convert import (
    LANGCHAIN_MESSAGE_KEY,
    from_zep_message,
    rebuild_message,
    to_zep_message,
)

_extra = st.dictionaries(TEXT, PACKED_VALUE, max_size=3)
_ids = st.none() | TEXT
_content = TEXT | st.lists(
    TEXT | st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}), max_size=3
)
_calls = st.lists(
    st.fixed_dictionaries(
        {"name": TEXT, "args": st.dictionaries(TEXT, PACKED_VALUE, max_size=2), "id": _ids}
    ),
    max_size=2,
)
_usage = st.none() | st.builds(
    lambda i, o: {"input_tokens": i, "output_tokens": o, "total_tokens": i + o},
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)
_messages = st.one_of(
    st.builds(HumanMessage, content=_content, name=_ids, id=_ids, additional_kwargs=_extra),
    st.builds(SystemMessage, content=_content, id=_ids, response_metadata=_extra),
    st.builds(
        AIMessage,
        content=_content,
        id=_ids,
        name=_ids,
        tool_calls=_calls,
        usage_metadata=_usage,
        response_metadata=_extra,
    ),
    st.builds(
        ToolMessage,
        content=_content,
        tool_call_id=TEXT,
        status=st.sampled_from(["success", "error"]),
        artifact=PACKED_VALUE,
    ),
    st.builds(FunctionMessage, content=_content, name=TEXT),
    st.builds(ChatMessage, content=_content, role=TEXT),
)


def _validated(message: BaseMessage) -> BaseMessage:
    """What LangChain's own validation builds of the message's stored dump."""
    return messages_from_dict([json.loads(json.dumps(message_to_dict(message)))])[0]


def _check_like_validated(built: BaseMessage, validated: BaseMessage) -> None:
    assert type(built) is type(validated)
    assert built == validated and validated == built
    assert built.model_dump() == validated.model_dump()
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert built.model_fields_set == validated.model_fields_set
    assert built.__pydantic_extra__ == validated.__pydantic_extra__
    assert built.__pydantic_private__ == validated.__pydantic_private__
    assert repr(built) == repr(validated)
    assert built.text == validated.text
    assert message_to_dict(built) == message_to_dict(validated)
    for copied in (
        copy.copy(built),
        copy.deepcopy(built),
        built.model_copy(),
        pickle.loads(pickle.dumps(built)),
    ):
        assert copied == validated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=_messages)
def test_a_rebuilt_message_is_what_validation_builds(message):
    stored = to_zep_message(message)
    built = from_zep_message(stored)
    _check_like_validated(built, _validated(message))
    assert built == message


def test_every_message_type_rebuilds_as_validation_does(monkeypatch):
    built_fast: list[str] = []
    real = _convert.build_trusted

    def counted(model, *args):
        built_fast.append(model.__name__)
        return real(model, *args)

    monkeypatch.setattr(_convert, "build_trusted", counted)
    for message in every_message_type():
        stored = json.loads(json.dumps(message_to_dict(message)))
        _check_like_validated(rebuild_message(stored), _validated(message))
    # the plain ones went the fast way (the rest were validated): one of each kind at least
    assert len(built_fast) >= 8, built_fast
    kinds = {"HumanMessage", "AIMessage", "SystemMessage", "ToolMessage", "ChatMessage"}
    assert kinds <= set(built_fast), built_fast


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["data"].update(extra_field=1),  # an extra field: validation keeps it
        lambda d: d["data"].update(content=5),  # not text: validation refuses it
        lambda d: d["data"].update(id=7),  # a number id: validation makes it a string
        lambda d: d["data"].update(tool_call_id=3) if d["type"] == "tool" else None,
        lambda d: d["data"].pop("name"),  # a field missing: validation defaults it
        lambda d: d["data"].update(type="system") if d["type"] == "human" else None,
    ],
)
def test_a_dump_that_is_not_plain_goes_through_validation(change):
    for message in every_message_type():
        stored = json.loads(json.dumps(message_to_dict(message)))
        change(stored)
        try:
            expected: Any = messages_from_dict([copy.deepcopy(stored)])[0]
        except (TypeError, ValueError, KeyError) as exc:
            with pytest.raises(type(exc)):
                rebuild_message(stored)
        else:
            _check_like_validated(rebuild_message(stored), expected)


def test_an_ai_message_whose_raw_tool_calls_validation_would_parse_is_validated():
    raw = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    stored = json.loads(json.dumps(message_to_dict(AIMessage("x"))))
    stored["data"]["additional_kwargs"] = {"tool_calls": raw}
    built = rebuild_message(stored)
    assert built.tool_calls == [{"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"}]


@pytest.mark.parametrize(
    "packed",
    [
        json.dumps({"type": "human", "data": {"content": 5}}),
        json.dumps({"type": "human", "data": []}),
        '{"type": "human", "data": {"content": "x"',  # cut short
        json.dumps(["not", "a", "dump"]),
    ],
)
def test_a_damaged_packed_copy_is_a_backend_error(packed):
    stored = Message(role="user", content="x", metadata={LANGCHAIN_MESSAGE_KEY: packed})
    with pytest.raises(BackendError, match=LANGCHAIN_MESSAGE_KEY):
        from_zep_message(stored)


def test_ids_assigned_in_place_never_reach_the_next_read(client: ZepMemoryClient) -> None:
    """LangGraph gives id-less messages ids in place: each read hands those out as copies."""
    sent = every_message_type()
    ZepChatMessageHistory(session_id="s", user_id="u", client=client).add_messages(sent)
    history = ZepChatMessageHistory(session_id="s", user_id="u", client=client)
    first = history.messages
    for message in first:
        if message.id is None:
            message.id = "assigned-in-place"
    history.refresh()
    again = history.messages
    assert again == sent
    assert [m.id for m in again] == [m.id for m in sent]


_texts = st.one_of(
    TEXT,
    st.text(max_size=10),  # NUL characters and lone surrogates included
    st.just("x" * 4097),
    st.integers(),
    st.none(),
)


@settings(max_examples=300, deadline=None)
@given(
    role=_texts,
    role_type=st.sampled_from(["user", "assistant", "norole", "martian", None]),
    content=_texts,
    metadata=st.none()
    | st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers(), max_size=3),
)
def test_new_message_checks_what_validation_checks(role, role_type, content, metadata):
    try:
        expected: Any = Message(role=role, role_type=role_type, content=content, metadata=metadata)
    except InvalidInputError as exc:
        with pytest.raises(InvalidInputError) as info:
            new_message(role, role_type, content, metadata)
        assert (info.value.message, info.value.field) == (exc.message, exc.field)
    else:
        built = new_message(role, role_type, content, metadata)
        assert built == expected and built.model_dump() == expected.model_dump()


def test_new_message_refuses_what_the_value_rule_refuses():
    for bad in ("nul \x00", "lone \ud800", "x" * 2_000_001):
        with pytest.raises(InvalidInputError, match="content"):
            new_message("user", "user", bad, None)
    with pytest.raises(InvalidInputError, match="role"):
        new_message("nul \x00", "user", "x", None)
    with pytest.raises(InvalidInputError, match="metadata"):
        new_message("user", "user", "x", {"k": "lone \udc00"})
