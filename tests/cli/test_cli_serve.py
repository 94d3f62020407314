"""``zep-memory serve`` and ``python -m zep_memory_plugins.testing`` are one command.

Same parser (same help, same usage errors), same checks (the key read through the settings,
stripped, refused when missing; the store path checked) and the same exit codes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from zep_memory_plugins import CreateUserRequest, ZepMemoryClient

REPO = Path(__file__).resolve().parents[2]
SECRET = "serve-key-51c2-not-real"
ENTRY_POINTS = {
    "zep-memory serve": ["-m", "zep_memory_plugins", "serve"],
    "python -m zep_memory_plugins.testing": ["-m", "zep_memory_plugins.testing"],
}


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8", "COLUMNS": "100"}
    for name in ("ZEP_API_URL", "ZEP_API_KEY", "ZEP_MEMORY_PATH", "ZEP_API_VERSION"):
        env.pop(name, None)
    return {**env, **extra}


def _run(entry: str, *argv: str | bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, *ENTRY_POINTS[entry], *argv],
        capture_output=True,
        env=_env(**env),
        timeout=60,
        check=False,
    )


def _both(*argv: str | bytes, **env: str) -> tuple[subprocess.CompletedProcess[bytes], ...]:
    return tuple(_run(entry, *argv, **env) for entry in ENTRY_POINTS)


def test_the_help_is_the_same_parser() -> None:
    serve, module = _both("--help")
    assert serve.returncode == module.returncode == 0
    assert serve.stdout == module.stdout
    text = serve.stdout.decode()
    for option in ("--api", "--host", "--port", "--path", "--api-key-env", "--window"):
        assert option in text


@pytest.mark.parametrize(
    "argv",
    [
        ("--api", "v9"),
        ("--window", "0"),
        ("--port", "70000"),
        ("--port", "eighty"),
        ("--no-such-option",),
    ],
)
def test_usage_errors_are_the_same(argv: tuple[str, ...]) -> None:
    serve, module = _both(*argv, ZEP_API_KEY=SECRET)
    assert serve.returncode == module.returncode == 2
    assert serve.stderr == module.stderr
    assert b"Traceback" not in serve.stderr


def test_a_v2_server_without_a_key_is_refused_the_same_way() -> None:
    serve, module = _both("--api", "v2")
    assert serve.returncode == module.returncode == 1
    assert serve.stderr == module.stderr
    err = serve.stderr.decode()
    assert "ConfigurationError" in err and "ZEP_API_KEY" in err
    assert "always requires an API key" in err
    serve, module = _both("--api-key-env", "ZEP_UNSET_KEY_VAR")
    assert serve.returncode == module.returncode == 1
    assert b"ZEP_UNSET_KEY_VAR" in serve.stderr and serve.stderr == module.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX arguments are bytes; Windows' are not")
def test_a_path_that_is_not_utf8_is_refused_the_same_way(tmp_path: Path) -> None:
    bad = str(tmp_path).encode() + b"/st\xffre.db"
    serve, module = _both("--path", bad, ZEP_API_KEY=SECRET)
    assert serve.returncode == module.returncode == 1
    assert serve.stderr == module.stderr
    err = serve.stderr.decode()
    assert "ConfigurationError" in err and "path" in err and "surrogate" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_the_key_read_from_a_file_like_variable_is_stripped(entry: str, tmp_path: Path) -> None:
    """A key with a trailing newline (a secret mount) serves, and the stripped key works."""
    pytest.importorskip("zep_python", reason="the v2 backend needs zep-python")
    port = _free_port()
    store = tmp_path / "served.db"
    proc = subprocess.Popen(
        [sys.executable, *ENTRY_POINTS[entry], "--port", str(port), "--path", str(store)],
        env=_env(ZEP_API_KEY=SECRET + "\n"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        with ZepMemoryClient(base_url=url, api_key=SECRET) as client:
            client.user.add(CreateUserRequest(user_id="jane"))
            assert client.user.get("jane").user_id == "jane"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert SECRET.encode() not in output
    with ZepMemoryClient(path=str(store)) as client:  # the served store is the file given
        assert [u.user_id for u in client.user.list()] == ["jane"]
