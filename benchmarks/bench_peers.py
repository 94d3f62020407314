"""Ours against the stores a LangChain or LlamaIndex developer would otherwise pick (not a test).

In one run, on the same SQLite file for each size (a fresh one per size, every store's tables
in it), ours and the peers:

- LangChain: ``ZepChatMessageHistory`` (embedded store) against langchain-community's
  ``SQLChatMessageHistory`` (SQLAlchemy on the same file);
- LlamaIndex: ``ZepChatStore`` (embedded store) against ``SQLiteChatStore`` from
  ``llama-index-storage-chat-store-sqlite``.

Each store holds one conversation of 100, 10,000 and 100,000 messages (alternating user
questions and answers of 50 to 110 characters), and is timed on:

- last 20: ours ``ZepChatMessageHistory(window=20).messages``; the LangChain peer has no
  window, so ``messages[-20:]``; on the LlamaIndex side both have only ``get_messages(key)``
  (``ChatMemoryBuffer`` trims afterwards), so ``get_messages(key)[-20:]``. On the LangChain
  side each of our turns is a run of 10 reads (the peer's, one read), and the first read of
  each run (caches cold after the peer's turn) is also given on its own;
- whole history, first read: a new client (ours) or store object (theirs) on the file, then one
  read of everything, as a new process does;
- whole history, again: the same object reads again after a write, as every turn of a
  conversation does (ours: through the history cache, one read of the newest messages; the
  peers read everything every time);
- append: LangChain ``add_messages`` in batches of 100 (both); LlamaIndex ``add_message``, one
  message at a time (``BaseChatStore`` has no batch append; ``ChatMemoryBuffer.put`` calls it).

Times are medians over the repeats, ours and the peer taking turns (so that load from other
processes on a shared machine hits both alike); ratios are the peer's time over ours (or our
rate over the peer's). Memory: the peak resident set size of reading 100,000 messages, each
reader in a child process of its own (Python, the libraries, opening the store, one whole
read), and how much of it the read itself added.

The peers come from the ``bench`` extra: ``pip install -e ".[bench]"`` (``make bench`` does).

Run: ``python benchmarks/bench_peers.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from llama_index.core.llms import ChatMessage

from zep_memory_plugins import ZepMemoryClient
from zep_memory_plugins.langchain import ZepChatMessageHistory
from zep_memory_plugins.llama_index import ZepChatStore

try:
    with warnings.catch_warnings():  # "langchain-community is being sunset": it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.chat_message_histories import SQLChatMessageHistory
    from llama_index.storage.chat_store.sqlite import SQLiteChatStore
except ImportError as exc:  # pragma: no cover - the bench extra is missing
    raise SystemExit(
        f"bench_peers needs the peers of the bench extra ({exc}): pip install -e '.[bench]'"
    ) from None

USER = "bench-user"
LC_KEY, LI_KEY = "lc", "li"


def lc_messages(start: int, count: int) -> list[BaseMessage]:
    return [
        HumanMessage(f"question {i} " * 5) if i % 2 == 0 else AIMessage(f"answer {i} " * 10)
        for i in range(start, start + count)
    ]


def li_messages(start: int, count: int) -> list[ChatMessage]:
    return [
        ChatMessage(role="user", content=f"question {i} " * 5)
        if i % 2 == 0
        else ChatMessage(role="assistant", content=f"answer {i} " * 10)
        for i in range(start, start + count)
    ]


# -- the stores ---------------------------------------------------------------------------------


def ours_client(path: Path) -> ZepMemoryClient:
    return ZepMemoryClient(path=path)


def peer_lc(path: Path, session: str) -> SQLChatMessageHistory:
    return SQLChatMessageHistory(session_id=session, connection=f"sqlite:///{path}")


def peer_li(path: Path) -> SQLiteChatStore:
    return SQLiteChatStore.from_uri(f"sqlite:///{path}")


def fill(path: Path, size: int) -> None:
    """Every store gets its conversation of ``size`` messages (in batches where it can)."""
    client = ours_client(path)  # first: our store refuses a file of another application's
    history = ZepChatMessageHistory(session_id=LC_KEY, user_id=USER, client=client)
    for start in range(0, size, 1000):
        history.add_messages(lc_messages(start, min(1000, size - start)))
    ZepChatStore(user_id=USER, client=client).set_messages(LI_KEY, li_messages(0, size))
    client.close()
    theirs = peer_lc(path, LC_KEY)
    for start in range(0, size, 1000):
        theirs.add_messages(lc_messages(start, min(1000, size - start)))
    peer_li(path).set_messages(LI_KEY, li_messages(0, size))  # an append in this store


# -- timing -------------------------------------------------------------------------------------


def median_pair(
    ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int, check: int | None = None
) -> tuple[float, float]:
    """Median seconds of ``ours()`` and ``theirs()``, taking turns (after one warm-up each)."""
    return _timed_pair(ours, theirs, repeats, check, 1)[0]


def last20_pair(
    ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int, check: int
) -> tuple[tuple[float, float], float]:
    """The last-20 figures: (median of ours and the peer's, median of our first reads).

    A read of a few messages takes a fraction of a millisecond, and the first one after
    something else ran (the other store's read, or a pause) finds the processor's caches cold:
    on the 2-core test machine it takes 3 to 6 times as long as the next ones, whatever the
    store does. So each of our turns is a run of reads (every one counts), and the median of
    the first read of each run is given on its own. The peer's reads take milliseconds or more:
    one per turn.
    """
    return _timed_pair(ours, theirs, repeats, check, LAST20_RUN)


#: Our reads in a row per turn, for the last-20 figures.
LAST20_RUN = 10


def _timed_pair(
    ours: Callable[[], Any], theirs: Callable[[], Any], repeats: int, check: int | None, run: int
) -> tuple[tuple[float, float], float]:
    for f in (ours, theirs):
        got = f()
        if check is not None:
            assert len(got) == check, (len(got), check)
    mine: list[float] = []
    peer: list[float] = []
    firsts: list[float] = []
    for r in range(repeats):
        pair = ((ours, mine, run), (theirs, peer, 1))
        for f, times, calls in pair if r % 2 == 0 else pair[::-1]:
            for i in range(calls):
                t0 = time.perf_counter()
                f()
                times.append(time.perf_counter() - t0)
                if f is ours and i == 0:
                    firsts.append(times[-1])
    return (statistics.median(mine), statistics.median(peer)), statistics.median(firsts)


def _rate(add: Callable[[Any], None], items: list[Any], count: int) -> float:
    t0 = time.perf_counter()
    for item in items:
        add(item)
    return count / (time.perf_counter() - t0)


def _rates(ours: Callable[[], float], theirs: Callable[[], float]) -> tuple[float, float]:
    """Median rates of three rounds, taking turns."""
    mine: list[float] = []
    peer: list[float] = []
    for r in range(3):
        if r % 2:
            peer.append(theirs())
            mine.append(ours())
        else:
            mine.append(ours())
            peer.append(theirs())
    return statistics.median(mine), statistics.median(peer)


def measure_langchain(path: Path, size: int, repeats: int, appends: int) -> dict[str, Any]:
    """The LangChain figures of one size, with a client of its own (see the module docstring)."""
    gc.collect()
    client = ours_client(path)
    figures: dict[str, Any] = {}
    windowed = ZepChatMessageHistory(session_id=LC_KEY, user_id=USER, client=client, window=20)
    theirs = peer_lc(path, LC_KEY)

    def last20() -> list[BaseMessage]:
        windowed.refresh()
        return windowed.messages

    figures["last 20"], figures["last 20, first of a run"] = last20_pair(
        last20, lambda: theirs.messages[-20:], repeats, check=min(20, size)
    )

    def first() -> list[BaseMessage]:
        fresh = ours_client(path)
        try:
            return ZepChatMessageHistory(session_id=LC_KEY, user_id=USER, client=fresh).messages
        finally:
            fresh.close()

    whole_repeats = max(3, repeats // 3) if size >= 100_000 else repeats
    figures["whole first"] = median_pair(
        first, lambda: peer_lc(path, LC_KEY).messages, whole_repeats, check=size
    )
    history = ZepChatMessageHistory(session_id=LC_KEY, user_id=USER, client=client)
    _ = history.messages  # held by the client's history cache from now on

    def again() -> list[BaseMessage]:
        history.refresh()  # what a write does (a turn writes, then reads again)
        return history.messages

    figures["whole again"] = median_pair(again, lambda: theirs.messages, whole_repeats, check=size)
    # appends, last: they make the conversation longer
    batches = [lc_messages(size + i * 100, 100) for i in range(appends // 100)]
    figures["append"] = _rates(
        lambda: _rate(history.add_messages, batches, appends),
        lambda: _rate(theirs.add_messages, batches, appends),
    )
    client.close()
    return figures


def measure_llama_index(path: Path, size: int, repeats: int, appends: int) -> dict[str, Any]:
    """The LlamaIndex figures of one size, with a client of its own."""
    gc.collect()
    client = ours_client(path)
    figures: dict[str, Any] = {}
    ours = ZepChatStore(user_id=USER, client=client)
    theirs = peer_li(path)
    figures["last 20"] = median_pair(  # whole reads: milliseconds, no runs needed
        lambda: ours.get_messages(LI_KEY)[-20:],
        lambda: theirs.get_messages(LI_KEY)[-20:],
        repeats,
        check=min(20, size),
    )

    def first() -> list[ChatMessage]:
        fresh = ours_client(path)
        try:
            return ZepChatStore(user_id=USER, client=fresh).get_messages(LI_KEY)
        finally:
            fresh.close()

    whole_repeats = max(3, repeats // 3) if size >= 100_000 else repeats
    figures["whole first"] = median_pair(
        first, lambda: peer_li(path).get_messages(LI_KEY), whole_repeats, check=size
    )
    figures["whole again"] = median_pair(
        lambda: ours.get_messages(LI_KEY),
        lambda: theirs.get_messages(LI_KEY),
        whole_repeats,
        check=size,
    )
    singles = li_messages(size, appends // 4)
    figures["append"] = _rates(
        lambda: _rate(lambda m: ours.add_message(LI_KEY, m), singles, len(singles)),
        lambda: _rate(lambda m: theirs.add_message(LI_KEY, m), singles, len(singles)),
    )
    client.close()
    return figures


# -- memory: one child process per reader -------------------------------------------------------


READERS = {
    "ours: client.memory.get_messages": "embedded",
    "ours: ZepChatMessageHistory.messages": "lc",
    "ours: ZepChatStore.get_messages": "li",
    "SQLChatMessageHistory.messages": "peer-lc",
    "SQLiteChatStore.get_messages": "peer-li",
}


def _peak_kib() -> int:
    """This process's peak resident set size, in KiB.

    ``VmHWM`` of ``/proc/self/status``: the high-water mark of this program's own memory
    (``getrusage``'s ``ru_maxrss`` would carry over the parent's, from before the ``exec``).
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover - not Linux


def rss_child(kind: str, path: Path) -> None:
    """In a child process: open the store, read the whole conversation once, print peaks."""
    if kind in ("embedded", "lc", "li"):
        client = ours_client(path)
        if kind == "embedded":
            read: Callable[[], Any] = lambda: client.memory.get_messages(LC_KEY)  # noqa: E731
        elif kind == "lc":
            history = ZepChatMessageHistory(session_id=LC_KEY, user_id=USER, client=client)
            read = lambda: history.messages  # noqa: E731
        else:
            store = ZepChatStore(user_id=USER, client=client)
            read = lambda: store.get_messages(LI_KEY)  # noqa: E731
    elif kind == "peer-lc":
        theirs_lc = peer_lc(path, LC_KEY)
        read = lambda: theirs_lc.messages  # noqa: E731
    else:
        theirs_li = peer_li(path)
        read = lambda: theirs_li.get_messages(LI_KEY)  # noqa: E731
    before = _peak_kib()
    count = len(read())
    print(json.dumps({"before": before, "peak": _peak_kib(), "count": count}))


def peak_rss(path: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for name, kind in READERS.items():
        done = subprocess.run(
            [sys.executable, __file__, "--rss-child", kind, str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        got = json.loads(done.stdout.strip().splitlines()[-1])
        out[name] = (got["peak"], got["peak"] - got["before"], got["count"])
    return out


# -- output -------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:,.2f}" if ms < 10 else f"{ms:,.0f}"


def _times(pair: tuple[float, float]) -> str:
    ours, peer = pair
    return f"{_ms(ours)} / {_ms(peer)} (x{peer / ours:,.1f})"


def _rate_pair(pair: tuple[float, float]) -> str:
    ours, peer = pair
    return f"{ours:,.0f} / {peer:,.0f} (x{ours / peer:,.1f})"


def _print_table(results: dict[int, Any], side: str, last20: str, append: str) -> None:
    """One framework's table (``side``: ``lc`` or ``li``), a row per size."""
    print(f"| messages | {last20} | whole history, first read | whole history, again | {append} |")
    print("|---:|---:|---:|---:|---:|")
    for size, both in results.items():
        f = both[side]
        print(
            f"| {size:,} | {_times(f['last 20'])} | {_times(f['whole first'])} "
            f"| {_times(f['whole again'])} | {_rate_pair(f['append'])} |"
        )


def _print_first_reads(results: dict[int, Any], side: str) -> None:
    """The last-20 figures of the first read of each run (see :func:`last20_pair`)."""
    cells = ", ".join(
        f"{size:,}: {_ms(both[side]['last 20, first of a run'])}" for size, both in results.items()
    )
    print(f"Last 20, ours, the first read of each run of {LAST20_RUN} (ms): {cells}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--rss-child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child[0], Path(args.rss_child[1]))
        return
    sizes = [100, 1_000, 10_000] if args.quick else [100, 10_000, 100_000]
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"peers-{size}.sqlite3"
            fill(path, size)
            if size == sizes[-1]:
                memory = peak_rss(path)
            repeats = 9 if size >= 100_000 else 21
            results[size] = {
                "lc": measure_langchain(path, size, repeats, appends=2_000),
                "li": measure_llama_index(path, size, repeats, appends=2_000),
            }

    load = os.getloadavg()
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs "
        f"(load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end); "
        f"langchain-core {version('langchain-core')}, langchain-community "
        f"{version('langchain-community')}, llama-index-core {version('llama-index-core')}, "
        f"llama-index-storage-chat-store-sqlite "
        f"{version('llama-index-storage-chat-store-sqlite')}, SQLAlchemy {version('sqlalchemy')}"
    )
    print()
    print("#### LangChain: ZepChatMessageHistory / SQLChatMessageHistory")
    print()
    print("ms per read (median), ours / peer (how many times faster ours is); append: msg/s.")
    print()
    _print_table(results, "lc", "last 20", "append, batches of 100 (msg/s)")
    print()
    _print_first_reads(results, "lc")
    print()
    print("#### LlamaIndex: ZepChatStore / SQLiteChatStore")
    print()
    _print_table(
        results, "li", "last 20 (get_messages()[-20:])", "append, one add_message each (msg/s)"
    )
    print()
    print(f"#### Memory: reading {sizes[-1]:,} messages, each reader in a process of its own")
    print()
    print("| reader | peak RSS (MiB) | added by the read (MiB) |")
    print("|---|---:|---:|")
    for name, (peak, added, count) in memory.items():
        assert count == sizes[-1], (name, count)
        print(f"| {name} | {peak / 1024:,.0f} | {added / 1024:,.0f} |")


if __name__ == "__main__":
    main()
