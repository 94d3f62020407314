"""Benchmark of the embedded store through the public client (not a test).

Prints a markdown table:
- batched append rate, in batches of 100 messages, on a file store (WAL): with the Message
  objects built beforehand, and with building them (validation) counted in (best of 5 rounds);
- time to read the last 20 messages of a session holding 100, 10,000 and 100,000 messages,
  and the ratio of the largest to the smallest (the target is <= 1.5: the cost must not grow
  with the length of the history);
- time to read a whole session of 100,000 messages (``client.memory.get_messages``; the
  messages of the append rows, metadata included), median and best of 9 reads (the target is
  <= 250 ms);
- what deletes cost (medians): clearing a session of 100 messages, deleting a user with 10
  sessions of 100 messages, purging 10 soft-deleted sessions of 100 messages. Deleted data is
  overwritten and the write-ahead log truncated after each (secure delete and a checkpoint).

Run: ``make bench`` or ``python benchmarks/bench_store.py [--quick]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from zep_memory_plugins import CreateUserRequest, Message, Session, ZepMemoryClient

BATCH = 100


def _batch(start: int) -> list[Message]:
    return [
        Message(
            role="user" if i % 2 else "assistant",
            content=f"message number {i} " * 4,
            metadata={"i": i},
        )
        for i in range(start, start + BATCH)
    ]


def bench_append(client: ZepMemoryClient, total: int, rounds: int = 5) -> tuple[float, float]:
    """Messages per second appended in batches of 100: (prebuilt, including construction).

    ``total`` messages in ``rounds`` rounds; the best round counts (the machine is shared, and
    a round slowed by another process says nothing about the store).
    """
    per_round = total // rounds
    prebuilt = built = 0.0
    for r in range(rounds):
        batches = [_batch(i) for i in range(0, per_round, BATCH)]
        t0 = time.perf_counter()
        for batch in batches:
            client.memory.add_messages(f"append-prebuilt-{r}", batch)
        prebuilt = max(prebuilt, per_round / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for i in range(0, per_round, BATCH):
            client.memory.add_messages(f"append-built-{r}", _batch(i))
        built = max(built, per_round / (time.perf_counter() - t0))
    return prebuilt, built


def fill(client: ZepMemoryClient, session_id: str, count: int) -> None:
    """Put ``count`` messages in a session, in batches."""
    for start in range(0, count, 1000):
        n = min(1000, count - start)
        client.memory.add_messages(
            session_id,
            [Message(role="user", content=f"history {start + i}") for i in range(n)],
        )


def bench_last20(client: ZepMemoryClient, session_id: str, repeats: int) -> float:
    """Median seconds to read the last 20 messages."""
    for _ in range(20):  # warm up caches
        client.memory.get_messages(session_id, lastn=20)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = client.memory.get_messages(session_id, lastn=20)
        times.append(time.perf_counter() - t0)
    assert len(got) == 20
    return statistics.median(times)


def bench_whole(client: ZepMemoryClient, count: int, repeats: int = 9) -> tuple[float, float]:
    """Seconds to read a whole session of ``count`` messages: (median, best)."""
    for start in range(0, count, BATCH):
        client.memory.add_messages("whole", _batch(start))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = client.memory.get_messages("whole")
        times.append(time.perf_counter() - t0)
        assert len(got) == count
        del got
    return statistics.median(times), min(times)


def _hundred(tag: str) -> list[Message]:
    return [
        Message(role="user", content=f"{tag} message {i} " * 8, metadata={"i": i})
        for i in range(100)
    ]


def bench_deletes(client: ZepMemoryClient, repeats: int) -> dict[str, float]:
    """Median seconds of a session clear, a user delete and a purge (see the module doc)."""
    clear, user, purge = [], [], []
    for r in range(repeats):
        client.memory.add_messages(f"clear-{r}", _hundred("clear"))
        t0 = time.perf_counter()
        client.memory.delete_memory(f"clear-{r}")
        clear.append(time.perf_counter() - t0)
        if hasattr(client.memory, "purge_deleted"):  # untimed: the purge row purges 10 only
            client.memory.purge_deleted(older_than=0)

        uid = f"user-{r}"
        client.user.add(CreateUserRequest(user_id=uid, email=f"{uid}@example.com"))
        for k in range(10):
            client.memory.add_session(Session(session_id=f"{uid}-{k}", user_id=uid))
            client.memory.add_messages(f"{uid}-{k}", _hundred(uid))
        t0 = time.perf_counter()
        client.user.delete(uid)
        user.append(time.perf_counter() - t0)

        if hasattr(client.memory, "purge_deleted"):
            for k in range(10):
                client.memory.add_messages(f"purge-{r}-{k}", _hundred("purge"))
                client.memory.delete_memory(f"purge-{r}-{k}")
            t0 = time.perf_counter()
            report = client.memory.purge_deleted(older_than=0)
            purge.append(time.perf_counter() - t0)
            assert len(report.session_ids) == 10, report.session_ids
    figures = {
        "clear a session of 100 messages": statistics.median(clear),
        "delete a user with 10 sessions of 100 messages": statistics.median(user),
    }
    if purge:
        figures["purge 10 soft-deleted sessions of 100 messages"] = statistics.median(purge)
    return figures


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    total = 20_000 if args.quick else 100_000
    sizes = [100, 10_000] + ([] if args.quick else [100_000])
    repeats = 300 if args.quick else 2000

    with tempfile.TemporaryDirectory() as tmp:
        client = ZepMemoryClient(path=Path(tmp) / "bench.sqlite3")
        prebuilt, built = bench_append(client, total)
        reads = {}
        for size in sizes:
            fill(client, f"history-{size}", size)
            reads[size] = bench_last20(client, f"history-{size}", repeats)
        whole = bench_whole(client, total)
        deletes = bench_deletes(client, 10 if args.quick else 30)
        client.close()

    print(
        f"Embedded store (SQLite file, WAL) - Python {platform.python_version()}, "
        f"{platform.machine()}\n"
    )
    print("| figure | value | target |")
    print("|---|---|---|")
    print(
        f"| append, batches of {BATCH}, Message objects prebuilt | {prebuilt:,.0f} msg/s"
        " | >= 50,000 msg/s |"
    )
    print(f"| append, batches of {BATCH}, building the Messages too | {built:,.0f} msg/s | |")
    for size, seconds in reads.items():
        print(f"| read last 20 of {size:,} messages | {seconds * 1e6:,.0f} us | |")
    ratio = reads[sizes[-1]] / reads[sizes[0]]
    print(f"| last-20 read time, {sizes[-1]:,} vs {sizes[0]:,} messages | {ratio:.2f}x | <= 1.5x |")
    print(
        f"| read a whole session of {total:,} messages (median; best) "
        f"| {whole[0] * 1e3:,.0f} ms; {whole[1] * 1e3:,.0f} ms "
        f"| {'<= 250 ms' if total == 100_000 else '(set for 100,000)'} |"
    )
    for name, seconds in deletes.items():
        print(f"| {name} | {seconds * 1e3:,.2f} ms | |")


if __name__ == "__main__":
    main()
