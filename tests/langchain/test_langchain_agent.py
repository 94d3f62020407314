"""ZepMemoryMiddleware with langchain.agents.create_agent: tools, reloads, budget, ownership."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from lc_fakes import ToolCallingFakeModel

from zep_memory_plugins import InvalidInputError, SessionOwnershipError, ZepMemoryClient
from zep_memory_plugins.langchain import (
    ZepChatMessageHistory,
    ZepMemoryContext,
    ZepMemoryMiddleware,
)


@tool
def weather(city: str) -> str:
    """Today's weather in a city."""
    return f"sunny in {city}"


def call(city: str, call_id: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "weather", "args": {"city": city}, "id": call_id}])


def script(turns: int) -> list[AIMessage]:
    """Per turn: the model calls the tool, then answers."""
    out: list[AIMessage] = []
    for i in range(turns):
        out += [call(f"city{i}", f"call_{i}"), AIMessage(f"It is sunny in city{i}.")]
    return out


def make_agent(client: ZepMemoryClient, responses: list[AIMessage], **kwargs: Any) -> Any:
    model = ToolCallingFakeModel(responses=responses)
    agent = create_agent(
        model,
        tools=[weather],
        middleware=[ZepMemoryMiddleware(client, **kwargs)],
        context_schema=ZepMemoryContext,
    )
    return agent, model


def ctx(user_id: str = "ann", session_id: str = "trip") -> ZepMemoryContext:
    return ZepMemoryContext(user_id=user_id, session_id=session_id)


