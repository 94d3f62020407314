"""The framework-neutral core: summaries extend, never replace; the cap; the sessions block."""

from __future__ import annotations

import asyncio

import pytest
from ctx_fakes import ScriptedAgentModel, agent_with
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from li_ctx_fakes import scripted_llm
from llama_index.core.llms import ChatMessage as LIMessage

from zep_memory_plugins import InvalidInputError, Message, ZepMemoryClient
from zep_memory_plugins._context import (
    SUMMARY_KEY,
    Shape,
    Summary,
    plan_summarise,
    safe_starts,
    split_summary,
    summary_message,
    window_start,
)
from zep_memory_plugins._duplex import Plan, run
from zep_memory_plugins.langchain import (
    ZepChatMessageHistory,
    ZepMemoryContext,
)
from zep_memory_plugins.llama_index import ZepMemory, ZepSessionsBlock
from zep_memory_plugins.llama_index._memory import SUMMARY_HEADER


def test_an_empty_reply_keeps_the_old_summary_and_the_new_lines() -> None:
    asked: list[str] = []

    def ask(system: str, user: str) -> Plan[str]:
        asked.append(user)
        return "   "
        yield  # a plan making no call: the model's reply is given

    lines = ["user: I live in Porto"]
    got = run(plan_summarise("Ann likes teal.", lines, ask, lambda p, b: True, 50))
    assert got == "Ann likes teal.\nuser: I live in Porto"
    assert "Ann likes teal." in asked[0]  # the previous summary is in the request


def test_requests_are_split_to_fit() -> None:
    batches: list[str] = []

    def ask(system: str, user: str) -> Plan[str]:
        batches.append(user)
        return user.rsplit("\n", 1)[-1]  # a model keeping only the newest line
        yield  # a plan making no call: the model's reply is given

    lines = [f"user: line {i} " + "x" * 40 for i in range(10)]
    run(plan_summarise(None, lines, ask, lambda prev, batch: len("\n".join(batch)) <= 150, 50))
    assert len(batches) > 1
    # every line went to the model exactly once, in order
    new_parts = [b.split("New part of the conversation:\n")[1] for b in batches]
    sent = [ln for part in new_parts for ln in part.splitlines()]
    assert sent == lines


def test_split_summary_finds_the_newest_and_its_boundary(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="s", user_id="u", client=client)
    history.add_messages([HumanMessage("a"), AIMessage("b"), HumanMessage("c")])
    stored = client.memory.get_messages("s")
    client.memory.add_messages("s", [summary_message(Summary("old", str(stored[0].uuid)))])
    client.memory.add_messages("s", [summary_message(Summary("new", str(stored[1].uuid)))])
    summary, conversation, lo = split_summary(client.memory.get_messages("s"))
    assert summary == Summary("new", str(stored[1].uuid))
    assert [m.content for m in conversation] == ["a", "b", "c"] and lo == 2
    assert [m.content for m in history.messages] == ["a", "b", "c"]  # summaries are hidden


def test_a_summary_stored_by_an_earlier_release_is_still_read(
    client: ZepMemoryClient, backend_name: str
) -> None:
    """Earlier releases kept the marker as an object; it is now a packed string (a scalar).

    No earlier release wrote to Zep Cloud, which takes no object in message metadata: there
    the old form cannot even be stored.
    """
    history = ZepChatMessageHistory(session_id="s", user_id="u", client=client)
    history.add_messages([HumanMessage("a"), AIMessage("b")])
    stored = client.memory.get_messages("s")
    old = Message(
        role="zep_memory_summary",
        role_type="system",
        content="old form",
        metadata={SUMMARY_KEY: {"through": str(stored[0].uuid), "version": 1}},
    )
    if backend_name in ("zep-v3", "zep-v4"):
        with pytest.raises(InvalidInputError):
            client.memory.add_messages("s", [old])
        return
    client.memory.add_messages("s", [old])
    summary, _, lo = split_summary(client.memory.get_messages("s"))
    assert summary == Summary("old form", str(stored[0].uuid)) and lo == 1
    assert [m.content for m in history.messages] == ["a", "b"]
    new = summary_message(Summary("x", str(stored[1].uuid)))
    assert new.metadata is not None and isinstance(new.metadata[SUMMARY_KEY], str)


