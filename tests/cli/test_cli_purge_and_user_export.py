"""``zep-memory purge`` and ``zep-memory export --user``, on every backend.

``export --user ID`` writes that user's records only (the header, the user, their sessions and
messages), and ``import`` of such a file restores exactly that user. ``purge`` hard-deletes
soft-deleted data on the embedded store and says what went; on a Zep server it is refused
(exit 1), sending nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from store_helpers import backdate

from zep_memory_plugins import (
    CreateUserRequest,
    Message,
    Session,
    ZepMemoryClient,
)
from zep_memory_plugins.cli import main
from zep_memory_plugins.transfer import export_jsonl, import_jsonl


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_MEMORY_PATH", "ZEP_MEMORY_RETENTION"):
        monkeypatch.delenv(name, raising=False)


class Target:
    """One store of the backend under test, as the command line and a client reach it."""

    def __init__(self, args: list[str], connect: Callable[[], ZepMemoryClient]) -> None:
        self.args = args
        self.connect = connect


@pytest.fixture
def target(
    backend_name: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    if backend_name == "embedded":
        path = str(tmp_path / "store.sqlite3")
        return Target(["--path", path], lambda: ZepMemoryClient(path=path))
    server = request.getfixturevalue("server_of")()
    if server.api_key is not None:
        monkeypatch.setenv("ZEP_API_KEY", server.api_key)  # as a user would set it
    url = server.api_url if server.api == "v3" else server.url  # as a Cloud v3 user gives it
    target = Target(["--url", url], lambda: ZepMemoryClient(base_url=url, api_key=server.api_key))
    target.server = server  # type: ignore[attr-defined]
    return target


def fill(client: ZepMemoryClient) -> None:
    """jane (two live sessions, one cleared), bob (one session), and a session of nobody's."""
    client.user.add(
        CreateUserRequest(
            user_id="jane",
            email="jane@example.com",
            first_name="Jane",
            last_name="Ünïcode",
            metadata={"plan": "pro", "n": {"x": 1}},
        )
    )
    client.user.add(CreateUserRequest(user_id="bob", email="bob@example.com"))
    for sid, owner, count in (("j1", "jane", 5), ("j2", "jane", 3), ("j3", "jane", 2)):
        client.memory.add_session(Session(session_id=sid, user_id=owner, metadata={"s": sid}))
        client.memory.add_messages(
            sid,
            [
                Message(
                    role="Jane" if i % 2 == 0 else "assistant",
                    role_type="user" if i % 2 == 0 else "assistant",
                    content=f"{sid} message {i} \N{SNOWMAN}",
                    metadata={"i": i} if i % 2 else None,
                )
                for i in range(count)
            ],
        )
    client.memory.delete_memory("j3")  # soft-deleted: not part of jane's data any more
    client.memory.add_session(Session(session_id="b1", user_id="bob"))
    client.memory.add_messages("b1", [Message(role="bob", content="bob's own")])
    client.memory.add_messages("lone", [Message(role="x", content="nobody's")])


def user_data(client: ZepMemoryClient, user_id: str, *, times: bool) -> dict[str, Any]:
    """A user's data as a request for it should return it (server-made ids aside)."""
    user = client.user.get(user_id)
    sessions = client.user.get_sessions(user_id)
    return {
        "user": (user.user_id, user.email, user.first_name, user.last_name, user.metadata),
        "sessions": {
            s.session_id: (
                s.metadata,
                [
                    (m.uuid, m.role, m.role_type, m.content, m.metadata)
                    + ((m.created_at,) if times else ())
                    for m in client.memory.get_messages(str(s.session_id))
                ],
            )
            for s in sessions
        },
    }


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- export --user -------------------------------------------------------------------------------


