"""Benchmark: the embedded backend's async methods and the event loop (not a test).

Prints a markdown table:
- event-loop stall: while another process holds the store's write lock for 2 s, this process
  awaits an async write (which has to wait for the lock) and async reads, and a heartbeat task
  asks to wake every 10 ms; the figure is its worst lateness (target: <= 50 ms). For comparison,
  the same write called inline on the loop (what the async methods of release 0.1.0 did);
- async vs sync reads through the client: the last 20 of 1,000 messages, and one session
  (target: async within 2x of sync);
- async vs sync appends (one message, and batches of 100), where nothing else holds the lock.

Run: ``python benchmarks/bench_event_loop.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from zep_memory_plugins import Message, ZepMemoryClient

HOLD_SECONDS = 2.0
BEAT_SECONDS = 0.010

LOCKER = textwrap.dedent(
    """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    """
)


def hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a process that holds the store's write lock for ``seconds``, once it says so."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


async def worst_lateness(
    path: Path, work: Callable[[], Awaitable[Any]]
) -> tuple[float, int, float]:
    """Run ``work`` beside a 10 ms heartbeat while another process holds the write lock.

    Returns (worst lateness of a beat in s, beats, seconds of work).
    """
    locker = hold_write_lock(path, HOLD_SECONDS)  # before the heartbeat starts
    worst = 0.0
    beats = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal worst, beats
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(BEAT_SECONDS)
            worst = max(worst, time.perf_counter() - t0 - BEAT_SECONDS)
            beats += 1

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(BEAT_SECONDS * 3)  # the heartbeat is running
    t0 = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - t0
    stop.set()
    await beat
    locker.wait()
    return worst, beats, elapsed


def bench_stall(path: Path) -> dict[str, tuple[float, int, float]]:
    """The heartbeat's worst lateness while another process holds the write lock."""
    client = ZepMemoryClient(path=path)
    client.memory.add_messages("stall", [Message(role="user", content="first")])
    results = {}

    async def through_the_client() -> None:
        write = asyncio.create_task(
            client.memory.aadd_messages("stall", [Message(role="user", content="waits")])
        )
        reads = 0
        while not write.done():  # reads go on while the write waits
            await client.memory.aget_messages("stall", lastn=20)
            reads += 1
            await asyncio.sleep(0.05)
        await write
        assert reads > 0

    async def inline() -> None:
        store = client._backend.store  # type: ignore[attr-defined]
        store.add_messages("stall", [Message(role="user", content="inline")])

    results["client"] = asyncio.run(worst_lateness(path, through_the_client))
    results["inline"] = asyncio.run(worst_lateness(path, inline))
    assert len(client.memory.get_messages("stall")) == 3
    client.close()
    return results


def median_seconds(call: Callable[[], Any], repeats: int) -> float:
    """Median seconds of a sync call."""
    for _ in range(20):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def amedian_seconds(call: Callable[[], Awaitable[Any]], repeats: int) -> float:
    """Median seconds of an async call, awaited one at a time on one loop."""

    async def run() -> float:
        for _ in range(20):
            await call()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            await call()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return asyncio.run(run())


def bench_speed(path: Path, repeats: int) -> list[tuple[str, float, float]]:
    """(operation, sync seconds, async seconds) for reads and appends."""
    client = ZepMemoryClient(path=path)
    for start in range(0, 1000, 100):
        client.memory.add_messages(
            "speed", [Message(role="user", content=f"history {start + i}") for i in range(100)]
        )
    memory = client.memory
    one = [Message(role="user", content="one more")]
    hundred = [Message(role="user", content=f"batch {i}") for i in range(100)]
    rows = [
        (
            "read last 20 of 1,000 messages",
            median_seconds(lambda: memory.get_messages("speed", lastn=20), repeats),
            amedian_seconds(lambda: memory.aget_messages("speed", lastn=20), repeats),
        ),
        (
            "read one session",
            median_seconds(lambda: memory.get_session("speed"), repeats),
            amedian_seconds(lambda: memory.aget_session("speed"), repeats),
        ),
        (
            "append 1 message",
            median_seconds(lambda: memory.add_messages("w1", one), repeats),
            amedian_seconds(lambda: memory.aadd_messages("w1", one), repeats),
        ),
        (
            "append a batch of 100",
            median_seconds(lambda: memory.add_messages("w100", hundred), repeats // 10),
            amedian_seconds(lambda: memory.aadd_messages("w100", hundred), repeats // 10),
        ),
    ]
    client.close()
    return rows


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args()
    repeats = 300 if args.quick else 3000

    with tempfile.TemporaryDirectory() as tmp:
        stall = bench_stall(Path(tmp) / "stall.sqlite3")
        speed = bench_speed(Path(tmp) / "speed.sqlite3", repeats)

    print(
        f"Embedded backend, async and the event loop - Python {platform.python_version()}, "
        f"{platform.machine()}\n"
    )
    print("| figure | value | target |")
    print("|---|---|---|")
    worst, beats, waited = stall["client"]
    print(
        f"| heartbeat (every 10 ms): worst lateness while an async write waits {waited:.1f} s"
        f" for another process's write lock ({beats} beats) | {worst * 1e3:.1f} ms | <= 50 ms |"
    )
    worst, beats, waited = stall["inline"]
    print(
        f"| the same, with the store called inline on the loop (release 0.1.0's async methods)"
        f" | {worst * 1e3:,.0f} ms | (for comparison) |"
    )
    for name, sync, async_ in speed:
        target = "<= 2x" if name.startswith("read") else ""
        print(
            f"| {name}: sync {sync * 1e6:,.0f} us, async {async_ * 1e6:,.0f} us"
            f" | {async_ / sync:.2f}x | {target} |"
        )


if __name__ == "__main__":
    main()
