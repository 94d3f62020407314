"""Benchmark of the Zep backend against doing the same work directly (not a test).

One run measures both generations. For each of ``/api/v1`` (open-source Zep v0.27) and
``/api/v2`` (Zep Community Edition), the Zep-compatible test server is started in a child
process (so client and server do not share a GIL), and each operation is timed two ways on it:

- ours: through ``ZepMemoryClient`` (the library's own httpx transport on v1, zep-python 2.x
  on v2);
- direct: the same requests written by hand, with a plain ``httpx.Client`` on v1, and on v2
  with zep-python 2.x's ``Zep(base_url=..., api_key=...)`` plus raw httpx for the ``id > cursor``
  user listing, which the SDK lacks.

Each row gives the HTTP requests per call (ours from ``client.stats.http_requests`` after the
generation probe, direct as sent), the median wall-clock time per call over the rounds (the two
ways take turns, each round of calls), our overhead, and the same for the client process's own
CPU time per call. The server runs in another process, so the CPU columns are the client's cost
alone; they move much less than wall-clock time when the machine is shared.

Operations: add 1, 10 and 65 messages (v2 takes at most 30 per request: 3 requests; v1: 1),
read the last 20, read a 500-message session in full (pages of 100: 5 requests; on v2 also against
bare httpx, as on v1), list 250 users
in chunks of 100 (3 requests), and one LangChain chat turn (history from ``ZepHistoryFactory``
with a 20-message window, read twice, question and answer added; direct: one read of the last
20 and one add, converting the LangChain messages the same lossless way).

Run: ``python benchmarks/bench_zep_backend.py [--rounds N] [--api v1|v2]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    message_to_dict,
    messages_from_dict,
)

from zep_memory_plugins import CreateUserRequest, Message, ZepMemoryClient
from zep_memory_plugins.langchain import ZepHistoryFactory

#: The variables zep-python or our client would read instead of what the benchmark passes.
for _name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_API_VERSION"):
    os.environ.pop(_name, None)

GENERATIONS = ("v1", "v2")
#: Key of the LangChain message in a stored message's metadata (as the adapter stores it).
LC_KEY = "langchain_message"
PAGE = 100
FULL, LAST, USERS = 500, 50, 250
OWNER = "user-000"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(api: str, api_key: str) -> Iterator[str]:
    """The test server of generation ``api`` in a child process; yields its URL once it answers."""
    port = _free_port()
    env = {**os.environ, "ZEP_API_KEY": api_key}  # v2 always requires a key; v1 is left open
    cmd = [sys.executable, "-m", "zep_memory_plugins.testing", "--api", api, "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                        if response.status == 200:
                            break
                except (OSError, urllib.error.URLError):
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"the {api} test server did not start:\n{tail}")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- the same work, done directly ------------------------------------------------------------


def lc_wire(message: BaseMessage) -> tuple[str, str, dict[str, Any]]:
    """Role type, role and metadata for a LangChain message, stored losslessly (packed)."""
    role_type = "user" if message.type == "human" else "assistant"
    packed = json.dumps(message_to_dict(message), ensure_ascii=False, separators=(",", ":"))
    return role_type, message.type, {LC_KEY: packed}


def lc_message(metadata: dict[str, Any] | None) -> BaseMessage:
    """The LangChain message stored in a message's metadata."""
    assert metadata is not None
    return messages_from_dict([json.loads(metadata[LC_KEY])])[0]


