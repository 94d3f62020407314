"""FunctionAgent / AgentWorkflow runs with ZepMemory: tool messages survive persistence."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from li_fakes import MULTIPLY, scripted_llm
from llama_index.core.agent.workflow import AgentWorkflow, FunctionAgent
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.llms import ChatMessage, MessageRole

from zep_memory_plugins import SessionOwnershipError, ZepMemoryClient
from zep_memory_plugins.llama_index import ZepMemory

# llama-index's workflow engine walks the agent with inspect.getmembers, which trips pydantic's
# deprecation warnings on the agent's own attributes: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:inspect")


def agent() -> FunctionAgent:
    return FunctionAgent(tools=[MULTIPLY], llm=scripted_llm(), system_prompt="You multiply.")


async def test_function_agent_tool_turns_persist_across_runs_and_clients(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    memory = ZepMemory(client, "jane", "calc")
    answers = []
    for run, question in enumerate(["6*7", "3*5", "2*9"]):
        client.stats.reset()
        answers.append(str(await agent().run(question, memory=memory)))
        # the whole run (user message, tool call, tool result, answer) is written at once
        assert client.stats.calls["add_messages"] == 1
        if run:
            assert client.stats.writes == 1
    assert answers == ["The product is 42.", "The product is 15.", "The product is 18."]

    # a new process reads the runs back: four messages per run, tool call and result included
    history = ZepMemory(open_client(), "jane", "calc").get_all()
    assert history == memory.get_all()
    assert [m.role for m in history] == [
        MessageRole.USER,
        MessageRole.ASSISTANT,
        MessageRole.TOOL,
        MessageRole.ASSISTANT,
    ] * 3
    call = history[1].blocks[0]
    assert isinstance(call, ToolCallBlock)
    assert (call.tool_call_id, call.tool_name, call.tool_kwargs) == (
        "call-1",
        "multiply",
        {"a": 6, "b": 7},
    )
    assert history[2] == ChatMessage(
        role="tool", content="42", additional_kwargs={"tool_call_id": "call-1"}
    )
    assert [m.role_type for m in client.memory.get_messages("calc")][:4] == [
        "user",
        "assistant",
        "tool",
        "assistant",
    ]

    # and the agent goes on with the restored history on the new client
    fresh = ZepMemory(open_client(), "jane", "calc")
    assert str(await agent().run("4*4", memory=fresh)) == "The product is 16."
    assert len(fresh.get_all()) == 16


async def test_agent_workflow_run(client: ZepMemoryClient) -> None:
    workflow = AgentWorkflow(agents=[agent()])
    memory = ZepMemory(client, "bob", "wf")
    assert str(await workflow.run(user_msg="5*5", memory=memory)) == "The product is 25."
    assert str(await workflow.run(user_msg="1*2", memory=memory)) == "The product is 2."
    assert [m.content for m in memory.get_all() if m.role == MessageRole.USER] == ["5*5", "1*2"]


async def test_agent_cannot_use_another_users_session(client: ZepMemoryClient) -> None:
    await agent().run("2*2", memory=ZepMemory(client, "jane", "calc"))
    with pytest.raises(SessionOwnershipError):
        await agent().run("3*3", memory=ZepMemory(client, "bob", "calc"))
    assert len(client.memory.get_messages("calc")) == 4
