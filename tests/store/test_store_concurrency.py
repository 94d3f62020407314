"""The embedded store under concurrency: several processes and threads on one file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

from zep_memory_plugins import Message, ZepMemoryClient

WRITER = textwrap.dedent(
    """
    import sys, time
    from zep_memory_plugins import Message, ZepMemoryClient

    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with ZepMemoryClient(path=path) as client:
        print("ready", flush=True)
        sys.stdin.readline()  # start together
        client.memory.add_messages("shared", [Message(role=name, content=f"{name}:0")])
        # Barrier through the store: go on only once the other writer has written too, so
        # the two loops below really overlap.
        while len({m.role for m in client.memory.get_messages("shared")}) < 2:
            time.sleep(0.001)
        for i in range(1, count):
            client.memory.add_messages("shared", [Message(role=name, content=f"{name}:{i}")])
    print("done", flush=True)
    """
)


def test_two_processes_appending_to_one_session(tmp_path):
    path = tmp_path / "memory.sqlite3"
    count = 2000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:  # release both at once
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert err == "", f"an error reached the caller: {err}"
        assert out.strip() == "done"

    with ZepMemoryClient(path=path) as client:
        messages = client.memory.get_messages("shared")
    assert len(messages) == 2 * count
    for name in ("p1", "p2"):
        mine = [m.content for m in messages if m.role == name]
        assert mine == [f"{name}:{i}" for i in range(count)]


def test_threads_sharing_one_client(tmp_path):
    client = ZepMemoryClient(path=tmp_path / "threads.sqlite3")
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for i in range(200):
                client.memory.add_messages(
                    "shared",
                    [Message(role=name, content=f"{name}:{i}:{j}") for j in range(3)],
                )
                client.memory.get_messages("shared", lastn=5)
        except BaseException as exc:  # surfaced below, never swallowed
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"t{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    messages = client.memory.get_messages("shared")
    assert len(messages) == 4 * 200 * 3
    for n in range(4):
        mine = [m.content for m in messages if m.role == f"t{n}"]
        assert mine == [f"t{n}:{i}:{j}" for i in range(200) for j in range(3)]
    client.close()


def test_a_batch_is_atomic_across_processes(tmp_path):
    """A batch from one process is stored contiguously: no other writer lands inside it."""
    path = tmp_path / "atomic.sqlite3"
    script = textwrap.dedent(
        """
        import sys
        from zep_memory_plugins import Message, ZepMemoryClient
        with ZepMemoryClient(path=sys.argv[1]) as c:
            for i in range(100):
                batch = [Message(role=sys.argv[2], content=str(j)) for j in range(50)]
                c.memory.add_messages("s", batch)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path), name]) for name in ("a", "b")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    with ZepMemoryClient(path=path) as client:
        messages = client.memory.get_messages("s")
    assert len(messages) == 2 * 100 * 50
    for start in range(0, len(messages), 50):
        block = messages[start : start + 50]
        assert len({m.role for m in block}) == 1
        assert [m.content for m in block] == [str(j) for j in range(50)]


def test_opening_the_store_while_another_process_writes(tmp_path):
    """Opening runs PRAGMAs that SQLite answers "locked" at once, without waiting, while
    another process writes: opening must wait its turn, never fail."""
    path = tmp_path / "busy.sqlite3"
    ZepMemoryClient(path=path).close()
    writer = textwrap.dedent(
        """
        import sys
        from zep_memory_plugins import Message, ZepMemoryClient
        with ZepMemoryClient(path=sys.argv[1]) as c:
            print("writing", flush=True)
            for i in range(300):
                batch = [Message(role="w", content=str(j)) for j in range(50)]
                c.memory.add_messages("s", batch)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    opened = 0
    while proc.poll() is None:
        with ZepMemoryClient(path=path) as client:
            client.memory.get_messages("s", lastn=1)
        opened += 1
    assert proc.wait(timeout=120) == 0
    assert opened > 0
    with ZepMemoryClient(path=path) as client:
        assert len(client.memory.get_messages("s")) == 300 * 50


def test_processes_creating_the_store_together_all_succeed(tmp_path):
    """Two processes create a new store file at once and write at once; neither may fail."""
    script = textwrap.dedent(
        """
        import sys
        from zep_memory_plugins import Message, ZepMemoryClient
        with ZepMemoryClient(path=sys.argv[1]) as c:
            for i in range(40):
                batch = [Message(role=sys.argv[2], content=str(j)) for j in range(50)]
                c.memory.add_messages("s", batch)
        """
    )
    for attempt in range(8):
        path = tmp_path / f"new-{attempt}.sqlite3"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(path), name], stderr=subprocess.PIPE, text=True
            )
            for name in ("a", "b")
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        with ZepMemoryClient(path=path) as client:
            assert len(client.memory.get_messages("s")) == 2 * 40 * 50
