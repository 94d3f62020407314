"""Benchmark of the LangChain adapters (not a test).

For sessions already holding 10, 100 and 1,000 messages, one chat turn is measured four ways,
each next to the same thing on LangChain's own ``InMemoryChatMessageHistory``:

- history ops: what ``RunnableWithMessageHistory`` asks of a history per turn (a history from
  the factory, ``messages`` twice, ``add_messages`` with the question and the answer);
- chain turn: a whole ``RunnableWithMessageHistory(prompt | GenericFakeChatModel)`` turn;
- middleware hooks: ``ZepMemoryMiddleware.before_agent`` + ``after_agent`` for one turn
  (baseline: the same two hooks on an in-memory history);
- agent turn: a whole ``create_agent`` turn (fake model, no tools) with the middleware
  (baseline: the same agent with the in-memory middleware).

Backend requests per turn come from ``client.stats`` (reads + writes; HTTP requests on Zep).
Embedded store on a temporary file; the Zep backend through the Zep-compatible test server when
it is available. Times are medians, in milliseconds. The last row loads only a 20-message
window (``window=20``) of the largest session; its baseline still holds the whole history.

On each Zep generation measured (Community Edition ``v2`` and Zep Cloud's ``v3`` and ``v4``
by default) the HTTP requests of a session's first turn are printed too.

Then, on the embedded store, a turn of ``ZepChatMessageHistory`` (add a question and its
answer, then read) on sessions of 1,000, 10,000 and 100,000 messages, with ``max_tokens=2000``,
``window=20`` and the whole history.

Run: ``python benchmarks/bench_langchain.py [--quick] [--api v4 ...]``.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core._api.deprecation import LangChainDeprecationWarning
from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from zep_memory_plugins import ZepMemoryClient
from zep_memory_plugins.langchain import (
    HISTORY_FACTORY_CONFIG,
    ZepChatMessageHistory,
    ZepHistoryFactory,
    ZepMemoryContext,
    ZepMemoryMiddleware,
)

warnings.filterwarnings("ignore", category=LangChainDeprecationWarning)

SIZES = (10, 100, 1000)
USER, SESSION = "bench-user", "bench-session"


def history_of(n: int) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for i in range(n // 2):
        out += [HumanMessage(f"question {i} " * 5), AIMessage(f"answer {i} " * 10)]
    return out


def answers() -> Iterator[AIMessage]:
    for i in itertools.count():
        yield AIMessage(f"fresh answer {i}")


def median_ms(run: Callable[[int], None], turns: int) -> float:
    times = []
    for i in range(turns):
        t0 = time.perf_counter()
        run(i)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


class InMemoryMiddleware(AgentMiddleware):
    """Baseline: the same two hooks as ZepMemoryMiddleware, on an InMemoryChatMessageHistory."""

    def __init__(self, history: InMemoryChatMessageHistory) -> None:
        super().__init__()
        self.history = history
        self.loaded = 0

    def before_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        from langchain_core.messages import RemoveMessage
        from langgraph.graph.message import REMOVE_ALL_MESSAGES

        past = self.history.messages
        self.loaded = len(past)
        return {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *past, *state["messages"]]}

    def after_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        self.history.add_messages(state["messages"][self.loaded :])
        return None


class _Runtime:
    def __init__(self, context: Any) -> None:
        self.context = context


def measure(
    client: ZepMemoryClient, n: int, turns: int, window: int | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {"n": f"{n:,}" + (f" (window={window})" if window else "")}
    seed = history_of(n)
    tag = f"{n}-{window}"

    # -- history ops ---------------------------------------------------------------------------
    factory = ZepHistoryFactory(client, window=window)
    sid = f"{SESSION}-h{tag}"
    factory(USER, sid).add_messages(seed)
    mem = InMemoryChatMessageHistory(messages=list(seed))

    def zep_ops(i: int) -> None:
        h = factory(USER, sid)
        _ = h.messages
        _ = h.messages
        h.add_messages([HumanMessage(f"q{i}"), AIMessage(f"a{i}")])

    def mem_ops(i: int) -> None:
        _ = mem.messages
        _ = mem.messages
        mem.add_messages([HumanMessage(f"q{i}"), AIMessage(f"a{i}")])

    zep_ops(-1)  # warm up (ownership verified once)
    stats = client.stats
    stats.reset()
    row["hist_zep"] = median_ms(zep_ops, turns)
    row["req"] = f"{stats.reads / turns:g} + {stats.writes / turns:g}"
    row["http"] = stats.http_requests / turns
    row["hist_mem"] = median_ms(mem_ops, turns)

    # -- chain turn ----------------------------------------------------------------------------
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{q}")]
    )
    sid = f"{SESSION}-c{tag}"
    factory(USER, sid).add_messages(seed)
    mem_store = {(USER, sid): InMemoryChatMessageHistory(messages=list(seed))}
    kw: dict[str, Any] = {
        "input_messages_key": "q",
        "history_messages_key": "history",
        "history_factory_config": HISTORY_FACTORY_CONFIG,
    }
    zep_chain = RunnableWithMessageHistory(
        prompt | GenericFakeChatModel(messages=answers()), factory, **kw
    )
    mem_chain = RunnableWithMessageHistory(
        prompt | GenericFakeChatModel(messages=answers()),
        lambda user_id, session_id: mem_store[(user_id, session_id)],
        **kw,
    )
    cfg = {"configurable": {"user_id": USER, "session_id": sid}}
    zep_chain.invoke({"q": "warm up"}, cfg)
    stats.reset()
    row["chain_zep"] = median_ms(lambda i: zep_chain.invoke({"q": f"q{i}"}, cfg), turns)
    row["chain_req"] = f"{stats.reads / turns:g} + {stats.writes / turns:g}"
    row["chain_mem"] = median_ms(lambda i: mem_chain.invoke({"q": f"q{i}"}, cfg), turns)

    # -- middleware hooks ----------------------------------------------------------------------
    sid = f"{SESSION}-m{tag}"
    factory(USER, sid).add_messages(seed)
    middleware = ZepMemoryMiddleware(client, window=window)
    runtime: Any = _Runtime(ZepMemoryContext(user_id=USER, session_id=sid))
    mem_mw = InMemoryMiddleware(InMemoryChatMessageHistory(messages=list(seed)))

    def hooks(mw: Any) -> Callable[[int], None]:
        def run(i: int) -> None:
            question = HumanMessage(f"q{i}", id=f"q{i}")
            update = mw.before_agent({"messages": [question]}, runtime) or {}
            merged = [m for m in update.get("messages", [question]) if m.type != "remove"]
            state = {
                "messages": [*merged, AIMessage(f"a{i}", id=f"a{i}")],
                "zep_memory_stored": update.get("zep_memory_stored", 0),
            }
            mw.after_agent(state, runtime)

        return run

    hooks(middleware)(-1)
    stats.reset()
    row["mw_zep"] = median_ms(hooks(middleware), turns)
    row["mw_req"] = f"{stats.reads / turns:g} + {stats.writes / turns:g}"
    row["mw_mem"] = median_ms(hooks(mem_mw), turns)

    # -- agent turn ----------------------------------------------------------------------------
    sid = f"{SESSION}-a{tag}"
    factory(USER, sid).add_messages(seed)
    ctx = ZepMemoryContext(user_id=USER, session_id=sid)
    zep_agent = create_agent(
        GenericFakeChatModel(messages=answers()),
        middleware=[ZepMemoryMiddleware(client, window=window)],
        context_schema=ZepMemoryContext,
    )
    mem_agent = create_agent(
        GenericFakeChatModel(messages=answers()),
        middleware=[InMemoryMiddleware(InMemoryChatMessageHistory(messages=list(seed)))],
    )
    zep_agent.invoke({"messages": [HumanMessage("warm up")]}, context=ctx)
    stats.reset()
    row["agent_zep"] = median_ms(
        lambda i: zep_agent.invoke({"messages": [HumanMessage(f"q{i}")]}, context=ctx), turns
    )
    row["agent_req"] = f"{stats.reads / turns:g} + {stats.writes / turns:g}"
    row["agent_mem"] = median_ms(
        lambda i: mem_agent.invoke({"messages": [HumanMessage(f"q{i}")]}), turns
    )
    return row


def first_turns(client: ZepMemoryClient) -> str:
    """HTTP requests of the first history turn of a session: read, then write the turn."""
    costs = []
    for case, user in (("a new user", "first-user-new"), ("a known user", USER)):
        history = ZepHistoryFactory(client)(user, f"first-session-{user}")
        before = client.stats.http_requests
        _ = history.messages
        history.add_messages([HumanMessage("hello"), AIMessage("hi")])
        costs.append(f"{client.stats.http_requests - before} for {case}")
    return "HTTP requests of a session's first turn (read + write): " + ", ".join(costs)


def runs(client: ZepMemoryClient, turns: int) -> list[dict[str, Any]]:
    """Every size with the full history, then the largest with a 20-message window."""
    return [measure(client, n, turns) for n in SIZES] + [measure(client, SIZES[-1], turns, 20)]


def table(backend: str, rows: list[dict[str, Any]]) -> str:
    def cell(zep: float, mem: float) -> str:
        return f"{zep:.2f} / {mem:.2f} (x{zep / mem:.1f})"

    lines = [
        f"### {backend}",
        "",
        "Times: ms per turn, ours / InMemoryChatMessageHistory (ratio). "
        "Requests: reads + writes per turn.",
        "",
        "| stored msgs | history: requests | history ops | chain: requests | chain turn "
        "| middleware: requests | middleware hooks | agent: requests | agent turn |",
        "|---:|:-:|---:|:-:|---:|:-:|---:|:-:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['req']} | {cell(r['hist_zep'], r['hist_mem'])} "
            f"| {r['chain_req']} | {cell(r['chain_zep'], r['chain_mem'])} "
            f"| {r['mw_req']} | {cell(r['mw_zep'], r['mw_mem'])} "
            f"| {r['agent_req']} | {cell(r['agent_zep'], r['agent_mem'])} |"
        )
    if rows and rows[0]["http"]:
        lines.append("")
        lines.append(
            "HTTP requests per history turn: "
            + ", ".join(f"{r['http']:g} at {r['n']}" for r in rows)
        )
    return "\n".join(lines)


def long_histories(tmp: Path, sizes: tuple[int, ...], turns: int) -> list[str]:
    """``ZepChatMessageHistory`` on long histories (embedded store), as markdown table lines.

    A turn: ``add_messages`` of a question and its answer, then ``messages`` (a write makes the
    next read cut again), median of ``turns``; with ``max_tokens=2000``, ``window=20`` and the
    whole history.
    """
    kinds: dict[str, dict[str, Any]] = {
        "max_tokens=2000": {"max_tokens": 2000},
        "window=20": {"window": 20},
        "whole history": {},
    }
    lines = [
        "| history | " + " | ".join(f"turn, {k} (ms)" for k in kinds) + " |",
        "|---:|" + "---:|" * len(kinds),
    ]
    for n in sizes:
        with ZepMemoryClient(path=tmp / f"long-{n}.sqlite3") as client:
            filler = ZepChatMessageHistory(session_id="long", user_id="u", client=client)
            for start in range(0, n, 1000):
                filler.add_messages(
                    [
                        HumanMessage(f"question {i} " * 5)
                        if i % 2 == 0
                        else AIMessage(f"answer {i}")
                        for i in range(start, min(start + 1000, n))
                    ]
                )
            cells = []
            for kwargs in kinds.values():
                history = ZepChatMessageHistory(
                    session_id="long", user_id="u", client=client, **kwargs
                )
                _ = history.messages  # held by the client's history cache from now on
                times = []
                for i in range(turns):
                    t0 = time.perf_counter()
                    history.add_messages([HumanMessage(f"new {i}"), AIMessage(f"reply {i}")])
                    assert history.messages
                    times.append(time.perf_counter() - t0)
                cells.append(f"{statistics.median(times) * 1e3:,.1f}")
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer turns")
    parser.add_argument(
        "--api",
        action="append",
        choices=("v1", "v2", "v3", "v4"),
        help="Zep generations to measure (repeatable; default v2, v3 and v4)",
    )
    args = parser.parse_args()
    turns = 5 if args.quick else 30

    print(f"## LangChain adapters ({platform.python_implementation()} {platform.python_version()})")
    print()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        client = stack.enter_context(ZepMemoryClient(path=Path(tmp) / "bench.db"))
        print(table("embedded store (SQLite file)", runs(client, turns)))
        print()
        long_sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
        print("### Long histories (embedded store, a turn = add 2 messages, then read; median)\n")
        print("\n".join(long_histories(Path(tmp), long_sizes, 5 if args.quick else 10)))
        print()
        try:
            from zep_memory_plugins.backends.zep import ZepBackend  # noqa: F401
            from zep_memory_plugins.testing import ZepTestServer
        except ImportError as exc:
            print(f"Zep backend: not measured (backend or test server unavailable: {exc})")
            return
        for api in args.api or ("v2", "v3", "v4"):
            server = stack.enter_context(ZepTestServer(api=api))
            url = server.api_url if api == "v3" else server.url  # as a v3 user gives it
            zep = stack.enter_context(ZepMemoryClient(base_url=url, api_key=server.api_key))
            zep.backend.probe()  # the generation, found before it is named
            where = f"Zep backend ({zep.backend.name}, test server on 127.0.0.1)"
            print(table(where, runs(zep, turns)))
            print()
            print(first_turns(zep))
            print()


if __name__ == "__main__":
    main()