class Direct:
    """The benchmark's operations written directly against the server (base class)."""

    requests = 0

    def add(self, session_id: str, n: int) -> None:
        """Append ``n`` messages, in as few requests as the server allows."""
        raise NotImplementedError

    def last(self, session_id: str, n: int) -> list[Any]:
        """The last ``n`` messages."""
        raise NotImplementedError

    def read_all(self, session_id: str) -> list[Any]:
        """Every message: page 1 gives the total, then the other pages."""
        raise NotImplementedError

    def list_users(self, chunk: int) -> list[Any]:
        """Every user, ``chunk`` at a time (``id > cursor``)."""
        raise NotImplementedError

    def turn(self, session_id: str, i: int) -> list[BaseMessage]:
        """A chat turn: read the last 20 as LangChain messages, add question and answer."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""

    # bare httpx, on both generations
    http: httpx.Client

    def read_all_raw(self, session_id: str) -> list[Any]:
        """Every message with bare httpx: ``GET /sessions/{id}/messages?limit=&cursor=``."""
        path = f"/sessions/{session_id}/messages"
        first = self._get(path, limit=PAGE, cursor=1)
        out = list(first["messages"])
        for page in range(2, math.ceil(first["total_count"] / PAGE) + 1):
            out.extend(self._get(path, limit=PAGE, cursor=page)["messages"])
        return out

    def _get(self, path: str, **params: Any) -> Any:
        self.requests += 1
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()


class DirectV1(Direct):
    """``/api/v1`` with a plain ``httpx.Client``."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=f"{url}/api/v1", timeout=30)

    def _post_messages(self, session_id: str, messages: list[dict[str, Any]]) -> None:
        self.requests += 1
        response = self.http.post(f"/sessions/{session_id}/memory", json={"messages": messages})
        response.raise_for_status()

    def add(self, session_id: str, n: int) -> None:
        """One request, whatever ``n``."""
        msgs = [{"uuid": str(uuid.uuid4()), "role": "user", "content": f"m{i}"} for i in range(n)]
        self._post_messages(session_id, msgs)

    def last(self, session_id: str, n: int) -> list[Any]:
        """``GET /sessions/{id}/memory?lastn=``."""
        return list(self._get(f"/sessions/{session_id}/memory", lastn=n)["messages"])

    def read_all(self, session_id: str) -> list[Any]:
        """``GET /sessions/{id}/messages?limit=&cursor=`` (cursor: a page number)."""
        return self.read_all_raw(session_id)

    def list_users(self, chunk: int) -> list[Any]:
        """``GET /user?limit=&cursor=``."""
        out: list[Any] = []
        cursor = 0
        while True:
            users = self._get("/user", limit=chunk, cursor=cursor)
            out.extend(users)
            if len(users) < chunk:
                return out
            cursor = users[-1]["id"]

    def turn(self, session_id: str, i: int) -> list[BaseMessage]:
        """Read the last 20, add the question and the answer (2 requests)."""
        history = [lc_message(m.get("metadata")) for m in self.last(session_id, 20)]
        new = [HumanMessage(f"q{i}"), AIMessage(f"a{i}")]
        msgs = []
        for m in new:
            _, role, metadata = lc_wire(m)
            msgs.append(
                {"uuid": str(uuid.uuid4()), "role": role, "content": m.text, "metadata": metadata}
            )
        self._post_messages(session_id, msgs)
        return history

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


class DirectV2(Direct):
    """``/api/v2`` with zep-python 2.x's ``Zep`` client, raw httpx for the ``id > cursor`` list."""

    def __init__(self, url: str, api_key: str) -> None:
        from zep_python.client import Zep

        self.sdk = Zep(base_url=url, api_key=api_key)
        self.http = httpx.Client(
            base_url=f"{url}/api/v2", headers={"Authorization": f"Api-Key {api_key}"}, timeout=30
        )

    def _add(self, session_id: str, messages: list[Any]) -> None:
        for start in range(0, len(messages), 30):  # CE takes at most 30 per request
            self.requests += 1
            self.sdk.memory.add(session_id, messages=messages[start : start + 30])

    def add(self, session_id: str, n: int) -> None:
        """``ceil(n / 30)`` requests."""
        from zep_python.types import Message as SdkMessage

        self._add(
            session_id,
            [
                SdkMessage(role="user", role_type="user", content=f"m{i}", uuid=str(uuid.uuid4()))
                for i in range(n)
            ],
        )

    def last(self, session_id: str, n: int) -> list[Any]:
        """``memory.get(lastn=)``."""
        self.requests += 1
        return list(self.sdk.memory.get(session_id, lastn=n).messages or [])

    def read_all(self, session_id: str) -> list[Any]:
        """``memory.get_session_messages(limit=, cursor=)`` (cursor: a page number)."""
        self.requests += 1
        first = self.sdk.memory.get_session_messages(session_id, limit=PAGE, cursor=1)
        out = list(first.messages or [])
        for page in range(2, math.ceil((first.total_count or 0) / PAGE) + 1):
            self.requests += 1
            more = self.sdk.memory.get_session_messages(session_id, limit=PAGE, cursor=page)
            out.extend(more.messages or [])
        return out

    def list_users(self, chunk: int) -> list[Any]:
        """``GET /users?limit=&cursor=`` (raw httpx: not in zep-python 2.x)."""
        out: list[Any] = []
        cursor = 0
        while True:
            self.requests += 1
            response = self.http.get("/users", params={"limit": chunk, "cursor": cursor})
            response.raise_for_status()
            users = response.json()
            out.extend(users)
            if len(users) < chunk:
                return out
            cursor = users[-1]["id"]

    def turn(self, session_id: str, i: int) -> list[BaseMessage]:
        """Read the last 20, add the question and the answer (2 requests)."""
        from zep_python.types import Message as SdkMessage

        history = [lc_message(m.metadata) for m in self.last(session_id, 20)]
        new = [HumanMessage(f"q{i}"), AIMessage(f"a{i}")]
        msgs = []
        for m in new:
            role_type, role, metadata = lc_wire(m)
            msgs.append(
                SdkMessage(
                    role=role,
                    role_type=role_type,
                    content=m.text,
                    metadata=metadata,
                    uuid=str(uuid.uuid4()),
                )
            )
        self._add(session_id, msgs)
        return history

    def close(self) -> None:
        """Close the raw connection pool (the SDK's closes with the process)."""
        self.http.close()


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Op:
    """One operation measured both ways."""

    name: str
    ours: Callable[[], object]
    direct: Callable[[], object]
    calls: int  # calls per round


