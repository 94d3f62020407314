"""Pointing the suite at real servers: ``ExternalZepServer`` and the plugin's environment.

The "real" server here is one of our own test servers, which the plugin is told is external:
the plugin must then use it as it is, reset it only through the command given, and skip what
only a test server of this process can do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("uvicorn", reason="the test server needs the server extra")

from zep_memory_plugins.testing import SERVER_ENV, ExternalZepServer, ZepTestServer

pytest_plugins = ["pytester"]

SECRET = "external-key-6f1d-not-real"


#: The tests set the variables themselves.
pytestmark = pytest.mark.usefixtures("no_external_servers")


def test_from_env_reads_the_url_key_and_reset_command() -> None:
    env = {
        f"{SERVER_ENV}_V2": " http://127.0.0.1:8001/ ",
        f"{SERVER_ENV}_V2_KEY": SECRET,
        f"{SERVER_ENV}_RESET": "reset-all",
        f"{SERVER_ENV}_V1": "http://127.0.0.1:8000",
        f"{SERVER_ENV}_V1_RESET": "reset-v1",
    }
    v2 = ExternalZepServer.from_env("v2", env)
    assert v2 is not None
    assert (v2.url, v2.api, v2.api_key, v2.reset_command) == (
        "http://127.0.0.1:8001",
        "v2",
        SECRET,
        "reset-all",
    )
    assert v2.window == 6 and v2.external and v2.running
    v1 = ExternalZepServer.from_env("v1", env)
    assert v1 is not None and (v1.api_key, v1.reset_command, v1.window) == (None, "reset-v1", 12)
    assert ExternalZepServer.configured(env) == ["v1", "v2"]
    assert ExternalZepServer.from_env("v1", {}) is None
    assert ExternalZepServer.configured({f"{SERVER_ENV}_V1": "  "}) == []
    assert SECRET not in repr(v2) and "key" in repr(v2)
    assert ZepTestServer.external is False


def test_reset_runs_the_command_with_the_generation(tmp_path: Path) -> None:
    log = tmp_path / "resets"
    server = ExternalZepServer(
        "http://127.0.0.1:1",
        api="v1",
        reset_command=f'echo "$ZEP_MEMORY_TEST_SERVER_API" >> "{log}"',
    )
    server.reset()
    server.reset()
    assert log.read_text() == "v1\nv1\n"
    failing = ExternalZepServer(
        "http://127.0.0.1:1", api="v2", reset_command="echo no database >&2; exit 3"
    )
    with pytest.raises(RuntimeError, match=r"failed \(3\): no database"):
        failing.reset()
    with pytest.raises(RuntimeError, match=f"{SERVER_ENV}_V1_RESET"):
        ExternalZepServer("http://127.0.0.1:1", api="v1").reset()
    with pytest.raises(ValueError, match="api must be one of v1, v2"):
        ExternalZepServer("http://127.0.0.1:1", api="v9")


def test_what_only_a_test_server_has_skips_saying_why() -> None:
    server = ExternalZepServer("http://127.0.0.1:8001", api="v2")
    for use in (
        lambda: server.store,
        lambda: server.faults,
        lambda: server.requests,
        lambda: server.count(),
        server.restart,
        server.stop,
    ):
        with pytest.raises(pytest.skip.Exception, match="the v2 server is an external one"):
            use()
    assert server.start() is server
    server.close()  # not ours: nothing happens


@pytest.fixture
def outside_server() -> Iterator[ZepTestServer]:
    with ZepTestServer(api="v2", api_key=SECRET) as server:
        yield server


def test_the_plugin_hands_out_the_external_server(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    outside_server: ZepTestServer,
    tmp_path: Path,
) -> None:
    log = tmp_path / "resets"
    monkeypatch.setenv(f"{SERVER_ENV}_V2", outside_server.url)
    monkeypatch.setenv(f"{SERVER_ENV}_V2_KEY", SECRET)
    monkeypatch.setenv(
        f"{SERVER_ENV}_RESET", f'echo "reset $ZEP_MEMORY_TEST_SERVER_API" >> "{log}"'
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        f"""
        import httpx

        def test_uses_it(zep_servers):
            server = zep_servers.fresh("v2")
            assert server.external and server.url == {outside_server.url!r}
            headers = {{"Authorization": "Api-Key " + server.api_key}}
            r = httpx.post(server.url + "/api/v2/users", json={{"user_id": "u1"}}, headers=headers)
            assert r.status_code == 201
            assert not zep_servers["v1"].external  # no URL for v1: a test server of ours

        def test_skips_what_it_cannot_do(fresh_zep_server):
            fresh_zep_server.faults.add("GET", "**", status=503)
        """
    )
    # In a child process: an in-process run would drop the modules it imported first (httpx's
    # transport among them) and leave this process with two copies of their exception classes.
    result = pytester.runpytest_subprocess(
        "-p", "zep_memory_plugins.testing.pytest_plugin", "-q", "-rs", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs the test server's fault injection*external*"])
    assert log.read_text() == "reset v2\nreset v2\n"
    assert outside_server.store.get_user("u1").user_id == "u1"  # it really went there


def test_parallel_workers_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    args = ["-p", "zep_memory_plugins.testing.pytest_plugin", "-p", "no:cacheprovider"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(f"{SERVER_ENV}_V1", "http://127.0.0.1:1")
        result = pytester.runpytest_subprocess(*args, "-n", "2")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*external Zep servers (v1)*run with -n 0*"])
        pytester.runpytest_subprocess(*args, "-n", "0").assert_outcomes(passed=1)
