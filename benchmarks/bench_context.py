"""Benchmark of what goes to the model: a long agent conversation within a token budget.

A ``create_agent`` agent (LangChain) with ``ZepMemoryMiddleware(max_tokens=2000,
summarize=True)`` and a scripted fake chat model holds a 500-turn conversation; every third
turn makes two parallel tool calls (one failing every sixth turn) and turn 1 states a fact.
Printed, per backend (embedded store on a temporary file; the Zep backend through the
Zep-compatible test server when it is available):

- the largest request the model received, in tokens (``count_tokens_approximately``), and the
  budget;
- whether the summary still holds turn 1's fact at turn 500;
- whether a new process (a new client on the same store) continuing the session sends the
  same request as the first process;
- backend requests per turn (reads + writes) outside summarising turns, the most seen, and
  per summarising turn; the number of summaries stored and the model calls spent on them;
- the median and 95th-percentile time of a turn, in milliseconds (plain turns).

Run: ``python benchmarks/bench_context.py [--turns N]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "context"))
from ctx_fakes import BUDGET, FACT_WORD, ScriptedAgentModel, agent_on, text_of

from zep_memory_plugins import ZepMemoryClient
from zep_memory_plugins.langchain import ZepMemoryContext


def shown(request: list[BaseMessage]) -> list[tuple[str, str]]:
    return [(m.type, m.text) for m in request]


def run(make_client: Callable[[], ZepMemoryClient], turns: int) -> dict[str, Any]:
    client = make_client()
    model = ScriptedAgentModel()
    agent, middleware = agent_on(client, model)
    context = ZepMemoryContext(user_id="bench", session_id="long")
    plain: list[tuple[int, int, float]] = []
    http: list[int] = []
    summarising: list[tuple[int, int]] = []
    for n in range(1, turns):
        summaries = middleware.summaries_stored
        client.stats.reset()
        t0 = time.perf_counter()
        agent.invoke({"messages": [{"role": "user", "content": text_of(n)}]}, context=context)
        elapsed = (time.perf_counter() - t0) * 1000
        cost = (client.stats.reads, client.stats.writes)
        if middleware.summaries_stored > summaries:
            summarising.append(cost)
        elif n > 1:  # turn 1 also creates the user and the session
            plain.append((*cost, elapsed))
            http.append(client.stats.http_requests)
    # the last turn, from a new process first (its model call fails: nothing is stored)
    other = make_client()
    model_b = ScriptedAgentModel(fail_next=True)
    agent_b, _ = agent_on(other, model_b)
    with suppress(RuntimeError):  # the scripted failure, after the request was recorded
        agent_b.invoke({"messages": [{"role": "user", "content": text_of(turns)}]}, context=context)
    before = len(model.seen)
    agent.invoke({"messages": [{"role": "user", "content": text_of(turns)}]}, context=context)
    last = model.seen[before]
    times = sorted(t for _, _, t in plain)
    return {
        "largest request": max(count_tokens_approximately(r) for r in model.seen),
        "fact kept": FACT_WORD in last[0].text,
        "same context": shown(model_b.seen[0])[1:] == shown(last)[1:]
        and model_b.seen[0][0].text == last[0].text,
        "plain turns": len(plain),
        "plain reads+writes (max)": f"{max(r for r, _, _ in plain)} + "
        f"{max(w for _, w, _ in plain)}",
        "plain HTTP requests (max)": max(http) if any(http) else "-",
        "summarising turns": len(summarising),
        "summarising reads+writes (max)": (
            f"{max(r for r, _ in summarising)} + {max(w for _, w in summarising)}"
            if summarising
            else "-"
        ),
        "summary model calls": middleware.summary_calls,
        "turn ms (median)": round(statistics.median(times), 2),
        "turn ms (p95)": round(times[int(len(times) * 0.95)], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=500)
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()} on {platform.machine()}; {args.turns} turns, "
        f"max_tokens={BUDGET}"
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        path = Path(tmp) / "bench.db"

        def embedded() -> ZepMemoryClient:
            return stack.enter_context(ZepMemoryClient(path=path))

        results["embedded"] = run(embedded, args.turns)
        try:
            from zep_memory_plugins.testing import ZepTestServer

            server = stack.enter_context(ZepTestServer())
        except Exception as exc:
            print(f"Zep backend: not measured (test server unavailable: {exc})")
        else:

            def zep() -> ZepMemoryClient:
                return stack.enter_context(
                    ZepMemoryClient(base_url=server.url, api_key=server.api_key)
                )

            results[f"zep ({zep().backend.name}, test server)"] = run(zep, args.turns)
    names = list(results)
    rows = list(next(iter(results.values())))
    print("| figure | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for row in rows:
        print(f"| {row} | " + " | ".join(str(results[n][row]) for n in names) + " |")


if __name__ == "__main__":
    main()
