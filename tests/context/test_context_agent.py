"""A 500-turn agent conversation with max_tokens=2000 and a rolling summary (issue 12's bar).

``create_agent`` with a scripted fake chat model (tests/context/ctx_fakes.py): every third turn
makes two parallel tool calls (one of them failing every sixth turn), the others answer in
text; turn 1 states a fact. Runs on every backend the fixtures give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ctx_fakes import BUDGET, SYSTEM, ScriptedAgentModel, agent_on, text_of
from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from zep_memory_plugins import ZepMemoryClient
from zep_memory_plugins._context import SUMMARY_KEY, safe_starts
from zep_memory_plugins.langchain import (
    ZepChatMessageHistory,
    ZepMemoryContext,
)
from zep_memory_plugins.langchain._history import shape_of
from zep_memory_plugins.transfer import copy


def view(request: list[BaseMessage]) -> list[tuple[str, str, Any]]:
    """A request without LangGraph's run-specific ids."""
    return [(m.type, m.text, getattr(m, "tool_calls", None)) for m in request]


def test_500_turns_within_budget_with_summary(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    model = ScriptedAgentModel()
    agent, middleware = agent_on(client, model)
    ctx = ZepMemoryContext(user_id="ann", session_id="long")
    plain_turn_costs: list[tuple[int, int]] = []
    for n in range(1, 500):
        before_calls, before_summaries = len(model.seen), middleware.summaries_stored
        client.stats.reset()
        agent.invoke({"messages": [{"role": "user", "content": text_of(n)}]}, context=ctx)
        if middleware.summaries_stored == before_summaries and n > 1:
            plain_turn_costs.append((client.stats.reads, client.stats.writes))
        for request in model.seen[before_calls:]:
            assert count_tokens_approximately(request) <= BUDGET
            ok = safe_starts([shape_of(m) for m in request[1:]], whole=False)
            assert ok[0], "the history handed to the model starts mid-turn"
    # no request ever exceeded the budget, and the summary carried turn 1's fact to the end
    assert max(count_tokens_approximately(r) for r in model.seen) <= BUDGET
    assert all(reads <= 1 and writes <= 1 for reads, writes in plain_turn_costs)
    assert len(plain_turn_costs) > 450
    # summarising happened in batches, not every turn
    assert 3 <= middleware.summaries_stored <= 60
    summary_requests = model.summaries
    assert summary_requests and all(
        count_tokens_approximately(r) <= BUDGET for r in summary_requests
    )

    # turn 500, first from a NEW process (new client, same store): record its request and
    # fail the model call, so nothing is stored; then the same turn from the first process.
    other = open_client()
    model_b = ScriptedAgentModel(fail_next=True)
    agent_b, _ = agent_on(other, model_b)
    with pytest.raises(RuntimeError, match="scripted failure"):
        agent_b.invoke({"messages": [{"role": "user", "content": text_of(500)}]}, context=ctx)
    calls_before = len(model.seen)
    agent.invoke({"messages": [{"role": "user", "content": text_of(500)}]}, context=ctx)
    first_request = model.seen[calls_before]
    assert view(model_b.seen[0]) == view(first_request)
    system = first_request[0]
    assert system.type == "system" and system.text.startswith(SYSTEM)
    assert "Zed-Quartz" in system.text and "4471" in system.text  # the fact from turn 1
    assert count_tokens_approximately(first_request) <= BUDGET


def test_summary_lives_in_the_session(open_client: Callable[[], ZepMemoryClient]) -> None:
    """Stored as a marked message: hidden from the history, copied by export/import, removed
    by a clear and by a user delete."""
    client = open_client()
    model = ScriptedAgentModel()
    agent, middleware = agent_on(client, model)
    ctx = ZepMemoryContext(user_id="bo", session_id="s1")
    n = 1
    while middleware.summaries_stored == 0:
        agent.invoke({"messages": [{"role": "user", "content": text_of(n)}]}, context=ctx)
        n += 1
    stored = client.memory.get_messages("s1")
    marked = [m for m in stored if SUMMARY_KEY in (m.metadata or {})]
    assert len(marked) == 1 and "Zed-Quartz" in marked[0].content
    history = ZepChatMessageHistory(session_id="s1", user_id="bo", client=client)
    assert len(history.messages) == len(stored) - 1  # not a conversation message

    target = ZepMemoryClient(path=":memory:")
    try:
        copy(client, target)
        assert [m.content for m in target.memory.get_messages("s1")] == [m.content for m in stored]
        # the copy continues with the summary: the next request carries the fact
        model_t = ScriptedAgentModel()
        agent_t, _ = agent_on(target, model_t)
        agent_t.invoke({"messages": [{"role": "user", "content": text_of(n)}]}, context=ctx)
        assert "Zed-Quartz" in model_t.seen[0][0].text
    finally:
        target.close()

    history.clear()
    model_c = ScriptedAgentModel()
    agent_c, _ = agent_on(client, model_c)
    agent_c.invoke({"messages": [{"role": "user", "content": "turn 7: hello again"}]}, context=ctx)
    assert "Zed-Quartz" not in model_c.seen[0][0].text  # cleared: no summary any more
    assert not [m for m in client.memory.get_messages("s1") if SUMMARY_KEY in (m.metadata or {})]

    client.user.delete("bo")
    assert client.memory.get_messages("s1") == []
