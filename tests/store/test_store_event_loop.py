"""The embedded backend's async methods never hold the event loop while they wait for a lock.

Another process holds the store's write lock; an async write then has to wait. The loop must go
on running other tasks meanwhile (a heartbeat ticks, async reads answer), and the write lands
once the lock is released. No timing is asserted: only that progress happens while waiting.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from zep_memory_plugins import CreateUserRequest, Message, Session, ZepMemoryClient
from zep_memory_plugins.store import SQLiteStore, WouldBlockError

LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    print("released", flush=True)
    """
)


@contextmanager
def write_lock_held_by_another_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds the store's write lock until the block ends (or it is released)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        release(proc)
        proc.wait(timeout=30)


def release(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None and proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.write("go\n")
        proc.stdin.close()


class Heartbeat:
    """A task that ticks every 5 ms, and a way to wait for some ticks (a loop that is held
    never gets there)."""

    def __init__(self) -> None:
        self.count = 0
        self._waiting: list[tuple[int, asyncio.Event]] = []

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self.count += 1
            for target, event in self._waiting:
                if self.count >= target:
                    event.set()

    async def ticks(self, n: int) -> None:
        event = asyncio.Event()
        self._waiting.append((self.count + n, event))
        await event.wait()


def test_the_loop_runs_while_an_async_write_waits_for_another_process(tmp_path):
    path = tmp_path / "m.db"
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("s", [Message(role="user", content="before")])

        async def main() -> None:
            heart = Heartbeat()
            beat = asyncio.create_task(heart.run())
            with write_lock_held_by_another_process(path) as locker:
                write = asyncio.create_task(
                    client.memory.aadd_messages("s", [Message(role="user", content="after")])
                )
                await asyncio.sleep(0)  # the write starts and finds the lock taken
                await heart.ticks(10)
                # The loop went on ticking while the write waited...
                assert not write.done()
                # ...and async reads answer meanwhile, from what is committed.
                seen = await client.memory.aget_messages("s")
                assert [m.content for m in seen] == ["before"]
                assert (await client.memory.aget_session("s")).session_id == "s"
                release(locker)
                stored = await write
            beat.cancel()
            assert [m.content for m in stored] == ["after"]

        asyncio.run(main())
        assert [m.content for m in client.memory.get_messages("s")] == ["before", "after"]


def test_no_wait_refuses_a_write_without_storing_anything(tmp_path):
    path = tmp_path / "m.db"
    store = SQLiteStore(path)
    store.add_messages("s", [Message(role="user", content="before")])
    with write_lock_held_by_another_process(path):
        with pytest.raises(WouldBlockError), store.no_wait():
            store.add_messages("s", [Message(role="user", content="refused")])
        with store.no_wait():  # WAL readers do not wait for writers
            assert [m.content for m in store.get_messages("s")] == ["before"]
    assert [m.content for m in store.get_messages("s")] == ["before"]
    # Outside the block, the busy timeout is back: a write waits and lands.
    store.add_messages("s", [Message(role="user", content="after")])
    assert [m.content for m in store.get_messages("s")] == ["before", "after"]
    store.close()


def write_connection_taken(store: SQLiteStore) -> bool:
    """Whether another thread holds the store's write connection (white-box: its lock)."""
    if store._lock.try_enter():
        store._lock.__exit__()
        return False
    return True


def test_a_read_does_not_queue_behind_a_waiting_write_from_another_thread(tmp_path):
    """Reads have a connection of their own: a thread's write that waits for another process
    holds the write connection, and reads, sync and no-wait alike, still answer."""
    path = tmp_path / "m.db"
    store = SQLiteStore(path)
    store.add_messages("s", [Message(role="user", content="before")])
    store.add_user(CreateUserRequest(user_id="u"))
    store.add_session(Session(session_id="owned", user_id="u"))
    done = threading.Event()
    with write_lock_held_by_another_process(path) as locker:
        writer = threading.Thread(
            target=lambda: (
                store.add_messages("s", [Message(role="user", content="after")]),
                done.set(),
            )
        )
        writer.start()
        while not write_connection_taken(store):  # the writer thread now waits for the lock
            time.sleep(0.001)
        assert [m.content for m in store.get_messages("s", lastn=5)] == ["before"]
        with store.no_wait():
            assert store.get_session("s").session_id == "s"
        # Every kind of read answers, the multi-statement ones (a snapshot) included.
        assert store.get_messages_page("s", limit=10).total_count == 1
        assert [u.user_id for u in store.list_users()] == ["u"] and store.count_users() == 1
        assert [x.session_id for x in store.get_user_sessions("u")] == ["owned"]
        assert store.get_user("u").user_id == "u"
        assert store.count_sessions() == 2 and len(store.list_sessions()) == 2
        assert not done.is_set()
        # The write connection is taken: a no-wait write refuses at once, a no-wait read not.
        with pytest.raises(WouldBlockError), store.no_wait():
            store.add_messages("s", [Message(role="user", content="refused")])
        release(locker)
        writer.join(timeout=30)
    assert done.is_set()
    assert [m.content for m in store.get_messages("s")] == ["before", "after"]
    store.close()


def test_async_calls_on_an_in_memory_store_run_inline():
    """Nothing else can lock an in-memory store: async calls need no thread at all."""

    async def main() -> set[str]:
        with ZepMemoryClient(path=":memory:") as client:
            await client.memory.aadd_messages("s", [Message(role="user", content="hi")])
            await client.memory.aget_messages("s")
            return {t.name for t in threading.enumerate()}

    names = asyncio.run(main())
    assert not any(name.startswith("zep-memory-store") for name in names)
    assert not any(name.startswith("asyncio_") for name in names)


def test_aclose_waits_for_a_pending_write_off_the_loop(tmp_path):
    path = tmp_path / "m.db"
    client = ZepMemoryClient(path=path)

    async def main() -> None:
        heart = Heartbeat()
        beat = asyncio.create_task(heart.run())
        with write_lock_held_by_another_process(path) as locker:
            write = asyncio.create_task(
                client.memory.aadd_messages("s", [Message(role="user", content="kept")])
            )
            await asyncio.sleep(0)
            closing = asyncio.create_task(client.aclose())
            await heart.ticks(5)
            assert not closing.done()
            release(locker)
            await write
            await closing
        beat.cancel()

    asyncio.run(main())
    with ZepMemoryClient(path=path) as again:
        assert [m.content for m in again.memory.get_messages("s")] == ["kept"]


def test_a_cancelled_async_write_that_was_waiting_still_lands_whole(tmp_path):
    """Cancelling the awaiting task does not stop a write already handed to the writer thread:
    it lands, whole, once the lock is free (and close waits for it)."""
    path = tmp_path / "m.db"
    client = ZepMemoryClient(path=path)

    async def main() -> None:
        heart = Heartbeat()
        beat = asyncio.create_task(heart.run())
        with write_lock_held_by_another_process(path) as locker:
            batch = [Message(role="user", content=str(i)) for i in range(3)]
            write = asyncio.create_task(client.memory.aadd_messages("s", batch))
            await heart.ticks(3)
            write.cancel()
            with pytest.raises(asyncio.CancelledError):
                await write
            release(locker)
        beat.cancel()

    asyncio.run(main())
    client.close()
    with ZepMemoryClient(path=path) as again:
        assert [m.content for m in again.memory.get_messages("s")] == ["0", "1", "2"]
