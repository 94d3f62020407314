"""Hostile input to ``import`` and to the command line (issue 11, items 6 and 7).

- A bad line stops an import, but what came before it is kept, including the messages that
  were waiting for their batch (main dropped them).
- An invalid ``session_id`` in a message line is reported with its line number (main reported
  it without, from a later batch).
- Lines that are not UTF-8, JSON strings holding lone surrogates, JSON nested too deeply, and
  command-line arguments that are not UTF-8 are typed errors with exit code 1, never a
  traceback (main: ``UnicodeDecodeError`` / ``UnicodeEncodeError`` / ``RecursionError``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zep_memory_plugins import InvalidInputError, ZepMemoryClient
from zep_memory_plugins.cli import main
from zep_memory_plugins.transfer import import_jsonl

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_MEMORY_PATH"):
        monkeypatch.delenv(name, raising=False)


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode() + b"\n"


def _session_file(messages: int, bad: bytes | None = None) -> bytes:
    """A user, a session, ``messages`` messages, then (if given) a bad line."""
    lines = [
        _line({"type": "user", "user_id": "jane"}),
        _line({"type": "session", "session_id": "trip", "user_id": "jane"}),
    ]
    lines += [
        _line({"type": "message", "session_id": "trip", "role": "user", "content": f"m{i}"})
        for i in range(messages)
    ]
    if bad is not None:
        lines.append(bad)
    return b"".join(lines)


BAD_LINES = [
    pytest.param(b"{not json\n", "not valid JSON", id="not-json"),
    pytest.param(
        b'{"type": "message", "session_id": "trip", "role": "user", "content": "\xff"}\n',
        "not UTF-8",
        id="not-utf8",
    ),
    pytest.param(
        b'{"type": "message", "session_id": "trip", "role": "user", "content": "\\ud800"}\n',
        "surrogate",
        id="surrogate-content",
    ),
    pytest.param(
        b'{"type": "message", "session_id": "trip", "role": "\\udfff", "content": "x"}\n',
        "surrogate",
        id="surrogate-role",
    ),
    pytest.param(
        b'{"type": "message", "session_id": "trip", "role": "user", "content": "x", '
        b'"metadata": {"\\ud800": 1}}\n',
        "surrogate",
        id="surrogate-metadata-key",
    ),
    pytest.param(b'{"type": "user", "user_id": "\\ud800"}\n', "surrogate", id="surrogate-user"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply", id="deep-json"),
    pytest.param(
        b'{"type": "user", "user_id": "x", "metadata": {"n": ' + b"9" * 5000 + b"}}\n",
        "line",
        id="huge-int",
    ),
    pytest.param(
        b'{"type": "message", "session_id": "a/b", "role": "user", "content": "x"}\n',
        "session_id",
        id="bad-session-id",
    ),
    pytest.param(
        b'{"type": "message", "session_id": "\\ud800", "role": "user", "content": "x"}\n',
        "session_id",
        id="surrogate-session-id",
    ),
    pytest.param(
        b'{"type": "message", "session_id": 7, "role": "user", "content": "x"}\n',
        "session_id",
        id="int-session-id",
    ),
]


@pytest.mark.parametrize(("bad", "words"), BAD_LINES)
def test_import_stops_on_the_bad_line_and_keeps_what_came_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: bytes, words: str
) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(_session_file(5, bad))
    store = tmp_path / "store.sqlite3"
    code = main(["import", "--input", str(dump), "--path", str(store), "--quiet"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "InvalidInputError" in err and "line 8" in err and words in err, err
    assert "Traceback" not in err
    with ZepMemoryClient(path=store) as client:
        # The five messages were waiting for their batch of 100 when line 8 stopped the import.
        assert [m.content for m in client.memory.get_messages("trip")] == [
            f"m{i}" for i in range(5)
        ]
        assert client.memory.get_session("trip").user_id == "jane"


def test_import_keeps_full_batches_and_the_waiting_rest(tmp_path: Path) -> None:
    data = _session_file(7, b"{broken\n")
    with ZepMemoryClient(path=":memory:") as client:
        with pytest.raises(InvalidInputError) as caught:
            import_jsonl(client, io.BytesIO(data), batch_size=3)
        assert "line 10" in str(caught.value)
        assert len(client.memory.get_messages("trip")) == 7
        # Importing the repaired file resumes: nothing twice.
        stats = import_jsonl(client, io.BytesIO(_session_file(7)), batch_size=3)
        assert stats.messages_added == 7 and len(client.memory.get_messages("trip")) == 14


def test_a_bad_session_id_names_its_line_even_before_its_batch_is_written() -> None:
    lines = (
        _session_file(2)
        + _line({"type": "message", "session_id": "..", "role": "user", "content": "x"})
        + _line({"type": "message", "session_id": "trip", "role": "user", "content": "after"})
    )
    with ZepMemoryClient(path=":memory:") as client:
        with pytest.raises(InvalidInputError) as caught:
            import_jsonl(client, io.BytesIO(lines))
        assert str(caught.value).startswith("line 5:") and caught.value.field == "session_id"
        assert [m.content for m in client.memory.get_messages("trip")] == ["m0", "m1"]


def test_a_text_stream_that_is_not_utf8_is_a_typed_error() -> None:
    data = _session_file(1) + b'{"type": "user", "user_id": "\xff"}\n'
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    with ZepMemoryClient(path=":memory:") as client, pytest.raises(InvalidInputError) as caught:
        import_jsonl(client, stream)
    assert "utf-8" in str(caught.value)


def _run(*argv: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8"}
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_MEMORY_PATH"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "zep_memory_plugins", *argv],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX arguments are bytes; Windows' are not")
def test_command_line_arguments_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite3").encode()
    with ZepMemoryClient(path=store.decode()) as client:
        client.user.add({"user_id": "jane"})
    runs = [
        _run(b"users", b"show", b"j\xffne", b"--path", store),
        _run(b"sessions", b"list", b"--user", b"\xff", b"--path", store),
        _run(b"users", b"list", b"--url", b"http://127.0.0.1:9/\xff"),
    ]
    for result in runs:
        err = result.stderr.decode("utf-8", "backslashreplace")
        assert result.returncode == 1, err
        assert "InvalidInputError" in err and "surrogate" in err, err
        assert "Traceback" not in err
    with ZepMemoryClient(path=store.decode()) as client:
        assert [u.user_id for u in client.user.list()] == ["jane"]
        assert client.memory.list_sessions() == []


@pytest.mark.parametrize(
    "count", ["9223372036854775808", "1" + "0" * 5000, "-1", "0", "1e3", "\udcff"]
)
def test_count_options_out_of_range_are_usage_errors(
    capsys: pytest.CaptureFixture[str], count: str
) -> None:
    for argv in (
        ["sessions", "show", "s", "--last", count, "--path", ":memory:"],
        ["users", "list", "--limit", count, "--path", ":memory:"],
        ["import", "--batch-size", count, "--path", ":memory:", "--input", "-"],
    ):
        assert main(argv) == 2
        _, err = capsys.readouterr()
        assert "Traceback" not in err and len(err) < 2000, err
