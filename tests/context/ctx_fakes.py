"""A scripted agent model for the context tests: tool calls, answers and summaries.

Built on langchain_core's ``GenericFakeChatModel`` machinery (``BaseChatModel`` with a
deterministic ``_generate``), with ``bind_tools`` so ``create_agent`` accepts it. It logs every
request it is given, so the tests can measure what the model saw.
"""

from __future__ import annotations

import re
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import ToolException, tool
from pydantic import Field

from zep_memory_plugins._context import SUMMARY_INSTRUCTIONS
from zep_memory_plugins.langchain import ZepMemoryContext, ZepMemoryMiddleware

SUMMARY_MARK = SUMMARY_INSTRUCTIONS.split(".")[0]


@tool
def lookup(city: str) -> str:
    """Weather of a city."""
    if city == "Atlantis":
        raise ToolException("no such city")
    return f"sunny in {city}"


lookup.handle_tool_error = True


class ScriptedAgentModel(GenericFakeChatModel):
    """Answers "turn N ..." with parallel tool calls every third turn, else plain text.

    A summarising request (our summary instructions) is answered with the previous summary
    extended by every line holding ``FACT``: a faithful, small summary.
    """

    messages: Any = Field(default_factory=lambda: iter(()))
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    summaries: list[list[BaseMessage]] = Field(default_factory=list)
    fail_next: bool = False

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        if messages and SUMMARY_MARK in messages[0].text:
            self.summaries.append(list(messages))
            return _result(AIMessage(content=_summarise(messages[-1].text)))
        self.seen.append(list(messages))
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("scripted failure")
        last = messages[-1]
        if last.type == "tool":
            return _result(AIMessage(content=f"Noted: {last.text}."))
        match = re.match(r"turn (\d+)", last.text)
        n = int(match.group(1)) if match else 0
        if n % 3 == 0:
            calls = [
                {"name": "lookup", "args": {"city": city}, "id": f"call-{n}-{i}"}
                for i, city in enumerate(["Paris", "Atlantis" if n % 6 == 0 else "Rome"])
            ]
            return _result(AIMessage(content="", tool_calls=calls))
        return _result(AIMessage(content=f"Answer to turn {n}: that is interesting."))


def _result(message: AIMessage) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message)])


def _summarise(request: str) -> str:
    current, _, new = request.partition("\n\nNew part of the conversation:\n")
    previous = current.removeprefix("Current summary:\n").strip()
    facts = [previous] if previous and previous != "(none yet)" else []
    facts += [line.split(": ", 1)[1] for line in new.splitlines() if "FACT" in line]
    return " | ".join(facts)


# -- the long-conversation scenario shared by tests/context/test_context_agent.py and
#    benchmarks/bench_context.py (the benchmark's figures are the test's run) ------------------

#: The token budget of every model request.
BUDGET = 2000
#: The word of turn 1's fact that the summary must still hold at the last turn.
FACT_WORD = "Zed-Quartz"
#: Turn 1: the fact.
FACT = f"turn 1: my name is {FACT_WORD} and my locker code is 4471 FACT"
SYSTEM = "You are a helpful assistant."


def text_of(n: int) -> str:
    """What the user says at turn ``n``."""
    if n == 1:
        return FACT
    return f"turn {n}: tell me something about topic {n}, and please be thorough about it"


def agent_with(
    client: Any, model: ScriptedAgentModel, *, system_prompt: str | None = None, **options: Any
) -> tuple[Any, ZepMemoryMiddleware]:
    """A ``create_agent`` agent on ``client`` with a middleware of these ``options``."""
    middleware = ZepMemoryMiddleware(client, **options)
    agent = create_agent(
        model,
        tools=[lookup],
        middleware=[middleware],
        context_schema=ZepMemoryContext,
        system_prompt=system_prompt,
    )
    return agent, middleware


def agent_on(client: Any, model: ScriptedAgentModel) -> tuple[Any, ZepMemoryMiddleware]:
    """A ``create_agent`` agent on ``client`` with the budget and a rolling summary."""
    return agent_with(client, model, system_prompt=SYSTEM, max_tokens=BUDGET, summarize=True)
