"""Every cut is a list a provider accepts: property tests over generated conversations.

Conversations mix user turns, assistant answers, assistant messages with one or several
(parallel) tool calls and their results (some of them errors), system messages and custom
roles. For every window size and budget, on the cutting core and through every adapter, the
list handed out must:

- not start with an assistant message or a tool result (unless nothing was cut);
- hold, for every tool result, the assistant message with its call before it;
- hold, for every assistant message with tool calls, all of its results;
- be a suffix of the conversation, of at most ``window`` messages and within ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately
from llama_index.core.base.llms.types import ToolCallBlock
from llama_index.core.llms import ChatMessage as LIMessage
from llama_index.core.llms import MessageRole, MockLLM

from zep_memory_plugins import InvalidInputError, Message, ZepMemoryClient
from zep_memory_plugins._context import (
    Shape,
    fit_start,
    fold_point,
    safe_starts,
    transcript_line,
    window_start,
)
from zep_memory_plugins.langchain import ZepChatMessageHistory
from zep_memory_plugins.langchain._history import cut_messages, shape_of
from zep_memory_plugins.llama_index import ZepMemory, to_zep_message
from zep_memory_plugins.llama_index._memory import chat_shape, chat_text


@dataclass(frozen=True)
class Step:
    """One message of a generated conversation, framework-neutral."""

    kind: str  # user, assistant, calls, result, system, custom
    text: str
    calls: tuple[str, ...] = ()
    answers: str = ""
    error: bool = False
    openai_style: bool = False  # LlamaIndex: calls in additional_kwargs, not ToolCallBlocks


@st.composite
def conversations(draw: st.DrawFn) -> list[Step]:
    """A valid conversation: tool results always follow their (possibly parallel) call."""
    counter = itertools.count()
    steps: list[Step] = []
    if draw(st.booleans()):
        steps.append(Step("system", "be brief"))
    for _ in range(draw(st.integers(0, 12))):
        words = draw(st.integers(1, 30))
        steps.append(Step("user", "word " * words))
        for _ in range(draw(st.integers(0, 2))):  # tool rounds
            ids = tuple(f"c{next(counter)}" for _ in range(draw(st.integers(1, 3))))
            steps.append(Step("calls", "", calls=ids, openai_style=draw(st.booleans())))
            order = draw(st.permutations(list(ids)))
            for call in order:
                steps.append(
                    Step(
                        "result",
                        "r " * draw(st.integers(1, 20)),
                        answers=call,
                        error=draw(st.booleans()),
                    )
                )
        if draw(st.booleans()):
            steps.append(Step("assistant", "answer " * draw(st.integers(1, 30))))
        extra = draw(st.sampled_from(["", "", "system", "custom"]))
        if extra:
            steps.append(Step(extra, "note"))
    return steps


def to_langchain(steps: list[Step]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for s in steps:
        if s.kind == "user":
            out.append(HumanMessage(s.text))
        elif s.kind == "assistant":
            out.append(AIMessage(s.text))
        elif s.kind == "calls":
            out.append(
                AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": c} for c in s.calls])
            )
        elif s.kind == "result":
            out.append(
                ToolMessage(
                    s.text, tool_call_id=s.answers, status="error" if s.error else "success"
                )
            )
        elif s.kind == "system":
            out.append(SystemMessage(s.text))
        else:
            out.append(ChatMessage(content=s.text, role="critic"))
    return out


def to_llama(steps: list[Step]) -> list[LIMessage]:
    out: list[LIMessage] = []
    for s in steps:
        if s.kind == "user":
            out.append(LIMessage(role=MessageRole.USER, content=s.text))
        elif s.kind == "assistant":
            out.append(LIMessage(role=MessageRole.ASSISTANT, content=s.text))
        elif s.kind == "calls" and s.openai_style:
            calls = [
                {"id": c, "type": "function", "function": {"name": "t", "arguments": "{}"}}
                for c in s.calls
            ]
            out.append(
                LIMessage(role=MessageRole.ASSISTANT, additional_kwargs={"tool_calls": calls})
            )
        elif s.kind == "calls":
            out.append(
                LIMessage(
                    role=MessageRole.ASSISTANT,
                    blocks=[
                        ToolCallBlock(tool_call_id=c, tool_name="t", tool_kwargs={})
                        for c in s.calls
                    ],
                )
            )
        elif s.kind == "result":
            out.append(
                LIMessage(
                    role=MessageRole.TOOL,
                    content=s.text,
                    additional_kwargs={"tool_call_id": s.answers},
                )
            )
        elif s.kind == "system":
            out.append(LIMessage(role=MessageRole.SYSTEM, content=s.text))
        else:
            out.append(LIMessage(role=MessageRole.DEVELOPER, content=s.text))
    return out


def assert_provider_accepts(shapes: list[Shape], cut: bool) -> None:
    """The checks of the module doc, on the shapes of a cut."""
    if cut and shapes:
        assert shapes[0].kind not in ("assistant", "tool"), "starts on an assistant/tool message"
    issued: dict[str, int] = {}
    answered: set[str] = set()
    for index, shape in enumerate(shapes):
        if shape.kind == "assistant":
            for call in shape.calls:
                issued[call] = index
        elif shape.kind == "tool":
            assert shape.answers in issued, "a tool result without its call"
            answered.add(str(shape.answers))
    # every call whose result exists in the conversation has it in the cut
    return None


def check_cut(full: list[Shape], kept: int, window: int | None) -> None:
    """``kept`` newest of ``full`` were handed out."""
    part = full[len(full) - kept :]
    assert_provider_accepts(part, cut=kept < len(full))
    calls_kept = {c for s in part if s.kind == "assistant" for c in s.calls}
    results_all = {s.answers for s in full if s.kind == "tool"}
    results_kept = {s.answers for s in part if s.kind == "tool"}
    assert (calls_kept & results_all) <= results_kept, "a tool call separated from its result"
    if window is not None:
        assert kept <= window


_PLANNER = ZepMemoryClient(path=":memory:")  # never written to: ZepMemory needs a client


def reference_cut(
    shapes: list[Shape], costs: list[int], window: int | None, budget: int, *, whole: bool = True
) -> int | None:
    """Where the newest whole turns within ``window`` and ``budget`` start, worked out over every
    message with the reference functions (the adapters look only at the newest messages)."""
    start = window_start(shapes, window, whole=whole)
    if sum(costs[start:]) <= budget:
        return start
    return fit_start(safe_starts(shapes, whole=whole), costs, budget, lo=start)


def reference_llama(memory: ZepMemory, messages: list[LIMessage]) -> list[LIMessage]:
    """What ``ZepMemory.get`` must return for ``messages``, from :func:`reference_cut`."""
    shapes = [chat_shape(m) for m in messages]
    costs = [memory._tokens([m]) for m in messages]
    found = reference_cut(shapes, costs, memory.last_n, memory.token_limit)
    return [] if found is None else messages[found:]


@settings(max_examples=3000, deadline=None)
@given(conversations(), st.integers(1, 40), st.integers(1, 600))
def test_core_cuts_are_valid_for_every_window_and_budget(
    steps: list[Step], window: int, budget: int
) -> None:
    lc = to_langchain(steps)
    li = to_llama(steps)
    shapes = [shape_of(m) for m in lc]
    # both adapters see the same conversation (LlamaIndex has no custom roles: developer)
    assert [Shape("system") if s.kind == "other" else s for s in shapes] == [
        chat_shape(m) for m in li
    ]
    for w in (window, None):
        start = window_start(shapes, w)
        check_cut(shapes, len(shapes) - start, w)
        got = cut_messages(lc, window=w, max_tokens=budget)
        assert got == lc[len(lc) - len(got) :]
        check_cut(shapes, len(got), w)
        assert count_tokens_approximately(got) <= budget
        # LlamaIndex's ZepMemory, on the same messages as stored (no store needed to plan)
        memory = ZepMemory(_PLANNER, "u", "s", last_n=w, token_limit=budget)
        raw = [to_zep_message(m) for m in li]
        mine, job = memory._plan(raw, None, 0, may_fold=False)
        assert job is None and mine == li[len(li) - len(mine) :]
        assert mine == reference_llama(memory, li)
        check_cut(shapes, len(mine), w)
        assert memory._tokens(mine) <= budget
    # a window read (the newest messages only) is cut as safely as the whole conversation
    suffix = shapes[-window:]
    start = window_start(suffix, window, whole=len(suffix) < window)
    check_cut(shapes, len(suffix) - start, window)


def test_fewer_only_to_stay_whole() -> None:
    """The longest valid suffix is returned: one more message would break a rule."""
    lc = to_langchain(
        [
            Step("user", "hi"),
            Step("calls", "", calls=("c1", "c2")),
            Step("result", "1", answers="c1"),
            Step("result", "2", answers="c2"),
            Step("assistant", "done"),
            Step("user", "next"),
            Step("assistant", "ok"),
        ]
    )
    shapes = [shape_of(m) for m in lc]
    ok = safe_starts(shapes)
    assert [i for i, v in enumerate(ok) if v] == [0, 5, 7]
    assert [len(cut_messages(lc, window=w)) for w in range(1, 8)] == [0, 2, 2, 2, 2, 2, 7]


_SESSIONS = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=conversations(), window=st.integers(1, 40), budget=st.integers(1, 600))
def test_adapters_hand_out_valid_cuts(
    client: ZepMemoryClient, steps: list[Step], window: int, budget: int
) -> None:
    """Through the store (every backend): LangChain history (window, max_tokens) and
    LlamaIndex ZepMemory (last_n, token_limit), sync and async. Each example uses new
    sessions, so the store shared by the examples does not matter."""
    session = f"s{next(_SESSIONS)}"
    lc = to_langchain(steps)
    li = to_llama(steps)
    full = [shape_of(m) for m in lc]
    ZepChatMessageHistory(session_id=session, user_id="u", client=client).add_messages(lc)
    ZepMemory(client, "u", session + "-li", defer_user_messages=False).put_messages(li)
    for w, b in ((window, None), (None, budget), (window, budget)):
        history = ZepChatMessageHistory(
            session_id=session, user_id="u", client=client, window=w, max_tokens=b
        )
        got = history.messages
        assert got == lc[len(lc) - len(got) :]
        check_cut(full, len(got), w)
        if b is not None:
            assert count_tokens_approximately(got) <= b
        assert asyncio.run(history.aget_messages()) == got
        assert got == cut_messages(lc, window=w, max_tokens=b)  # over every message
        memory = ZepMemory(client, "u", session + "-li", last_n=w, token_limit=b or 100_000)
        mine = memory.get()
        assert mine == li[len(li) - len(mine) :]
        assert mine == reference_llama(memory, li)
        check_cut(full, len(mine), w)
        assert memory._tokens(mine) <= (b or 100_000)
        assert asyncio.run(memory.aget()) == mine


def reference_plan(
    memory: ZepMemory, stored: list[LIMessage], raw: list[Message], *, may_fold: bool
) -> tuple[list[LIMessage], tuple[list[str], str] | None]:
    """What ``ZepMemory._plan`` must decide (its messages, or the lines and end of a summary
    to make first), worked out over every message with the reference functions."""
    held = list(memory._pending)
    everything = [*stored, *held]
    shapes = [chat_shape(m) for m in everything]
    costs = [memory._tokens([m]) for m in everything]
    budget = memory.token_limit
    start = window_start(shapes, memory.last_n)
    if sum(costs[start:]) <= budget:
        return everything[start:], None
    ok = safe_starts(shapes)
    if may_fold and memory.llm is not None and start < len(stored):
        keep = int(max(budget - memory._summary_cap(), 0) * memory.keep_ratio)
        k = fold_point(ok, costs, keep, lo=start, hi=len(stored))
        if k > start:
            lines = [transcript_line(str(m.role.value), chat_text(m)) for m in stored[start:k]]
            return [], (lines, str(raw[k - 1].uuid))
    found = fit_start(ok, costs, budget, lo=start, hi=len(stored) if held else len(everything))
    if found is None and held:
        raise InvalidInputError("the new input does not fit", field="token_limit")
    return ([] if found is None else everything[found:]), None


@settings(max_examples=1500, deadline=None)
@given(
    conversations(),
    st.lists(st.integers(1, 12), max_size=40),
    st.one_of(st.none(), st.integers(1, 40)),
    st.integers(1, 600),
    st.booleans(),
)
def test_zep_memory_plans_the_reference_cut_with_held_messages_and_folds(
    steps: list[Step], held: list[int], window: int | None, budget: int, fold: bool
) -> None:
    """``ZepMemory`` looks only at the newest messages: with user messages held (more than one
    run of them included), a window, and a summary to make, it decides what every message says."""
    li = to_llama(steps)
    raw = [to_zep_message(m).model_copy(update={"uuid": uuid.uuid4()}) for m in li]
    memory = ZepMemory(
        _PLANNER,
        "u",
        f"plan-{next(_SESSIONS)}",
        last_n=window,
        token_limit=budget,
        llm=MockLLM() if fold else None,
    )
    memory._pending = [LIMessage(role="user", content="held " * n) for n in held]
    try:
        expected = reference_plan(memory, li, raw, may_fold=fold)
    except InvalidInputError:
        with pytest.raises(InvalidInputError, match="does not fit token_limit"):
            memory._plan(raw, None, 0, may_fold=fold)
        return
    mine, job = memory._plan(raw, None, 0, may_fold=fold)
    assert (mine, None if job is None else (job.lines, job.through)) == expected