def test_the_summary_never_outgrows_its_cap(client: ZepMemoryClient) -> None:
    model = ScriptedAgentModel()
    agent, _ = agent_with(client, model, max_tokens=400, summarize=True, summary_max_tokens=20)
    context = ZepMemoryContext(user_id="u", session_id="s")
    for n in range(1, 40):  # every line is a FACT: the scripted summary keeps growing
        agent.invoke(
            {"messages": [{"role": "user", "content": f"turn {n}: fact {n} FACT"}]}, context=context
        )
    summaries = [m for m in client.memory.get_messages("s") if SUMMARY_KEY in (m.metadata or {})]
    assert len(summaries) >= 2
    assert all(count_tokens_approximately([SystemMessage(m.content)]) <= 20 for m in summaries)
    assert max(count_tokens_approximately(r) for r in model.seen) <= 400


def test_sessions_block_shows_whole_turns(client: ZepMemoryClient) -> None:
    ZepChatMessageHistory(session_id="old", user_id="u", client=client).add_messages(
        [
            HumanMessage("weather?"),
            AIMessage("", tool_calls=[{"name": "lookup", "args": {}, "id": "c1"}]),
            ToolMessage("sunny", tool_call_id="c1"),
            AIMessage("It is sunny."),
            HumanMessage("thanks"),
            AIMessage("welcome"),
        ]
    )
    block = ZepSessionsBlock(client, "u", messages_per_session=3)
    text = asyncio.run(block.aget([], session_id="current"))
    assert "human: thanks" in text and "ai: welcome" in text
    assert "It is sunny." not in text  # the 3 newest start on a reply: cut to the whole turn


def test_a_tool_result_without_call_id_belongs_to_the_assistant_before_it() -> None:
    shapes = [
        Shape("user"),
        Shape("assistant"),
        Shape("tool"),
        Shape("tool"),
        Shape("user"),
        Shape("assistant"),
    ]
    assert safe_starts(shapes) == [True, False, False, False, True, False, True]
    assert window_start(shapes, 3) == 4


def test_a_rewrite_drops_the_summary(client: ZepMemoryClient) -> None:
    llm, _ = scripted_llm()
    memory = ZepMemory(client, "u", "s", token_limit=120, llm=llm)
    for n in range(12):
        memory.put_messages(
            [
                LIMessage(role="user", content=f"my fact {n} FACT"),
                LIMessage(role="assistant", content="ok " * 8),
            ]
        )
    assert str(memory.get()[0].content).startswith(SUMMARY_HEADER)
    memory.set([LIMessage(role="user", content="fresh start")])
    assert [m.content for m in memory.get()] == ["fresh start"]
    assert not [m for m in client.memory.get_messages("s") if SUMMARY_KEY in (m.metadata or {})]


def test_a_stored_summary_is_used_by_a_middleware_that_does_not_summarise(
    client: ZepMemoryClient,
) -> None:
    history = ZepChatMessageHistory(session_id="s", user_id="u", client=client)
    history.add_messages([HumanMessage("I am Ann"), AIMessage("hi Ann"), HumanMessage("bye")])
    covered = client.memory.get_messages("s")[1]
    client.memory.add_messages("s", [summary_message(Summary("User is Ann.", str(covered.uuid)))])
    model = ScriptedAgentModel()
    agent, _ = agent_with(client, model, system_prompt="Be brief.")
    agent.invoke(
        {"messages": [{"role": "user", "content": "turn 1: again"}]},
        context=ZepMemoryContext(user_id="u", session_id="s"),
    )
    request = model.seen[0]
    assert request[0].text.endswith("User is Ann.")
    assert [m.text for m in request[1:]] == ["bye", "turn 1: again"]
