"""Benchmark of the LlamaIndex adapters (not a test).

One ``SimpleChatEngine`` turn (``MockLLM``) is measured for sessions already holding 10 and 200
messages, with five memories:

- ``ZepMemory``;
- ``ChatMemoryBuffer`` on ``ZepChatStore``; baseline: ``ChatMemoryBuffer`` on LlamaIndex's
  in-process ``SimpleChatStore``;
- ``Memory`` on ``ZepDBChatStore``; baseline: LlamaIndex's default ``Memory`` (its
  ``SQLAlchemyChatStore`` on a SQLite file through aiosqlite).

Requests per turn: for our adapters, backend operations from ``client.stats`` (reads + writes;
HTTP requests on Zep); for ``SimpleChatStore``, chat store calls (none leave the process); for
the default ``Memory``, SQL statements executed. Overhead: median time of a turn minus the
median time of the same turn on ``ChatMemoryBuffer`` + ``SimpleChatStore`` (the cheapest memory
LlamaIndex has), in milliseconds. Embedded store on a temporary file; the Zep backend through
the Zep-compatible test server when zep-python, starlette and uvicorn are installed.

Then ``ZepMemory`` alone on long histories (1,000, 10,000 and 100,000 messages, embedded store):
the first ``get()`` of a new client, a turn (``put_messages`` of two messages, then ``get()``
with the default token limit) and ``get_all()``; then ``Memory`` on ``ZepDBChatStore`` on the
same sizes, all but the newest 100 messages archived: the first ``aget()`` of a new client and a
turn. Last, ``get()`` of LlamaIndex's ``ChatMemoryBuffer`` (on ``SimpleChatStore`` and on
``ZepChatStore``) beside ``ZepMemory`` on 250, 500 and 1,000 messages, with the tokenizer calls
and characters tokenized per call.

Run: ``python benchmarks/bench_llama_index.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage, MockLLM
from llama_index.core.memory import ChatMemoryBuffer, Memory
from llama_index.core.memory.types import BaseMemory
from llama_index.core.storage.chat_store import SimpleChatStore
from llama_index.core.utils import get_tokenizer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from zep_memory_plugins import ZepMemoryClient
from zep_memory_plugins.llama_index import ZepChatStore, ZepDBChatStore, ZepMemory

USER, SESSION = "bench-user", "bench-session"
LIMIT = 1_000_000  # token limit high enough never to trim: every turn sees the whole history


def history_of(n: int) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for i in range(n // 2):
        out += [
            ChatMessage(role="user", content=f"question {i} " * 5),
            ChatMessage(role="assistant", content=f"answer {i} " * 10),
        ]
    return out


class CountingChatStore(SimpleChatStore):
    """SimpleChatStore counting the calls ChatMemoryBuffer makes to it."""

    reads: int = 0
    writes: int = 0

    def get_messages(self, key: str) -> list[ChatMessage]:
        self.reads += 1
        return super().get_messages(key)

    def add_message(self, key: str, message: ChatMessage, idx: int | None = None) -> None:
        self.writes += 1
        super().add_message(key, message, idx)


class Counter:
    """Requests of one setup, read before and after each turn."""

    def __init__(self, read: Callable[[], tuple[int, int, int]]) -> None:
        self.read = read


def client_counter(client: ZepMemoryClient) -> Counter:
    s = client.stats
    return Counter(lambda: (s.reads, s.writes, s.http_requests))


@contextmanager
def backends() -> Iterator[list[tuple[str, Callable[[], ZepMemoryClient]]]]:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        counter = iter(range(10**6))
        found: list[tuple[str, Callable[[], ZepMemoryClient]]] = [
            ("embedded", lambda: ZepMemoryClient(path=tmp / f"b{next(counter)}.db"))
        ]
        deps = ("zep_python", "starlette", "uvicorn")
        if all(importlib.util.find_spec(m) is not None for m in deps):
            from zep_memory_plugins.testing import ZepTestServer

            server = stack.enter_context(ZepTestServer())

            def zep() -> ZepMemoryClient:
                server.reset()
                return ZepMemoryClient(base_url=server.url, api_key=server.api_key)

            found.append(("zep", zep))
        yield found


def setups(
    make_client: Callable[[], ZepMemoryClient], n: int
) -> Iterator[tuple[str, BaseMemory, Counter, Callable[[], None]]]:
    """(name, memory, request counter, closer) for each setup, seeded with ``n`` messages."""
    history = history_of(n)

    client = make_client()
    memory: BaseMemory = ZepMemory(client, USER, SESSION, token_limit=LIMIT)
    memory.put_messages(history)
    yield "ZepMemory", memory, client_counter(client), client.close

    client = make_client()
    store = ZepChatStore(client, USER)
    store.set_messages(SESSION, history)
    memory = ChatMemoryBuffer.from_defaults(
        chat_store=store, chat_store_key=SESSION, token_limit=LIMIT
    )
    yield "ChatMemoryBuffer + ZepChatStore", memory, client_counter(client), client.close

    client = make_client()
    memory = Memory.from_defaults(
        session_id=SESSION, chat_store=ZepDBChatStore(client, USER), token_limit=LIMIT
    )
    memory.put_messages(history)
    yield "Memory + ZepDBChatStore", memory, client_counter(client), client.close


def baselines(tmp: Path, n: int) -> Iterator[tuple[str, BaseMemory, Counter, Callable[[], None]]]:
    history = history_of(n)
    simple = CountingChatStore()
    simple.set_messages(SESSION, history)
    memory: BaseMemory = ChatMemoryBuffer.from_defaults(
        chat_store=simple, chat_store_key=SESSION, token_limit=LIMIT
    )
    yield (
        "ChatMemoryBuffer + SimpleChatStore",
        memory,
        Counter(lambda: (simple.reads, simple.writes, 0)),
        lambda: None,
    )

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp / f'default-{n}.db'}")
    counts = {"read": 0, "write": 0}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(_c: Any, _cur: Any, statement: str, *_args: Any) -> None:
        counts["read" if statement.lstrip().upper().startswith("SELECT") else "write"] += 1

    memory = Memory.from_defaults(session_id=SESSION, async_engine=engine, token_limit=LIMIT)
    memory.put_messages(history)
    yield (
        "Memory (LlamaIndex default, SQLAlchemy)",
        memory,
        Counter(lambda: (counts["read"], counts["write"], 0)),
        lambda: None,
    )


def measure(memory: BaseMemory, counter: Counter, turns: int) -> tuple[float, float, float, float]:
    chat = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=8), memory=memory)
    chat.chat("warm-up")
    times = []
    r0, w0, h0 = counter.read()
    for i in range(turns):
        t0 = time.perf_counter()
        chat.chat(f"turn {i}")
        times.append((time.perf_counter() - t0) * 1000)
    r1, w1, h1 = counter.read()
    return statistics.median(times), (r1 - r0) / turns, (w1 - w0) / turns, (h1 - h0) / turns


def long_histories(tmp: Path, sizes: tuple[int, ...], turns: int) -> list[str]:
    """``ZepMemory`` on long histories (embedded store), as markdown table lines.

    For each size: the first ``get()`` of a new client (a new process: the whole history read
    into the client's history cache), then the median of ``turns`` turns (``put_messages`` of a
    question and its answer, then ``get()`` with the default token limit), and of ``get_all()``.
    """
    lines = [
        "| history | first get(), new client (ms) | turn: put_messages + get() (ms) "
        "| get_all() (ms) | messages get() returned |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        path = tmp / f"long-{n}.sqlite3"
        with ZepMemoryClient(path=path) as client:
            ZepMemory.from_defaults(client, USER, SESSION, chat_history=history_of(n))
        with ZepMemoryClient(path=path) as client:
            memory = ZepMemory(client, USER, SESSION)
            t0 = time.perf_counter()
            memory.get()
            first = time.perf_counter() - t0
            times, alls, got = [], [], 0
            for i in range(turns):
                question = ChatMessage(role="user", content=f"new question {i}")
                answer = ChatMessage(role="assistant", content=f"new answer {i}")
                t0 = time.perf_counter()
                memory.put_messages([question, answer])
                got = len(memory.get())
                times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                everything = memory.get_all()
                alls.append(time.perf_counter() - t0)
                assert len(everything) == n + 2 * (i + 1)
        lines.append(
            f"| {n:,} | {first * 1e3:,.0f} | {statistics.median(times) * 1e3:,.1f} "
            f"| {statistics.median(alls) * 1e3:,.0f} | {got} |"
        )
    return lines


def memory_on_long_histories(tmp: Path, sizes: tuple[int, ...], turns: int) -> list[str]:
    """``Memory`` on ``ZepDBChatStore`` on long sessions (embedded store), as markdown lines.

    Each session holds ``n`` messages of which ``Memory`` archived all but the newest 100 (one
    ``archive_oldest_messages`` call, as its queue management makes). For each size: the first
    ``aget()`` of a new client (a new process), and the median of ``turns`` turns
    (``aput_messages`` of a question and its answer, then ``aget()``).
    """
    lines = [
        "| history | first aget(), new client (ms) | turn: aput_messages + aget() (ms) "
        "| messages aget() returned |",
        "|---:|---:|---:|---:|",
    ]
    for n in sizes:
        path = tmp / f"memory-{n}.sqlite3"
        with ZepMemoryClient(path=path) as client:
            asyncio.run(_archived_session(ZepDBChatStore(client, USER), n))
        with ZepMemoryClient(path=path) as client:
            first, turn, got = asyncio.run(_memory_turns(ZepDBChatStore(client, USER), turns))
        lines.append(f"| {n:,} | {first:,.1f} | {turn:,.1f} | {got} |")
    return lines


async def _archived_session(store: ZepDBChatStore, n: int) -> None:
    history = history_of(n)
    for start in range(0, n, 5_000):
        await store.add_messages(SESSION, history[start : start + 5_000])
    await store.archive_oldest_messages(SESSION, n - 100)


async def _memory_turns(store: ZepDBChatStore, turns: int) -> tuple[float, float, int]:
    """(first ``aget()`` ms, median turn ms, messages the last ``aget()`` returned)."""
    memory = Memory.from_defaults(session_id=SESSION, chat_store=store, token_limit=3_000)
    t0 = time.perf_counter()
    await memory.aget()
    first = time.perf_counter() - t0
    times, got = [], 0
    for i in range(turns):
        question = ChatMessage(role="user", content=f"new question {i}")
        answer = ChatMessage(role="assistant", content=f"new answer {i}")
        t0 = time.perf_counter()
        await memory.aput_messages([question, answer])
        got = len(await memory.aget())
        times.append(time.perf_counter() - t0)
    return first * 1e3, statistics.median(times) * 1e3, got


def buffer_on_long_histories(tmp: Path, sizes: tuple[int, ...], repeats: int) -> list[str]:
    """``get()`` with the default token limit (3,000) on long histories, as markdown table lines.

    LlamaIndex's ``ChatMemoryBuffer`` (on its ``SimpleChatStore`` and on ``ZepChatStore``) and
    ``ZepMemory``, on the same history, each with a tokenizer recording what it is given
    (LlamaIndex's default tokenizer underneath): median time of ``repeats`` calls, after one
    call that fills the history cache and the tokenizer's own caches, and the tokenizer calls
    and characters tokenized per call.
    """
    lines = [
        "| history | memory | `get()` (ms) | tokenizer calls per `get()` "
        "| characters tokenized per `get()` | messages returned |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for n in sizes:
        with ZepMemoryClient(path=tmp / f"buffer-{n}.sqlite3") as client:
            for name, make in _buffer_memories(client, n):
                ms, calls, characters, got = _timed_gets(make, repeats)
                lines.append(
                    f"| {n:,} | {name} | {ms:,.1f} | {calls:,.0f} | {characters:,.0f} | {got} |"
                )
    return lines


MakeMemory = Callable[[Callable[[str], list[int]]], BaseMemory]


def _buffer_memories(client: ZepMemoryClient, n: int) -> list[tuple[str, MakeMemory]]:
    """The three memories of :func:`buffer_on_long_histories`, on a history of ``n`` messages."""
    history = history_of(n)
    ZepChatStore(client, USER).set_messages("buffer", history)
    ZepMemory.from_defaults(client, USER, "memory", chat_history=history)
    simple = SimpleChatStore()
    simple.set_messages("s", history)

    def on_simple(tokenizer: Callable[[str], list[int]]) -> BaseMemory:
        return ChatMemoryBuffer.from_defaults(
            chat_store=simple, chat_store_key="s", tokenizer_fn=tokenizer
        )

    def on_zep(tokenizer: Callable[[str], list[int]]) -> BaseMemory:
        return ChatMemoryBuffer.from_defaults(
            chat_store=ZepChatStore(client, USER), chat_store_key="buffer", tokenizer_fn=tokenizer
        )

    def zep_memory(tokenizer: Callable[[str], list[int]]) -> BaseMemory:
        return ZepMemory(client, USER, "memory", tokenizer_fn=tokenizer)

    return [
        ("ChatMemoryBuffer + SimpleChatStore", on_simple),
        ("ChatMemoryBuffer + ZepChatStore", on_zep),
        ("ZepMemory", zep_memory),
    ]


def _timed_gets(make: MakeMemory, repeats: int) -> tuple[float, float, float, int]:
    """Median ms, tokenizer calls and characters tokenized of ``get()``; messages returned."""
    tokenize = get_tokenizer()
    given: list[int] = []

    def recording(text: str) -> list[int]:
        given.append(len(text))
        return list(tokenize(text))

    memory = make(recording)
    memory.get()  # fills the caches
    times, calls, characters, got = [], [], [], 0
    for _ in range(repeats):
        given.clear()
        t0 = time.perf_counter()
        got = len(memory.get())
        times.append(time.perf_counter() - t0)
        calls.append(len(given))
        characters.append(sum(given))
    median = statistics.median
    return median(times) * 1e3, median(calls), median(characters), got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer turns")
    args = parser.parse_args()
    turns = 5 if args.quick else 30
    sizes = (10, 200)
    print(f"# LlamaIndex adapters: one SimpleChatEngine turn ({turns} turns, median)\n")
    print(f"Python {platform.python_version()}, {platform.machine()}\n")
    print(
        "| memory | backend | history | reads/turn | writes/turn | HTTP/turn | ms/turn "
        "| overhead ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as d, backends() as found:
        tmp = Path(d)
        for n in sizes:
            rows: list[tuple[str, str, float, float, float, float]] = []
            for name, memory, counter, close in baselines(tmp, n):
                ms, r, w, h = measure(memory, counter, turns)
                rows.append((name, "in-process" if "Simple" in name else "sqlite", ms, r, w, h))
                close()
            reference = rows[0][2]
            for backend, make_client in found:
                for name, memory, counter, close in setups(make_client, n):
                    ms, r, w, h = measure(memory, counter, turns)
                    rows.append((name, backend, ms, r, w, h))
                    close()
            for name, backend, ms, r, w, h in rows:
                http = f"{h:.1f}" if backend == "zep" else "-"
                print(
                    f"| {name} | {backend} | {n} | {r:.1f} | {w:.1f} | {http} | {ms:.2f} "
                    f"| {ms - reference:+.2f} |"
                )
    print(
        "\nSimpleChatStore's count is of chat store calls (in-process); the default Memory's is of "
        "SQL statements (SELECT = read)."
    )
    long_sizes = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    print(f"\n## ZepMemory on long histories (embedded store, {turns // 3} turns, median)\n")
    with tempfile.TemporaryDirectory() as d:
        print("\n".join(long_histories(Path(d), long_sizes, max(turns // 3, 3))))
    print(
        "\n## Memory on ZepDBChatStore on long histories (embedded store, all but the newest 100 "
        f"messages archived, {turns // 3} turns, median)\n"
    )
    with tempfile.TemporaryDirectory() as d:
        print("\n".join(memory_on_long_histories(Path(d), long_sizes, max(turns // 3, 3))))
    buffer_sizes = (250, 500) if args.quick else (250, 500, 1_000)
    print("\n## get() on long histories: LlamaIndex's ChatMemoryBuffer and ZepMemory\n")
    with tempfile.TemporaryDirectory() as d:
        print("\n".join(buffer_on_long_histories(Path(d), buffer_sizes, 3)))


if __name__ == "__main__":
    main()