def test_agent_turns_with_tools_survive_a_new_client(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    agent, model = make_agent(client, script(3))
    final: list[BaseMessage] = []
    for i in range(3):
        result = agent.invoke({"messages": [HumanMessage(f"weather in city{i}?")]}, context=ctx())
        final = result["messages"]
        assert len(final) == 4 * (i + 1)  # history + question, tool call, tool result, answer
        # the model saw every earlier turn, tool calls and results included
        first_call_of_turn = model.seen[2 * i]
        assert len(first_call_of_turn) == 4 * i + 1
    tool_results = [m for m in final if isinstance(m, ToolMessage)]
    assert [m.content for m in tool_results] == [f"sunny in city{i}" for i in range(3)]
    assert [m.tool_call_id for m in tool_results] == ["call_0", "call_1", "call_2"]
    reloaded = ZepChatMessageHistory(session_id="trip", user_id="ann", client=open_client())
    assert reloaded.messages == final
    stored = open_client().memory.get_messages("trip")
    assert [m.role_type for m in stored[:4]] == ["user", "assistant", "tool", "assistant"]


def test_agent_memory_continues_in_a_new_process(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    agent, _ = make_agent(open_client(), script(1))
    first = agent.invoke({"messages": [HumanMessage("weather in city0?")]}, context=ctx())
    agent2, model2 = make_agent(open_client(), [AIMessage("You asked about city0.")])
    second = agent2.invoke({"messages": [HumanMessage("what did I ask?")]}, context=ctx())
    assert model2.seen[0] == [*first["messages"], second["messages"][4]]
    assert second["messages"][-1].content == "You asked about city0."


async def test_agent_async(client: ZepMemoryClient) -> None:
    agent, _ = make_agent(client, script(2))
    first = await agent.ainvoke({"messages": [HumanMessage("city0?")]}, context=ctx())
    client.stats.reset()
    second = await agent.ainvoke({"messages": [HumanMessage("city1?")]}, context=ctx())
    assert client.stats.calls == {"get_messages": 1, "add_messages": 1}
    assert second["messages"][:4] == first["messages"]
    history = ZepChatMessageHistory(session_id="trip", user_id="ann", client=client)
    assert await history.aget_messages() == second["messages"]


def test_one_read_and_one_write_per_run(client: ZepMemoryClient) -> None:
    agent, _ = make_agent(client, script(4))
    agent.invoke({"messages": [HumanMessage("city0?")]}, context=ctx())
    assert client.stats.calls == {
        "get_session": 1,
        "add_session": 2,
        "add_user": 1,
        "add_messages": 1,
    }
    for i in range(1, 4):
        client.stats.reset()
        agent.invoke({"messages": [HumanMessage(f"city{i}?")]}, context=ctx())
        assert (client.stats.reads, client.stats.writes) == (1, 1)
        assert client.stats.calls == {"get_messages": 1, "add_messages": 1}
    assert len(client.memory.get_messages("trip")) == 16


def test_users_are_isolated_and_intruders_refused(client: ZepMemoryClient) -> None:
    agent, model = make_agent(
        client, [AIMessage("hi ann"), AIMessage("hi bob"), AIMessage("never said")]
    )
    agent.invoke({"messages": [HumanMessage("ann's secret")]}, context=ctx("ann", "a1"))
    agent.invoke({"messages": [HumanMessage("bob here")]}, context=ctx("bob", "b1"))
    assert [m.content for m in model.seen[1]] == ["bob here"]
    with pytest.raises(SessionOwnershipError):
        agent.invoke({"messages": [HumanMessage("show me")]}, context=ctx("bob", "a1"))
    assert len(model.seen) == 2, "the model never ran for the intruder"
    assert [m.content for m in client.memory.get_messages("a1")] == ["ann's secret", "hi ann"]


def test_ids_from_config(client: ZepMemoryClient) -> None:
    model = ToolCallingFakeModel(responses=[AIMessage("one"), AIMessage("two")])
    agent = create_agent(model, middleware=[ZepMemoryMiddleware(client)])
    config: Any = {"configurable": {"user_id": "ann", "session_id": "cfg"}}
    agent.invoke({"messages": [HumanMessage("q1")]}, config)
    agent.invoke({"messages": [HumanMessage("q2")]}, config)
    assert [m.content for m in model.seen[1]] == ["q1", "one", "q2"]
    assert client.memory.get_session("cfg").user_id == "ann"


def test_ids_from_a_dict_context(client: ZepMemoryClient) -> None:
    model = ToolCallingFakeModel(responses=[AIMessage("one")])
    agent = create_agent(model, middleware=[ZepMemoryMiddleware(client)], context_schema=dict)
    agent.invoke({"messages": [HumanMessage("q1")]}, context={"user_id": "ann", "session_id": "d1"})
    assert [m.content for m in client.memory.get_messages("d1")] == ["q1", "one"]


def test_missing_ids_are_a_typed_error(client: ZepMemoryClient) -> None:
    model = ToolCallingFakeModel(responses=[AIMessage("never")])
    agent = create_agent(model, middleware=[ZepMemoryMiddleware(client)])
    with pytest.raises(InvalidInputError) as info:
        agent.invoke({"messages": [HumanMessage("q")]})
    assert info.value.field == "user_id"
    assert model.seen == []
    assert client.stats.writes == 0


def test_window_and_session_metadata(client: ZepMemoryClient) -> None:
    agent, model = make_agent(
        client,
        [AIMessage(f"a{i}") for i in range(3)],
        window=2,
        session_metadata={"channel": "web"},
    )
    for i in range(3):
        agent.invoke({"messages": [HumanMessage(f"q{i}")]}, context=ctx())
    assert [m.content for m in model.seen[2]] == ["q1", "a1", "q2"]
    assert client.memory.get_session("trip").metadata == {"channel": "web"}
    assert len(client.memory.get_messages("trip")) == 6


def test_a_window_hands_the_agent_messages_of_its_own(client: ZepMemoryClient) -> None:
    # A window's conversions are remembered from turn to turn; what goes into the state is a
    # copy, so an app editing a loaded message in place changes nothing of the next turn's.
    agent, model = make_agent(client, [AIMessage(f"a{i}") for i in range(3)], window=4)
    agent.invoke({"messages": [HumanMessage("q0")]}, context=ctx())
    second = agent.invoke({"messages": [HumanMessage("q1")]}, context=ctx())
    loaded = second["messages"][0]
    assert loaded.content == "q0"
    loaded.content = "edited by the app"
    loaded.additional_kwargs["x"] = 1
    agent.invoke({"messages": [HumanMessage("q2")]}, context=ctx())
    assert [m.content for m in model.seen[2]] == ["q0", "a0", "q1", "a1", "q2"]
    assert model.seen[2][0].additional_kwargs == {}


def test_with_a_checkpointer_nothing_is_duplicated(client: ZepMemoryClient) -> None:
    model = ToolCallingFakeModel(responses=script(2))
    agent = create_agent(
        model,
        tools=[weather],
        middleware=[ZepMemoryMiddleware(client)],
        context_schema=ZepMemoryContext,
        checkpointer=InMemorySaver(),
    )
    config: Any = {"configurable": {"thread_id": "t1"}}
    agent.invoke({"messages": [HumanMessage("city0?")]}, config, context=ctx())
    second = agent.invoke({"messages": [HumanMessage("city1?")]}, config, context=ctx())
    assert len(second["messages"]) == 8
    history = ZepChatMessageHistory(session_id="trip", user_id="ann", client=client)
    assert history.messages == second["messages"]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_failed_write_raises_out_of_the_agent(api: str, zep_servers: Any) -> None:
    # Unlike RunnableWithMessageHistory (whose write LangChain runs as a listener and only
    # logs), the middleware's write is part of the run: a lost turn is an error the app sees.
    from zep_memory_plugins import ServerError

    server = zep_servers.fresh(api)
    client = ZepMemoryClient(base_url=server.url, api_key=server.api_key, max_retries=0)
    agent, _ = make_agent(client, script(2))
    agent.invoke({"messages": [HumanMessage("weather?")]}, context=ctx())
    server.faults.add("POST", "/api/*/sessions/*/memory", status=500, times=None)
    with pytest.raises(ServerError):
        agent.invoke({"messages": [HumanMessage("and again?")]}, context=ctx())
    server.faults.clear()
    stored = [m.content for m in client.memory.get_messages("trip")]
    assert stored[0] == "weather?" and "and again?" not in stored
    client.close()
