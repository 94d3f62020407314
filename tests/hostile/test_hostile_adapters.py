"""Bad input through the LangChain and LlamaIndex adapters: typed errors, store unchanged.

Issue 11 item 7 (lone surrogates in a LangChain ``name``, message text, LlamaIndex
``additional_kwargs``) and item 11 (``additional_kwargs`` holding a set, frozenset, bytes, tuple
or datetime came back changed: now refused, naming the key). Each ran on main into a raw
``UnicodeEncodeError`` or a silently changed round trip.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest
from hostile_helpers import SURROGATE, api_snapshot, seed, strict
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from llama_index.core.llms import ChatMessage

from zep_memory_plugins import InvalidInputError, ZepMemoryClient
from zep_memory_plugins.langchain import ZepChatMessageHistory
from zep_memory_plugins.llama_index import ZepChatStore, ZepMemory

S = SURROGATE


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


CHANGED_BY_JSON = [
    pytest.param({1, 2}, id="set"),
    pytest.param(frozenset({"a"}), id="frozenset"),
    pytest.param(b"\x00\xff", id="bytes"),
    pytest.param((1, "a"), id="tuple"),
    pytest.param(dt.datetime(2024, 1, 2, 3, 4, 5), id="datetime"),
    pytest.param(dt.date(2024, 1, 2), id="date"),
    pytest.param(Colour.RED, id="enum"),
    pytest.param(Level.HIGH, id="int-enum"),
    pytest.param({1: "one"}, id="int-key"),
    pytest.param([{"deep": (1,)}], id="nested-tuple"),
    pytest.param(float("nan"), id="nan"),
    pytest.param("x" + S, id="surrogate"),
    pytest.param(2**64, id="int-2**64"),
]


# -- LangChain ---------------------------------------------------------------------------------


LC_BAD = [
    pytest.param(lambda: HumanMessage("hi", name="Jane" + S), "name", id="name-surrogate"),
    pytest.param(lambda: HumanMessage("hi", name="J" * 5000), "name", id="name-too-long"),
    pytest.param(lambda: HumanMessage("hi " + S), "content", id="content-surrogate"),
    pytest.param(
        lambda: AIMessage("ok", additional_kwargs={"args": (1, 2)}),
        "additional_kwargs.args",
        id="kwargs-tuple",
    ),
    pytest.param(
        lambda: AIMessage("ok", additional_kwargs={"when": dt.datetime(2024, 1, 1)}),
        "additional_kwargs.when",
        id="kwargs-datetime",
    ),
    pytest.param(
        lambda: AIMessage("ok", response_metadata={"ids": {1, 2}}),
        "response_metadata.ids",
        id="response-metadata-set",
    ),
]


@pytest.mark.parametrize(("make", "field"), LC_BAD)
async def test_langchain_history_refuses_and_stores_nothing(
    client: ZepMemoryClient, make: Any, field: str
) -> None:
    seed(client)
    before = api_snapshot(client)
    history = ZepChatMessageHistory(session_id="lc-new", user_id="lc-user", client=client)
    good: BaseMessage = HumanMessage("fine")
    for call in (history.add_messages, history.aadd_messages):
        with pytest.raises(InvalidInputError) as caught:
            result = call([good, make()])
            if result is not None:
                await result
        assert caught.value.field is not None and caught.value.field.startswith(
            field.split(".")[0]
        ), str(caught.value)
        assert api_snapshot(client) == before  # no user, no session, no message
    assert history.messages == []


def test_langchain_history_keeps_non_ascii_exactly(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="lc", user_id="lc-user", client=client)
    sent = [
        HumanMessage("Zoë \U0001f600 東京", name="Zoë"),
        AIMessage("ok", additional_kwargs={"k": ["é", 1, 2.5, None, {"n": True}]}),
    ]
    history.add_messages(sent)
    fresh = ZepChatMessageHistory(session_id="lc", user_id="lc-user", client=client)
    assert fresh.messages == sent


# -- LlamaIndex --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", CHANGED_BY_JSON)
def test_llama_index_refuses_what_json_changes_naming_the_key(
    client: ZepMemoryClient, value: Any
) -> None:
    seed(client)
    before = api_snapshot(client)
    store = ZepChatStore(client=client, user_id="li-user")
    memory = ZepMemory(client, "li-user", "li-memory", defer_user_messages=False)
    bad = ChatMessage(role="assistant", content="ok", additional_kwargs={"tool_x": value})
    good = ChatMessage(role="user", content="fine")
    calls = [
        lambda: store.add_message("li-s", bad),
        lambda: store.set_messages("li-s", [good, bad]),
        lambda: memory.put(bad),
        lambda: memory.put_messages([good, bad]),
        lambda: memory.set([good, bad]),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError) as caught:
            call()
        assert caught.value.field is not None, str(caught.value)
        assert caught.value.field.startswith("additional_kwargs.tool_x"), str(caught.value)
        assert "tool_x" in str(caught.value)
        assert api_snapshot(client) == before


@pytest.mark.parametrize("value", CHANGED_BY_JSON[:6])
async def test_llama_index_async_entries_refuse_too(client: ZepMemoryClient, value: Any) -> None:
    before = api_snapshot(client)
    store = ZepChatStore(client=client, user_id="li-user")
    bad = ChatMessage(role="assistant", content="ok", additional_kwargs={"k": value})
    with pytest.raises(InvalidInputError):
        await store.async_add_message("li-s", bad)
    with pytest.raises(InvalidInputError):
        await store.aset_messages("li-s", [bad])
    assert api_snapshot(client) == before


#: What a Zep server changes in metadata (64-bit ids, whole floats, -0.0, NUL) and the
#: adapters must keep anyway: their copy of a message travels packed in one JSON string.
EXACT_KWARGS = {
    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a": 1}'}}],
    "numbers": [0, -1, 2**63 - 1, -(2**63 - 1), 2**53 + 1, 1.5, -0.25, 1e300, 1e308],
    "snowflake": 1_234_567_890_123_456_789,  # a chat platform's 64-bit message id
    "whole": [1.0, 0.0, -0.0, 2.0**60],
    "text": "é 東京 \U0001f600 a\x00b \\u0000",
    "flags": {"yes": True, "no": False, "none": None},
    "nested": [[[]], {}],
}


def test_llama_index_keeps_json_values_exactly(client: ZepMemoryClient) -> None:
    store = ZepChatStore(client=client, user_id="li-user")
    sent = ChatMessage(role="assistant", content="ok", additional_kwargs=EXACT_KWARGS)
    store.add_message("li-s", sent)
    [back] = ZepChatStore(client=client, user_id="li-user").get_messages("li-s")
    assert strict(back.additional_kwargs) == strict(EXACT_KWARGS)
    assert back == sent


def test_langchain_keeps_json_values_exactly(client: ZepMemoryClient) -> None:
    sent: list[BaseMessage] = [
        HumanMessage("hi", additional_kwargs=EXACT_KWARGS, id="m1"),
        AIMessage("ok", response_metadata={"usage": EXACT_KWARGS["whole"]}, id="m2"),
    ]
    ZepChatMessageHistory(session_id="lc", user_id="lc-user", client=client).add_messages(sent)
    back = ZepChatMessageHistory(session_id="lc", user_id="lc-user", client=client).messages
    assert back == sent
    assert strict(back[0].additional_kwargs) == strict(EXACT_KWARGS)
    assert strict(back[1].response_metadata) == strict({"usage": EXACT_KWARGS["whole"]})


@pytest.mark.parametrize("value", CHANGED_BY_JSON[:5])
async def test_llama_index_db_chat_store_refuses_too(client: ZepMemoryClient, value: Any) -> None:
    from zep_memory_plugins.llama_index import ZepDBChatStore

    seed(client)
    before = api_snapshot(client)
    store = ZepDBChatStore(client, "li-user")
    bad = ChatMessage(role="tool", content="ok", additional_kwargs={"result": value})
    with pytest.raises(InvalidInputError) as caught:
        await store.add_messages("li-db", [ChatMessage(role="user", content="q"), bad])
    assert caught.value.field == "additional_kwargs.result"
    with pytest.raises(InvalidInputError):
        await store.set_messages("li-db", [bad])
    assert api_snapshot(client) == before
