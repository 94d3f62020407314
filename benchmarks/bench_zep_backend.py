"""Benchmark of the Zep backend against calling zep-python directly (not a test).

Starts the Zep-compatible test server in a separate process (so client and server do not share
a GIL), then for each operation prints a markdown row: the HTTP requests our client sends, the
time per call through ``ZepMemoryClient`` and through the bare SDK doing the same work (same
requests, same server), and our overhead. The target overhead is < 10%.

Operations: add 1 message, add 10 messages (one request), read the last 20, read a
500-message session in full (pages of 100), list 250 users in chunks of 100.

Run: ``python benchmarks/bench_zep_backend.py [--rounds N]`` with either zep-python generation.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from zep_memory_plugins import CreateUserRequest, Message, ZepMemoryClient
from zep_memory_plugins.backends.zep import zep_generation

GEN = zep_generation()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    """The test server in a child process; returns it and its URL once it answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zep_memory_plugins.testing", "--port", str(port), "--api", GEN],
        env={**os.environ, "ZEP_API_KEY": "bench"},  # a v2 server always requires a key
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the test server did not start")


class Sdk:
    """The same operations written directly against the installed zep-python."""

    def __init__(self, url: str) -> None:
        if GEN == "v1":
            from zep_python import ZepClient

            self.client: Any = ZepClient(url)
        else:
            from zep_python.client import Zep

            self.client = Zep(base_url=url, api_key="bench")

    def add(self, session_id: str, n: int) -> None:
        """Append ``n`` messages in one call."""
        if GEN == "v1":
            from zep_python.memory import Memory
            from zep_python.message import Message as V1Message

            msgs = [V1Message(role="user", content=f"m{i}") for i in range(n)]
            self.client.memory.add_memory(session_id, Memory(messages=msgs))
        else:
            from zep_python.types import Message as V2Message

            msgs2 = [V2Message(role="user", role_type="user", content=f"m{i}") for i in range(n)]
            self.client.memory.add(session_id, messages=msgs2)

    def last(self, session_id: str, n: int) -> list[Any]:
        """The last ``n`` messages."""
        if GEN == "v1":
            return list(self.client.memory.get_memory(session_id, n).messages)
        return list(self.client.memory.get(session_id, lastn=n).messages)

    def read_all(self, session_id: str, page: int = 100) -> list[Any]:
        """Every message, page by page (the SDK's own paginated endpoint)."""
        out: list[Any] = []
        number = 1
        while True:
            if GEN == "v1":
                batch = self.client.message.get_session_messages(session_id, page, number)
            else:
                batch = self.client.memory.get_session_messages(
                    session_id, limit=page, cursor=number
                ).messages
            out.extend(batch)
            if len(batch) < page:
                return out
            number += 1

    def list_users(self, chunk: int = 100) -> list[Any]:
        """Every user, ``chunk`` at a time."""
        out: list[Any] = []
        if GEN == "v1":
            cursor = 0
            while True:
                users = self.client.user.list(chunk, cursor)
                out.extend(users)
                if len(users) < chunk:
                    return out
                cursor = users[-1].id
        number = 1
        while True:
            users = self.client.user.list_ordered(page_number=number, page_size=chunk).users
            out.extend(users)
            if len(users) < chunk:
                return out
            number += 1


def timed(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``fn`` over ``calls`` calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    proc, url = start_server()
    try:
        client = ZepMemoryClient(base_url=url, api_key="bench" if GEN == "v2" else None)
        sdk = Sdk(url)
        client.memory.add_messages(
            "full", [Message(role="user", content=f"h{i}") for i in range(500)]
        )
        client.memory.add_messages(
            "last", [Message(role="user", content=f"h{i}") for i in range(50)]
        )
        for i in range(250):
            client.user.add(CreateUserRequest(user_id=f"user-{i:03d}"))

        ops: list[tuple[str, Callable[[], object], Callable[[], object], int]] = [
            (
                "add 1 message",
                lambda: client.memory.add_messages("w1", [Message(role="user", content="m0")]),
                lambda: sdk.add("w1-sdk", 1),
                40,
            ),
            (
                "add 10 messages (one batch)",
                lambda: client.memory.add_messages(
                    "w10", [Message(role="user", content=f"m{i}") for i in range(10)]
                ),
                lambda: sdk.add("w10-sdk", 10),
                40,
            ),
            (
                "read last 20",
                lambda: client.memory.get_messages("last", lastn=20),
                lambda: sdk.last("last", 20),
                40,
            ),
            (
                "read 500 messages in full",
                lambda: client.memory.get_messages("full"),
                lambda: sdk.read_all("full"),
                8,
            ),
            (
                "list 250 users in chunks of 100",
                lambda: [u for chunk in client.user.list_chunked(100) for u in chunk],
                lambda: sdk.list_users(100),
                10,
            ),
        ]
        assert len(client.memory.get_messages("full")) == len(sdk.read_all("full")) == 500
        assert len(sdk.list_users(100)) == 250

        print(f"Zep backend `zep-{GEN}` vs bare zep-python, local test server ({url})")
        print(f"Python {platform.python_version()}, {platform.machine()}, {args.rounds} rounds")
        print()
        print("| operation | HTTP requests | ours (ms/call) | SDK (ms/call) | overhead |")
        print("|---|---:|---:|---:|---:|")
        for name, ours, bare, calls in ops:
            client.stats.reset()
            ours()
            requests = client.stats.http_requests
            ours(), bare()  # warm up
            mine: list[float] = []
            theirs: list[float] = []
            for _ in range(args.rounds):  # interleaved, so drift hits both alike
                mine.append(timed(ours, calls))
                theirs.append(timed(bare, calls))
            a, b = statistics.median(mine), statistics.median(theirs)
            print(
                f"| {name} | {requests} | {a * 1e3:.2f} | {b * 1e3:.2f} | "
                f"{(a - b) / b * 100:+.1f}% |"
            )
        expected = math.ceil(500 / 100)
        print()
        print(f"(a full read of 500 messages should take ceil(500/100) = {expected} requests)")
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