def test_export_user_writes_that_user_only_and_import_restores_them_exactly(
    target: Target, backend_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    times = backend_name == "embedded"  # Zep servers may stamp messages on arrival
    with target.connect() as client:
        fill(client)
        before = user_data(client, "jane", times=times)
        bob_before = user_data(client, "bob", times=times)
    dump = tmp_path / "jane.jsonl"
    code, _, err = cli(capsys, "export", *target.args, "--user", "jane", "-o", str(dump))
    assert code == 0, err
    assert "exported 1 user, 2 sessions, 8 messages" in err

    lines = records(dump.read_text(encoding="utf-8"))
    assert lines[0]["type"] == "header" and lines[0]["user_id"] == "jane"
    assert [r["type"] for r in lines[1:]] == ["user", "session"] + ["message"] * 5 + ["session"] + [
        "message"
    ] * 3
    assert {r.get("user_id") for r in lines if r["type"] in ("user", "session")} == {"jane"}
    assert {r["session_id"] for r in lines if r["type"] == "message"} == {"j1", "j2"}
    text = dump.read_text(encoding="utf-8")
    for other in ("bob", "nobody's", "j3", "lone"):
        assert other not in text

    # Into an empty store: exactly jane, nothing else.
    fresh = tmp_path / "fresh.sqlite3"
    code, _, err = cli(capsys, "import", "--path", str(fresh), "-i", str(dump), "-q")
    assert code == 0, err
    with ZepMemoryClient(path=fresh) as copy:
        assert [u.user_id for u in copy.user.list()] == ["jane"]
        assert [s.session_id for s in copy.memory.list_sessions()] == ["j1", "j2"]
        assert user_data(copy, "jane", times=times) == before

    # Into the same store after the user was deleted: jane is back as she was; bob untouched.
    with target.connect() as client:
        client.user.delete("jane")
    code, _, err = cli(capsys, "import", *target.args, "-i", str(dump), "-q")
    assert code == 0, err
    with target.connect() as client:
        assert user_data(client, "jane", times=times) == before
        assert user_data(client, "bob", times=times) == bob_before


def test_export_user_to_stdout_and_from_python(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    with target.connect() as client:
        fill(client)
        buffer = io.StringIO()
        stats = export_jsonl(client, buffer, user_id="bob")
    assert (stats.users, stats.sessions, stats.messages) == (1, 1, 1)
    code, out, err = cli(capsys, "export", *target.args, "--user", "bob", "-q")
    assert code == 0, err
    assert [r["type"] for r in records(out)] == ["header", "user", "session", "message"]
    assert [r for r in records(out)][1:] == records(buffer.getvalue())[1:]


def test_export_of_an_unknown_user_is_an_error_and_writes_nothing(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with target.connect() as client:
        fill(client)
    dump = tmp_path / "nobody.jsonl"
    code, out, err = cli(capsys, "export", *target.args, "--user", "nobody", "-o", str(dump))
    assert code == 1
    assert err.startswith("zep-memory: error: NotFoundError: ") and "nobody" in err
    assert not dump.exists() and not (tmp_path / "nobody.jsonl.partial").exists()
    code, out, err = cli(capsys, "export", *target.args, "--user", "nobody")
    assert (code, out) == (1, "")
    code, out, err = cli(capsys, "export", *target.args, "--user", "a/b")
    assert (code, out) == (1, "")
    assert "InvalidInputError" in err and "user_id" in err


def test_a_user_exported_then_imported_elsewhere_keeps_only_their_sessions(
    tmp_path: Path,
) -> None:
    """Python API: export one user from a store of many, import into another holding others."""
    with ZepMemoryClient(path=tmp_path / "a.db") as source:
        fill(source)
        buffer = io.StringIO()
        export_jsonl(source, buffer, user_id="jane")
    with ZepMemoryClient(path=tmp_path / "b.db") as other:
        other.user.add(CreateUserRequest(user_id="carl"))
        other.memory.add_messages("c1", [Message(role="carl", content="mine")])
        stats = import_jsonl(other, io.StringIO(buffer.getvalue()))
        assert (stats.users_created, stats.sessions_created, stats.messages_added) == (1, 2, 8)
        assert sorted(u.user_id for u in other.user.list()) == ["carl", "jane"]
        assert [m.content for m in other.memory.get_messages("c1")] == ["mine"]


CLI_PROFILE = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def run_quietly(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@CLI_PROFILE
@given(user_id=st.just("jane") | st.text(max_size=30))
@example(user_id="jane")
@example(user_id="-jane")
def test_any_user_id_exports_that_user_or_fails_with_one_line(tmp_path: Path, user_id: str):
    path = tmp_path / "users.sqlite3"
    if not path.exists():
        with ZepMemoryClient(path=path) as client:
            client.user.add(CreateUserRequest(user_id="jane"))
    # --user=ID: an id may start with "-", which argparse would take for an option.
    code, out, err = run_quietly("export", "--path", str(path), f"--user={user_id}", "-q")
    if user_id == "jane":
        assert code == 0
        return
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("zep-memory: error: ")
    assert "NotFoundError" in err or "InvalidInputError" in err


# -- purge -------------------------------------------------------------------------------------


def test_purge_on_the_embedded_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "store.sqlite3")
    with ZepMemoryClient(path=path) as client:
        fill(client)
        client.memory.delete_memory("b1")
    code, out, err = cli(capsys, "purge", "--path", path)
    assert (code, err) == (0, "")
    assert out.startswith("nothing to purge: no data soft-deleted more than 1h ago")

    code, out, err = cli(capsys, "purge", "--path", path, "--older-than", "0")
    assert code == 0, err
    assert "purged 2 sessions and 3 messages soft-deleted more than 0 ago" in out
    assert "j3" in out and "b1" in out and "jane" in out
    with ZepMemoryClient(path=path) as client:  # the ids are free
        assert client.memory.add_session(Session(session_id="j3")).user_id is None
        client.user.delete("bob")
    code, out, err = cli(capsys, "purge", "--path", path, "--older-than", "0")
    assert out.startswith("nothing to purge: no data soft-deleted more than 0 ago")


def test_purge_json_and_the_retention_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "store.sqlite3")
    with ZepMemoryClient(path=path) as client:
        fill(client)
        client.memory.delete_memory("j2")
    backdate(path, "j3", timedelta(days=3))
    monkeypatch.setenv("ZEP_MEMORY_RETENTION", "2d")
    code, out, err = cli(capsys, "purge", "--path", path, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["store"] == f"embedded:{path}"
    assert report["older_than"] == "2d"
    assert (report["sessions_removed"], report["messages_removed"]) == (1, 2)
    (purged,) = report["sessions"]
    assert purged["session_id"] == "j3" and purged["user_id"] == "jane"
    assert purged["messages"] == 2 and purged["removed"] is True
    datetime.fromisoformat(purged["deleted_at"])
    with ZepMemoryClient(path=path) as client:  # j2 is younger: still revivable
        client.memory.update_session(Session(session_id="j2", metadata={"back": True}))
        assert client.memory.get_session("j2").user_id == "jane"


@pytest.mark.parametrize(
    "bad", ["30", "-1d", "1.5h", "soon", "", "1h1h", "99999999d", "\u0663d", "1 d"]
)
def test_a_bad_duration_is_a_usage_error(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "store.sqlite3"
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("s", [Message(role="x", content="y")])
        client.memory.delete_memory("s")
    before = path.read_bytes()
    code, out, err = cli(capsys, "purge", "--path", str(path), "--older-than", bad)
    assert (code, out) == (2, "")
    assert "argument --older-than:" in err
    assert path.read_bytes() == before


@CLI_PROFILE
@given(duration=st.sampled_from(["0", "30d", "1h30m", "2w", "1.5s"]) | st.text(max_size=20))
@example(duration="12h")
@example(duration="12")
def test_any_duration_purges_or_is_a_usage_error(tmp_path: Path, duration: str) -> None:
    path = tmp_path / "durations.sqlite3"
    code, out, err = run_quietly("purge", "--path", str(path), f"--older-than={duration}")
    if code == 0:
        assert out.startswith("nothing to purge")
    else:
        assert (code, out) == (2, "")
        assert "--older-than" in err


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_purge_on_a_zep_server_is_refused_sending_nothing(
    api: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("uvicorn", reason="the Zep test server needs the server extra")
    server = request.getfixturevalue("zep_servers").fresh(api)
    if server.api_key is not None:
        monkeypatch.setenv("ZEP_API_KEY", server.api_key)
    code, out, err = cli(capsys, "purge", "--url", server.url, "--older-than", "0")
    assert (code, out) == (1, "")
    assert err.startswith("zep-memory: error: UnsupportedOperationError: purging soft-deleted")
    assert "purge_every" in err and err.count("\n") == 1
    assert len(server.requests) == 0