def timed(fn: Callable[[], object], calls: int) -> tuple[float, float]:
    """Seconds per call of ``fn`` over ``calls`` calls: wall clock, and this process's CPU."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls, (time.process_time() - c0) / calls


def _pct(ours: float, direct: float) -> str:
    return f"{(ours - direct) / direct * 100:+.0f}%"


def msgs(n: int, tag: str = "m") -> list[Message]:
    """``n`` new messages."""
    return [Message(role="user", role_type="user", content=f"{tag}{i}") for i in range(n)]


def seed(client: ZepMemoryClient, factory: ZepHistoryFactory) -> None:
    """Users, a 500-message and a 50-message session, and two chat sessions of 20 messages."""
    for i in range(USERS):
        client.user.add(CreateUserRequest(user_id=f"user-{i:03d}"))
    client.memory.add_messages("full", msgs(FULL, "h"))
    client.memory.add_messages("last", msgs(LAST, "h"))
    history: list[BaseMessage] = []
    for i in range(10):
        history += [HumanMessage(f"question {i}"), AIMessage(f"answer {i}")]
    factory(OWNER, "chat-ours").add_messages(history)
    factory(OWNER, "chat-direct").add_messages(history)


def measure(api: str, rounds: int) -> list[str]:
    """The table of one generation, as markdown lines."""
    key = secrets.token_urlsafe(16)
    with server_process(api, key) as url:
        client = ZepMemoryClient(base_url=url, api_key=key if api == "v2" else None)
        direct: Direct = DirectV1(url) if api == "v1" else DirectV2(url, key)
        try:
            probed = getattr(client.backend, "probe", None)
            if probed is not None:
                probed()
            assert client.backend.name == f"zep-{api}", client.backend.name
            factory = ZepHistoryFactory(client, window=20)
            seed(client, factory)
            turn_no = iter(range(10**9))

            def ours_turn() -> list[BaseMessage]:
                i = next(turn_no)
                history = factory(OWNER, "chat-ours")
                past = history.messages
                _ = history.messages  # RunnableWithMessageHistory reads twice per turn
                history.add_messages([HumanMessage(f"q{i}"), AIMessage(f"a{i}")])
                return past

            direct_no = iter(range(10**9))
            ops = [
                Op(
                    "add 1 message",
                    lambda: client.memory.add_messages("w1", msgs(1)),
                    lambda: direct.add("w1-direct", 1),
                    40,
                ),
                Op(
                    "add 10 messages",
                    lambda: client.memory.add_messages("w10", msgs(10)),
                    lambda: direct.add("w10-direct", 10),
                    30,
                ),
                Op(
                    "add 65 messages",
                    lambda: client.memory.add_messages("w65", msgs(65)),
                    lambda: direct.add("w65-direct", 65),
                    10,
                ),
                Op(
                    "read last 20",
                    lambda: client.memory.get_messages("last", lastn=20),
                    lambda: direct.last("last", 20),
                    40,
                ),
                Op(
                    f"read {FULL} messages in full",
                    lambda: client.memory.get_messages("full"),
                    lambda: direct.read_all("full"),
                    6,
                ),
                *(
                    [
                        Op(
                            f"read {FULL} messages in full, direct with bare httpx",
                            lambda: client.memory.get_messages("full"),
                            lambda: direct.read_all_raw("full"),  # type: ignore[attr-defined]
                            6,
                        )
                    ]
                    if isinstance(direct, DirectV2)
                    else []
                ),
                Op(
                    f"list {USERS} users in chunks of 100",
                    lambda: [u for chunk in client.user.list_chunked(100) for u in chunk],
                    lambda: direct.list_users(100),
                    8,
                ),
                Op(
                    "LangChain turn (window 20)",
                    ours_turn,
                    lambda: direct.turn("chat-direct", next(direct_no)),
                    20,
                ),
            ]
            # Both ways read the same things.
            assert len(client.memory.get_messages("full")) == len(direct.read_all("full")) == FULL
            assert len(client.memory.get_messages("last", lastn=20)) == 20
            assert len(direct.last("last", 20)) == 20
            assert len(direct.list_users(100)) == USERS
            assert len([u for c in client.user.list_chunked(100) for u in c]) == USERS
            assert ours_turn() == direct.turn("chat-direct", next(direct_no))

            lines = [
                "| operation | HTTP requests (ours / direct) | ours (ms/call) | direct (ms/call) "
                "| overhead | client CPU, ours / direct (ms/call) | CPU overhead |",
                "|---|:-:|---:|---:|---:|---:|---:|",
            ]
            more: list[str] = []
            for op in ops:
                op.ours(), op.direct()  # warm up
                client.stats.reset()
                op.ours()
                ours_requests = client.stats.http_requests
                before = direct.requests
                op.direct()
                direct_requests = direct.requests - before
                mine: list[tuple[float, float]] = []
                theirs: list[tuple[float, float]] = []
                for r in range(rounds):  # interleaved, in turn first, so drift hits both alike
                    if r % 2:
                        theirs.append(timed(op.direct, op.calls))
                        mine.append(timed(op.ours, op.calls))
                    else:
                        mine.append(timed(op.ours, op.calls))
                        theirs.append(timed(op.direct, op.calls))
                a, b = (statistics.median(w for w, _ in t) * 1e3 for t in (mine, theirs))
                ca, cb = (statistics.median(c for _, c in t) * 1e3 for t in (mine, theirs))
                lines.append(
                    f"| {op.name} | {ours_requests} / {direct_requests} | {a:.2f} | {b:.2f} "
                    f"| {_pct(a, b)} | {ca:.2f} / {cb:.2f} | {_pct(ca, cb)} |"
                )
                if ours_requests > direct_requests:
                    more.append(op.name)
            lines.append("")
            lines.append(
                f"MORE REQUESTS THAN DIRECT: {', '.join(more)}"
                if more
                else "Requests: ours = direct on every row."
            )
            return lines
        finally:
            client.close()
            direct.close()


def main() -> None:
    """Run the benchmark on both generations and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds per operation (median)")
    parser.add_argument(
        "--api", choices=GENERATIONS, action="append", help="only this generation (repeatable)"
    )
    args = parser.parse_args()
    import zep_python

    sdk_version = getattr(zep_python, "__version__", None)
    if sdk_version is None:
        from importlib.metadata import version

        sdk_version = version("zep-python")
    print(
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"httpx {httpx.__version__}, zep-python {sdk_version}; test server in a child process "
        f"on 127.0.0.1; median of {args.rounds} rounds"
    )
    for api in args.api or GENERATIONS:
        print()
        what = (
            "open-source Zep v0.27 (/api/v1): ours vs plain httpx"
            if api == "v1"
            else "Zep Community Edition (/api/v2): ours vs zep-python 2.x `Zep` (+ raw httpx)"
        )
        print(f"#### `zep-{api}`: {what}")
        print()
        for line in measure(api, args.rounds):
            print(line)


if __name__ == "__main__":
    main()
