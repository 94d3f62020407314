"""The ``zep-memory`` command line: demo, users, sessions, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zep_memory_plugins import (
    CreateUserRequest,
    Message,
    NotFoundError,
    Session,
    ZepMemoryClient,
)
from zep_memory_plugins.cli import _output, main


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_MEMORY_PATH"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """An embedded store file with two users, three sessions and some messages."""
    path = str(tmp_path / "store.sqlite3")
    with ZepMemoryClient(path=path) as c:
        c.user.add(CreateUserRequest(user_id="jane", email="jane@example.com", metadata={"a": 1}))
        c.user.add(CreateUserRequest(user_id="bob", first_name="Bob"))
        c.memory.add_session(Session(session_id="j1", user_id="jane", metadata={"t": "x"}))
        c.memory.add_session(Session(session_id="j2", user_id="jane"))
        c.memory.add_session(Session(session_id="b1", user_id="bob"))
        c.memory.add_messages(
            "j1",
            [
                Message(role="Jane", role_type="user", content="hello there"),
                Message(role="assistant", role_type="assistant", content="hi Jane"),
                Message(role="Jane", role_type="user", content="bye", metadata={"k": [1]}),
            ],
        )
        c.memory.add_messages("b1", [Message(role="user", content="bob here")])
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


# -- demo --------------------------------------------------------------------------------------


def test_demo_runs_as_a_module_in_a_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "zep_memory_plugins", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "in memory: nothing is kept" in out
    assert "Find me a hotel in Lisbon" in out  # the conversation is read back
    assert '"prefs": {"lang": "en", "units": "metric"}' in out  # the merge is shown
    assert "get_session -> NotFoundError" in out  # soft delete
    assert "now has 0 messages (the delete cascades)" in out
    assert out.rstrip().endswith("done.")
    assert len(out.splitlines()) < 25  # short and readable


def test_demo_with_a_path_leaves_no_demo_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "demo.sqlite3")
    code, out, _ = run(capsys, "demo", "--path", path)
    assert code == 0
    assert path in out
    with ZepMemoryClient(path=path) as c:
        assert c.user.list() == []
        assert c.memory.list_sessions() == []


# -- users and sessions ------------------------------------------------------------------------


def test_users_list_json_and_table(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    users = run_json(capsys, "users", "list", "--path", store)
    assert [u["user_id"] for u in users] == ["jane", "bob"]
    assert users[0]["email"] == "jane@example.com"
    assert users[0]["metadata"] == {"a": 1}

    assert [
        u["user_id"] for u in run_json(capsys, "users", "list", "--path", store, "--limit", "1")
    ] == ["jane"]

    code, out, _ = run(capsys, "users", "list", "--path", store)
    assert code == 0
    assert "2 users" in out and "jane" in out and "bob" in out


def test_users_show(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    shown = run_json(capsys, "users", "show", "jane", "--path", store)
    assert shown["user"]["user_id"] == "jane"
    assert [s["session_id"] for s in shown["sessions"]] == ["j1", "j2"]
    code, out, _ = run(capsys, "users", "show", "jane", "--path", store)
    assert code == 0
    assert "2 sessions" in out and "j1" in out and "j2" in out


def test_sessions_list_and_show(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    sessions = run_json(capsys, "sessions", "list", "--path", store)
    assert [s["session_id"] for s in sessions] == ["j1", "j2", "b1"]
    mine = run_json(capsys, "sessions", "list", "--path", store, "--user", "bob")
    assert [s["session_id"] for s in mine] == ["b1"]

    shown = run_json(capsys, "sessions", "show", "j1", "--path", store)
    assert shown["session"]["user_id"] == "jane"
    assert shown["session"]["metadata"] == {"t": "x"}
    assert [m["content"] for m in shown["messages"]] == ["hello there", "hi Jane", "bye"]
    assert shown["messages"][2]["metadata"] == {"k": [1]}
    last = run_json(capsys, "sessions", "show", "j1", "--last", "2", "--path", store)
    assert [m["content"] for m in last["messages"]] == ["hi Jane", "bye"]

    code, out, _ = run(capsys, "sessions", "show", "j1", "--path", store)
    assert code == 0
    assert "3 messages" in out and "hello there" in out


def test_sessions_delete_is_soft(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_json(capsys, "sessions", "delete", "j1", "--path", store) == {"deleted": "j1"}
    with ZepMemoryClient(path=store) as c:
        with pytest.raises(NotFoundError):
            c.memory.get_session("j1")
        assert [s.session_id for s in c.user.get_sessions("jane")] == ["j2"]


def test_users_delete_cascades(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_json(capsys, "users", "delete", "jane", "--yes", "--path", store)
    assert result == {"deleted": "jane", "sessions": 2}
    with ZepMemoryClient(path=store) as c:
        with pytest.raises(NotFoundError):
            c.user.get("jane")
        assert c.memory.get_messages("j1") == []
        with pytest.raises(NotFoundError):
            c.memory.get_session("j2")
        # bob is untouched
        assert [m.content for m in c.memory.get_messages("b1")] == ["bob here"]
        assert [s.session_id for s in c.memory.list_sessions()] == ["b1"]


def test_users_delete_without_yes_off_a_terminal_refuses(
    store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115 - not a terminal
    code, _, err = run(capsys, "users", "delete", "jane", "--path", store)
    assert code == 2
    assert "--yes" in err
    with ZepMemoryClient(path=store) as c:
        assert len(c.memory.get_messages("j1")) == 3


def test_plain_tables_without_rich(
    store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_output, "have_rich", lambda: False)
    code, out, _ = run(capsys, "users", "list", "--path", store)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["user_id", "email", "name", "metadata", "created"]
    assert lines[2].startswith("jane ") and "jane@example.com" in lines[2]
    assert lines[3].startswith("bob ")


# -- errors and exit codes ---------------------------------------------------------------------


def test_library_error_is_one_line_and_exit_1(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "users", "show", "nobody", "--path", store)
    assert code == 1
    assert out == ""
    assert err.startswith("zep-memory: error: NotFoundError")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_invalid_id_is_exit_1(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "sessions", "show", "a/b", "--path", store)
    assert code == 1
    assert "InvalidInputError" in err and "session_id" in err


def test_usage_errors_are_exit_2(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "users")[0] == 2
    assert run(capsys, "sessions", "show", "j1", "--last", "0", "--path", store)[0] == 2
    code, _, err = run(capsys, "users", "list", "--path", store, "--url", "http://x")
    assert code == 2 and "--url and --path" in err
    assert run(capsys, "--help")[0] == 0


def test_unset_api_key_variable_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    code, _, err = run(
        capsys, "users", "list", "--url", "http://127.0.0.1:9", "--api-key-env", "NO_SUCH_KEY_VAR"
    )
    assert code == 1
    assert "NO_SUCH_KEY_VAR" in err and "not set" in err
    # serve checks it before starting anything
    code, _, err = run(capsys, "serve", "--api-key-env", "NO_SUCH_KEY_VAR")
    assert code == 1 and "NO_SUCH_KEY_VAR" in err
    # a v2 server (the default) always needs a key: ZEP_API_KEY unless --api-key-env says
    monkeypatch.delenv("ZEP_API_KEY", raising=False)
    code, _, err = run(capsys, "serve", "--api", "v2")
    assert code == 1 and "ZEP_API_KEY" in err


def test_unreachable_server_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("zep_python", reason="the Zep backend needs zep-python")
    code, _, err = run(capsys, "users", "list", "--url", "http://127.0.0.1:9")
    assert code == 1
    assert err.startswith("zep-memory: error:") and "Traceback" not in err


def test_api_key_comes_from_the_environment_and_is_never_printed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("zep_python", reason="the Zep backend needs zep-python")
    from zep_memory_plugins.testing import ZepTestServer

    secret = "s3cret-key-4242"
    with ZepTestServer(api_key=secret) as server:
        monkeypatch.setenv("MY_ZEP_KEY", secret)
        users = run_json(
            capsys, "users", "list", "--url", server.url, "--api-key-env", "MY_ZEP_KEY"
        )
        assert users == []
        monkeypatch.setenv("WRONG_KEY", "not-the-key")
        code, out, err = run(
            capsys, "users", "list", "--url", server.url, "--api-key-env", "WRONG_KEY"
        )
        assert code == 1
        assert "AuthenticationError" in err
        assert secret not in out + err and "not-the-key" not in out + err


def test_the_key_variable_is_read_through_the_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("zep_python", reason="the Zep backend needs zep-python")
    from zep_memory_plugins.testing import ZepTestServer

    secret = "s3cret-key-9191"
    with ZepTestServer(api_key=secret) as server:
        monkeypatch.setenv("MY_ZEP_KEY", secret + "\n")  # as a secret mount holds it: stripped
        argv = ("users", "list", "--url", server.url, "--api-key-env", "MY_ZEP_KEY")
        assert run_json(capsys, *argv) == []
        monkeypatch.setenv("ZEP_API_KEY", secret + "\r\n")  # the default variable, likewise
        assert run_json(capsys, "users", "list", "--url", server.url) == []
        monkeypatch.setenv("MY_ZEP_KEY", secret + " trailing words")
        code, out, err = run(capsys, *argv)
    assert code == 1
    assert "ConfigurationError" in err and "HTTP header" in err
    assert secret not in err and secret not in out


def test_a_path_option_is_checked_like_the_client_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "users", "list", "--path", str(tmp_path / "bad\udcff.db"))
    assert code == 1
    assert "ConfigurationError" in err and "path" in err and "surrogate" in err
    assert list(tmp_path.iterdir()) == []
