"""LangChain: turn-safe windows of the history and the middleware, budgets, arguments."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from ctx_fakes import ScriptedAgentModel, agent_with
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately

from zep_memory_plugins import InvalidInputError, ZepMemoryClient
from zep_memory_plugins._context import Tail
from zep_memory_plugins.langchain import (
    ZepChatMessageHistory,
    ZepHistoryFactory,
    ZepMemoryContext,
    ZepMemoryMiddleware,
)
from zep_memory_plugins.langchain._middleware import SUMMARY_HEADER

PARALLEL = [
    HumanMessage("weather in Paris and Rome?"),
    AIMessage(
        "",
        tool_calls=[
            {"name": "lookup", "args": {"city": "Paris"}, "id": "c1"},
            {"name": "lookup", "args": {"city": "Rome"}, "id": "c2"},
        ],
    ),
    ToolMessage("sunny", tool_call_id="c1"),
    ToolMessage("rainy", tool_call_id="c2"),
    AIMessage("Sunny in Paris, rainy in Rome."),
]


def test_issue_example_window_never_splits_parallel_calls(client: ZepMemoryClient) -> None:
    ZepChatMessageHistory(session_id="s", user_id="u", client=client).add_messages(PARALLEL)
    got = {
        w: ZepChatMessageHistory(session_id="s", user_id="u", client=client, window=w).messages
        for w in range(1, 7)
    }
    # window=3 used to return [ToolMessage, ToolMessage, AIMessage]
    assert all(got[w] == [] for w in range(1, 5))
    assert got[5] == got[6] == PARALLEL


def test_history_window_and_budget_on_a_longer_session(client: ZepMemoryClient) -> None:
    turns = [*PARALLEL, HumanMessage("thanks"), AIMessage("You're welcome.")]
    ZepChatMessageHistory(session_id="s", user_id="u", client=client).add_messages(turns)
    windowed = ZepChatMessageHistory(session_id="s", user_id="u", client=client, window=3)
    assert windowed.messages == turns[-2:]  # at most 3, fewer to stay whole
    assert asyncio.run(windowed.aget_messages()) == turns[-2:]
    whole = count_tokens_approximately(turns)
    tail = count_tokens_approximately(turns[-2:])
    for budget, expected in ((whole, turns), (whole - 1, turns[-2:]), (tail, turns[-2:])):
        history = ZepChatMessageHistory(
            session_id="s", user_id="u", client=client, max_tokens=budget
        )
        assert history.messages == expected
    assert (
        ZepChatMessageHistory(
            session_id="s", user_id="u", client=client, max_tokens=tail - 1
        ).messages
        == []
    )

    def by_messages(messages: Sequence[BaseMessage]) -> int:  # a counter of one's own
        return 100 * len(messages)

    counted = ZepChatMessageHistory(
        session_id="s", user_id="u", client=client, max_tokens=250, token_counter=by_messages
    )
    assert counted.messages == turns[-2:]
    factory = ZepHistoryFactory(client, window=3)
    assert factory("u", "s").messages == turns[-2:]


def test_a_budget_counts_each_stored_message_once_per_counter(client: ZepMemoryClient) -> None:
    # A long history is cut every turn: its messages are counted once while the client's
    # history cache holds the session; a history with another counter counts afresh.
    singles: list[str] = []

    def counting(messages: Sequence[BaseMessage]) -> int:
        if len(messages) == 1:
            singles.append(messages[0].text)
        return count_tokens_approximately(messages)

    turns = [m for i in range(6) for m in (HumanMessage(f"q{i}"), AIMessage(f"a{i}"))]
    history = ZepChatMessageHistory(
        session_id="long", user_id="u", client=client, max_tokens=10_000, token_counter=counting
    )
    history.add_messages(turns)
    assert history.messages == turns
    assert sorted(singles) == sorted(m.text for m in turns)
    singles.clear()
    more = [HumanMessage("more"), AIMessage("ok")]
    history.add_messages(more)  # a write: the next read cuts again
    assert history.messages == [*turns, *more]
    assert sorted(singles) == ["more", "ok"]  # only the new ones

    def by_messages(messages: Sequence[BaseMessage]) -> int:
        return 100 * len(messages)

    other = ZepChatMessageHistory(
        session_id="long", user_id="u", client=client, max_tokens=250, token_counter=by_messages
    )
    assert other.messages == more  # counted its own way, not with what `counting` found
    history.refresh()
    singles.clear()
    assert history.messages == [*turns, *more]
    assert len(singles) == len(turns) + len(more)  # and back: counted again


def test_a_budget_looks_only_at_the_newest_messages(client: ZepMemoryClient) -> None:
    # A long history under max_tokens: only as many of the newest messages as the budget needs
    # are decoded and counted (one run of Tail.FIRST_RUN here), never the whole history.
    turns = [m for i in range(150) for m in (HumanMessage(f"q{i}"), AIMessage(f"a{i}"))]
    ZepChatMessageHistory(session_id="long", user_id="u", client=client).add_messages(turns)
    singles: list[str] = []

    def two_each(messages: Sequence[BaseMessage]) -> int:
        if len(messages) == 1:
            singles.append(messages[0].text)
        return 2 * len(messages)

    history = ZepChatMessageHistory(
        session_id="long", user_id="u", client=client, max_tokens=20, token_counter=two_each
    )
    assert history.messages == turns[-10:]
    assert len(singles) == Tail.FIRST_RUN and singles[-1] == "a149"
    # a window and a budget together: the window is read, and cut as the budget needs
    windowed = ZepChatMessageHistory(
        session_id="long",
        user_id="u",
        client=client,
        window=7,
        max_tokens=10,
        token_counter=two_each,
    )
    assert windowed.messages == turns[-4:]  # 6 would be whole, but cost 12


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"summarize": True}, "summarize"),
        ({"max_tokens": 100, "summarize": "yes"}, "summarize"),
        ({"max_tokens": 100, "keep_ratio": 1.5}, "keep_ratio"),
        ({"max_tokens": 100, "summary_position": "middle"}, "summary_position"),
        ({"max_tokens": 100, "summary_model": "gpt"}, "summary_model"),
        ({"token_counter": 3}, "token_counter"),
    ],
)
def test_middleware_refuses_bad_arguments(
    client: ZepMemoryClient, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as error:
        ZepMemoryMiddleware(client, **kwargs)
    assert error.value.field == field
    with pytest.raises(InvalidInputError):
        ZepChatMessageHistory(session_id="s", user_id="u", client=client, max_tokens=-1)


def test_middleware_window_loads_whole_turns(client: ZepMemoryClient) -> None:
    ZepChatMessageHistory(session_id="s", user_id="u", client=client).add_messages(PARALLEL)
    model = ScriptedAgentModel()
    agent_with(client, model, window=3)[0].invoke(
        {"messages": [{"role": "user", "content": "turn 1: hi"}]},
        context=ZepMemoryContext(user_id="u", session_id="s"),
    )
    assert [m.type for m in model.seen[0]] == ["human"]  # not [tool, tool, ai, human]
    model = ScriptedAgentModel()
    agent_with(client, model, window=6)[0].invoke(
        {"messages": [{"role": "user", "content": "turn 2: again"}]},
        context=ZepMemoryContext(user_id="u", session_id="s"),
    )
    # the last 6 start inside the tool turn: from "turn 1: hi" (and its answer) on
    assert [m.type for m in model.seen[0]] == ["human", "ai", "human"]


def test_budget_without_summary_drops_oldest_turns_and_refuses_what_cannot_fit(
    client: ZepMemoryClient,
) -> None:
    model = ScriptedAgentModel()
    run, _ = agent_with(client, model, max_tokens=300)
    context = ZepMemoryContext(user_id="u", session_id="s")
    for n in range(1, 30):
        run.invoke({"messages": [{"role": "user", "content": f"turn {n}: hello"}]}, context=context)
    assert max(count_tokens_approximately(r) for r in model.seen) <= 300
    assert model.seen[-1][0].type == "human"
    assert len(client.memory.get_messages("s")) > 60  # everything is still stored
    count = len(client.memory.get_messages("s"))
    with pytest.raises(InvalidInputError, match="max_tokens=300") as error:
        run.invoke(
            {"messages": [{"role": "user", "content": "turn 31: " + "x" * 2000}]}, context=context
        )
    assert error.value.field == "max_tokens"
    assert len(client.memory.get_messages("s")) == count  # nothing stored, nothing lost


def test_async_agent_with_summary_as_first_user_message(client: ZepMemoryClient) -> None:
    model = ScriptedAgentModel()
    run, middleware = agent_with(
        client,
        model,
        system_prompt="Be brief.",
        max_tokens=500,
        summarize=True,
        summary_position="user",
    )
    context = ZepMemoryContext(user_id="u", session_id="s")

    async def go() -> None:
        for n in range(1, 40):
            text = "turn 1: the password is swordfish FACT" if n == 1 else f"turn {n}: more"
            await run.ainvoke({"messages": [{"role": "user", "content": text}]}, context=context)

    asyncio.run(go())
    assert middleware.summaries_stored >= 1
    last = model.seen[-1]
    assert max(count_tokens_approximately(r) for r in model.seen) <= 500
    assert last[0].type == "system" and last[0].text == "Be brief."
    assert last[1].type == "human" and last[1].text.startswith(SUMMARY_HEADER)
    assert "swordfish" in last[1].text
    assert all(SUMMARY_HEADER not in m.text for m in last[2:])


@pytest.mark.filterwarnings(
    "ignore:RunnableWithMessageHistory is deprecated"
    ":langchain_core._api.deprecation.LangChainDeprecationWarning"
)
def test_with_zep_history_budget_bounds_the_prompt_history(client: ZepMemoryClient) -> None:
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
    from langchain_core.runnables import RunnableLambda

    from zep_memory_plugins.langchain import with_zep_history

    seen: list[list[BaseMessage]] = []

    def spy(value: Any) -> Any:
        seen.append(value.to_messages())
        return value

    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{q}")])
    chain = with_zep_history(
        prompt | RunnableLambda(spy) | FakeListChatModel(responses=["an answer " * 5]),
        client,
        input_messages_key="q",
        history_messages_key="history",
        max_tokens=120,
    )
    config = {"configurable": {"user_id": "u", "session_id": "s"}}
    for n in range(12):
        chain.invoke({"q": f"question {n} " * 3}, config)
    histories = [request[:-1] for request in seen]
    assert all(count_tokens_approximately(h) <= 120 for h in histories)
    assert all(not h or h[0].type == "human" for h in histories)
    assert len(histories[-1]) < 22  # older turns left the prompt...
    assert len(client.memory.get_messages("s")) == 24  # ...not the store
    with pytest.raises(InvalidInputError) as error:
        with_zep_history(prompt, ZepHistoryFactory(client), max_tokens=10)
    assert error.value.field == "max_tokens"
