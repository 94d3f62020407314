"""The test server's lifecycle, fault injection, request log, auth, CLI and pytest plugin."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from zep_memory_plugins.testing import ZepTestServer

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def v2_server() -> Iterator[ZepTestServer]:
    with ZepTestServer(api="v2") as server:
        yield server


@pytest.fixture
def server(v2_server: ZepTestServer) -> ZepTestServer:
    v2_server.reset()
    return v2_server


def key(server: ZepTestServer) -> dict[str, str]:
    """The Authorization header a v2 server wants."""
    return {"Authorization": f"Api-Key {server.api_key}"}


def add(server: ZepTestServer, session_id: str, content: str, **extra: object) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v2/sessions/{session_id}/memory",
        json={"messages": [{"role": "user", "role_type": "user", "content": content, **extra}]},
        headers=key(server),
    )


def contents(server: ZepTestServer, session_id: str) -> list[str]:
    return [m.content for m in server.store.get_messages(session_id)]


# -- lifecycle ---------------------------------------------------------------------------------


def test_start_stop_restart_same_port_same_store() -> None:
    server = ZepTestServer()
    assert not server.running
    server.start()
    try:
        assert server.running
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0
        port = server.port
        add(server, "s1", "before restart")
        with httpx.Client(base_url=server.url, headers=key(server)) as http:  # keep-alive
            assert http.get("/healthz").status_code == 200
            server.restart()
            assert server.port == port
            memory = http.get("/api/v2/sessions/s1/memory").json()
        assert [m["content"] for m in memory["messages"]] == ["before restart"]
        server.stop()
        assert not server.running
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/healthz")
        server.start()
        assert server.port == port
        assert contents(server, "s1") == ["before restart"]
    finally:
        server.close()
    assert not server.running


def test_fixed_port_and_port_in_use() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with ZepTestServer(port=free) as server:
        assert server.url.endswith(f":{free}")
        assert httpx.get(f"{server.url}/healthz").text == "."
        second = ZepTestServer(port=free)
        with pytest.raises(OSError):
            second.start()
        assert not second.running
        second.close()


def test_reset_empties_everything_and_ids_restart(server: ZepTestServer) -> None:
    r = httpx.post(f"{server.url}/api/v2/users", json={"user_id": "u1"}, headers=key(server))
    first_id = r.json()["id"]
    add(server, "s1", "x")
    server.faults.add("GET", "/api/v2/users/*", status=500, times=None)
    server.reset()
    assert server.store.count_users() == 0
    assert server.store.count_sessions() == 0
    assert server.requests == []
    assert len(server.faults) == 0
    r = httpx.get(f"{server.url}/api/v2/users/u1", headers=key(server))
    assert r.status_code == 404  # no fault any more
    r = httpx.post(f"{server.url}/api/v2/users", json={"user_id": "u1"}, headers=key(server))
    assert r.json()["id"] == first_id


def test_file_store_survives_servers_and_reset_keeps_the_file(tmp_path: Path) -> None:
    path = tmp_path / "zep.sqlite3"
    with ZepTestServer(path=path) as server:
        add(server, "s1", "persisted")
    assert path.exists()
    with ZepTestServer(path=path, api="v1") as server:  # one file, either generation
        assert contents(server, "s1") == ["persisted"]
        server.reset()
        assert contents(server, "s1") == []
    assert path.exists()


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="window"):
        ZepTestServer(window=0)
    with pytest.raises(ValueError, match="api"):
        ZepTestServer(api="v9")


def test_one_generation_per_server_and_their_defaults() -> None:
    with ZepTestServer() as v2, ZepTestServer(api="v1") as v1:
        assert (v2.api, v1.api) == ("v2", "v1")
        assert (v2.window, v1.window) == (6, 12)
        # v2 always has a key (a random one unless given); v1 is open unless given one.
        assert v2.api_key and len(v2.api_key) >= 20
        assert v1.api_key is None
        assert ZepTestServer().api_key != v2.api_key
        r = httpx.get(f"{v2.url}/api/v1/user/u1")
        assert (r.status_code, r.text) == (404, "404 page not found\n")
        r = httpx.get(f"{v1.url}/api/v2/users/u1", headers=key(v2))
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "<html" in r.text
    with ZepTestServer(api_key="given") as given:
        assert given.api_key == "given"


def test_repr_never_shows_the_key() -> None:
    server = ZepTestServer(api_key="super-secret-123")
    try:
        assert "super-secret-123" not in repr(server)
        assert "super-secret-123" not in repr(server.app)
    finally:
        server.close()


# -- request log -------------------------------------------------------------------------------


def test_requests_are_recorded_in_order(server: ZepTestServer) -> None:
    add(server, "s1", "a")
    add(server, "s2", "b")
    httpx.get(f"{server.url}/api/v1/sessions/s1/memory", params={"lastn": 1})  # 404, recorded
    assert server.requests == [
        ("POST", "/api/v2/sessions/s1/memory"),
        ("POST", "/api/v2/sessions/s2/memory"),
        ("GET", "/api/v1/sessions/s1/memory"),
    ]
    assert server.count() == 3
    assert server.count("POST") == 2
    assert server.count("post", "/api/v2/sessions/*/memory") == 2
    assert server.count("*", "/api/*/sessions/s1/**") == 2
    assert server.count("GET", "/api/v2/**") == 0
    assert server.requests.matching("GET") == [("GET", "/api/v1/sessions/s1/memory")]


# -- faults ------------------------------------------------------------------------------------


def test_fault_before_answers_instead_of_handling(server: ZepTestServer) -> None:
    fault = server.faults.add("POST", "/api/v2/sessions/*/memory", status=500, times=1)
    r = add(server, "s1", "lost")
    assert r.status_code == 500
    assert r.json() == {"message": "injected fault: 500"}
    assert contents(server, "s1") == []
    assert fault.hits == 1
    assert fault.remaining == 0
    assert add(server, "s1", "kept").status_code == 201
    assert contents(server, "s1") == ["kept"]


def test_fault_after_lets_the_write_land() -> None:
    with ZepTestServer(api="v1") as v1:
        v1.faults.add("POST", "/api/v1/sessions/*/memory", status=503, after=True)
        r = httpx.post(
            f"{v1.url}/api/v1/sessions/s1/memory",
            json={"messages": [{"role": "user", "content": "landed"}]},
        )
        assert r.status_code == 503
        assert r.text == "injected fault: 503\n"  # v1: plain text, as Go's http.Error
        assert r.headers["Retry-After"] == "0"
        assert contents(v1, "s1") == ["landed"]


def test_fault_times_none_and_counting(server: ZepTestServer) -> None:
    fault = server.faults.add("GET", "/healthz", status=500, times=None)
    for _ in range(3):
        assert httpx.get(f"{server.url}/healthz").status_code == 500
    assert fault.hits == 3
    assert fault.remaining is None
    server.faults.clear()
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_fault_times_and_order(server: ZepTestServer) -> None:
    server.faults.add("GET", "/api/v2/sessions/*", status=502, times=2)
    server.faults.add("GET", "/api/v2/**", status=504, times=1)
    url = f"{server.url}/api/v2/sessions/s1"
    codes = [httpx.get(url, headers=key(server)).status_code for _ in range(4)]
    assert codes == [502, 502, 504, 404]


def test_fault_path_star_is_one_segment(server: ZepTestServer) -> None:
    server.faults.add("*", "/api/v2/sessions/*", status=500, times=None)
    assert httpx.get(f"{server.url}/api/v2/sessions/s1").status_code == 500  # before the key
    r = httpx.get(f"{server.url}/api/v2/sessions/s1/memory", headers=key(server))
    assert r.status_code == 200
    assert httpx.delete(f"{server.url}/api/v2/sessions/s1").status_code == 500  # any method


def test_fault_429_carries_retry_after(server: ZepTestServer) -> None:
    server.faults.add("GET", "**", status=429, retry_after=7, body="slow down")
    r = httpx.get(f"{server.url}/api/v2/users/u1")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json() == {"message": "slow down"}


def test_fault_drop_before_and_after(server: ZepTestServer) -> None:
    server.faults.add("POST", "/api/v2/sessions/*/memory", status=None, drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        add(server, "s1", "dropped before")
    assert contents(server, "s1") == []
    server.faults.add("POST", "/api/v2/sessions/*/memory", status=None, drop=True, after=True)
    mine = str(uuid.uuid4())
    with pytest.raises(httpx.RemoteProtocolError):
        add(server, "s1", "dropped after", uuid=mine)
    assert contents(server, "s1") == ["dropped after"]
    # The client's retry of the unknown outcome: duplicate uuid (CE: 400), nothing doubled.
    assert add(server, "s1", "dropped after", uuid=mine).status_code == 400
    assert contents(server, "s1") == ["dropped after"]


def test_fault_delay_past_a_timeout(server: ZepTestServer) -> None:
    server.faults.add("GET", "/api/v2/sessions/*/memory", status=None, delay=0.5)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server.url}/api/v2/sessions/s1/memory", timeout=0.1, headers=key(server))
    assert time.monotonic() - started < 0.4
    # A slowed request that is waited for gets its normal answer.
    server.faults.add("GET", "/api/v2/sessions/*/memory", status=None, delay=0.2)
    r = httpx.get(f"{server.url}/api/v2/sessions/s1/memory", timeout=5, headers=key(server))
    assert r.status_code == 200


def test_fault_arguments_are_checked(server: ZepTestServer) -> None:
    with pytest.raises(ValueError):
        server.faults.add("GET", "**", status=None)
    with pytest.raises(ValueError):
        server.faults.add("GET", "**", times=0)


# -- auth --------------------------------------------------------------------------------------


def test_v2_key_required_everywhere_but_healthz(caplog: pytest.LogCaptureFixture) -> None:
    secret = "k3y-" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    with ZepTestServer(api_key=secret) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        good = {"Authorization": f"Api-Key {secret}"}
        for headers in (
            {},
            {"Authorization": "Api-Key nope"},
            {"Authorization": secret},
            {"Authorization": f"Bearer {secret}"},
        ):
            r = httpx.post(f"{server.url}/api/v2/users", json={"user_id": "a"}, headers=headers)
            # Zep CE: plain text from its auth middleware, before any route (even an unknown one)
            assert (r.status_code, r.text) == (401, "unauthorized\n")
        assert httpx.get(f"{server.url}/api/v2/no-such-route").status_code == 401
        assert httpx.get(f"{server.url}/api/v2/no-such-route", headers=good).status_code == 404
        r = httpx.post(f"{server.url}/api/v2/users", json={"user_id": "a"}, headers=good)
        assert r.status_code == 201
        assert server.store.count_users() == 1
    assert secret not in caplog.text


def test_v1_is_open_unless_given_a_bearer_key() -> None:
    with ZepTestServer(api="v1") as open_server:
        r = httpx.post(f"{open_server.url}/api/v1/user", json={"user_id": "a"})
        assert r.status_code == 201
    secret = "k3y-" + uuid.uuid4().hex
    with ZepTestServer(api="v1", api_key=secret) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        r = httpx.post(f"{server.url}/api/v1/user", json={"user_id": "a"})
        assert r.status_code == 401
        wrong = {"Authorization": f"Api-Key {secret}"}
        assert httpx.get(f"{server.url}/api/v1/user/a", headers=wrong).status_code == 401
        good = {"Authorization": f"Bearer {secret}"}
        r = httpx.post(f"{server.url}/api/v1/user", json={"user_id": "a"}, headers=good)
        assert r.status_code == 201
        assert "k3y" not in repr(server)


# -- command line, plugin, missing extra -------------------------------------------------------


class _Served:
    """A test server run from the command line in a child process, until interrupted."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *command, "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def __enter__(self) -> _Served:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.health = httpx.get(f"{self.url}/healthz")
                return self
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    raise
                time.sleep(0.1)

    def interrupt(self) -> None:
        """Ctrl-C, then wait for it to stop and keep what it printed."""
        self.proc.send_signal(signal.SIGINT)
        self.output, _ = self.proc.communicate(timeout=20)

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _env_without_key() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "ZEP_API_KEY"}


@pytest.mark.parametrize("variable", ["ZEP_API_KEY", "ZEP_TEST_KEY"])
def test_command_line_serves_until_interrupted(variable: str) -> None:
    secret = "cli-" + uuid.uuid4().hex
    env = {**_env_without_key(), variable: secret}
    # ZEP_API_KEY is where a v2 server looks by default
    extra = [] if variable == "ZEP_API_KEY" else ["--api-key-env", variable]
    with _Served(["zep_memory_plugins.testing", *extra], env) as served:
        assert httpx.get(f"{served.url}/api/v2/users/u").status_code == 401
        key = {"Authorization": f"Api-Key {secret}"}
        assert httpx.get(f"{served.url}/api/v2/users/u", headers=key).status_code == 404
        served.interrupt()
    assert served.proc.returncode == 0
    assert f"{served.url}/api/v2" in served.output
    assert secret not in served.output


def test_zep_memory_serve_api_v1_is_an_open_v1_server() -> None:
    command = ["zep_memory_plugins", "serve", "--api", "v1"]
    with _Served(command, _env_without_key()) as served:
        url = served.url
        assert served.health.headers["X-Zep-Version"].startswith("0.27")
        assert httpx.post(f"{url}/api/v1/user", json={"user_id": "u"}).status_code == 201
        assert httpx.get(f"{url}/api/v2/users/u").status_code == 404
        # the window of a v1 server is 12
        messages = [{"role": "user", "content": f"m{i}"} for i in range(15)]
        httpx.post(f"{url}/api/v1/sessions/s/memory", json={"messages": messages})
        assert len(httpx.get(f"{url}/api/v1/sessions/s/memory").json()["messages"]) == 12
        served.interrupt()
    assert served.proc.returncode == 0
    assert f"{url}/api/v1" in served.output and "no API key" in served.output


def test_zep_memory_serve_api_v4_is_a_cloud_server() -> None:
    secret = "cloud-" + uuid.uuid4().hex
    env = {**_env_without_key(), "ZEP_API_KEY": secret}
    command = ["zep_memory_plugins", "serve", "--api", "v4", "--task-delay", "30"]
    with _Served(command, env) as served:
        url, key = served.url, {"Authorization": f"Api-Key {secret}"}
        refused = httpx.get(f"{url}/api/v4/threads")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert "x-ratelimit-remaining" in refused.headers
        user = httpx.post(f"{url}/api/v4/users", json={}, headers=key).json()
        task = httpx.delete(f"{url}/api/v4/users/{user['uuid']}", headers=key).json()["task"]
        assert task["status"] == "pending"  # --task-delay 30
        assert httpx.get(f"{url}/api/v2/users/u", headers=key).status_code == 404
        served.interrupt()
    assert served.proc.returncode == 0
    assert f"{url}/api/v4" in served.output and "in memory" in served.output
    assert secret not in served.output


@pytest.mark.parametrize(
    "argv",
    [
        ["--api", "v2", "--task-delay", "1"],
        ["--api", "v1", "--rate-limit", "5"],
        ["--api", "v4", "--path", "x.sqlite3"],
        ["--api", "v3", "--window", "3"],
        ["--api", "v4", "--task-delay", "-1"],
    ],
)
def test_command_line_cloud_options_are_checked(argv: list[str]) -> None:
    from zep_memory_plugins.testing.__main__ import main

    assert main(argv) == 2  # bad usage, nothing served


def test_command_line_v2_needs_a_key_and_api_is_checked() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "zep_memory_plugins.testing", "--api", "v2"],
        env=_env_without_key(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1  # a configuration error, as for `zep-memory serve`
    assert "ZEP_API_KEY" in proc.stderr and "always requires an API key" in proc.stderr
    from zep_memory_plugins.testing.__main__ import main

    assert main(["--api", "v9"]) == 2  # bad usage


def test_command_line_refuses_an_unset_key_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ZEP_UNSET_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "zep_memory_plugins.testing", "--api-key-env", "ZEP_UNSET_KEY"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "ZEP_UNSET_KEY" in proc.stderr


def test_missing_extra_raises_missing_dependency_error() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "from zep_memory_plugins import MissingDependencyError\n"
        "try:\n"
        "    import zep_memory_plugins.testing\n"
        "except MissingDependencyError as e:\n"
        "    print(e.extra, e.package)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert proc.stdout.strip() == "server starlette and uvicorn"


@pytest.mark.usefixtures("no_external_servers")
def test_pytest_plugin_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import httpx

        def test_one(zep_server):
            assert zep_server.api == "v2"
            headers = {"Authorization": "Api-Key " + zep_server.api_key}
            httpx.post(zep_server.url + "/api/v2/users", json={"user_id": "u1"}, headers=headers)
            assert zep_server.store.count_users() == 1

        def test_two(fresh_zep_server, zep_server):
            assert fresh_zep_server is zep_server
            assert fresh_zep_server.store.count_users() == 0
            assert httpx.get(zep_server.url + "/healthz").text == "."
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "zep_memory_plugins.testing.pytest_plugin", "-q", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)


@pytest.mark.usefixtures("no_external_servers")
def test_pytest_plugin_api_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nzep_api = v1\n")
    pytester.makepyfile(
        """
        import httpx

        def test_v1(zep_server):
            assert zep_server.api == "v1" and zep_server.api_key is None
            r = httpx.post(zep_server.url + "/api/v1/user", json={"user_id": "u1"})
            assert r.status_code == 201
        """
    )
    args = ["-p", "zep_memory_plugins.testing.pytest_plugin", "-q", "-p", "no:cacheprovider"]
    pytester.runpytest_inprocess(*args).assert_outcomes(passed=1)
    # the command line wins over the ini file
    pytester.runpytest_inprocess(*args, "--zep-api", "v2").assert_outcomes(failed=1)


@pytest.mark.usefixtures("no_external_servers")
def test_pytest_plugin_one_server_per_generation(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import httpx

        def test_both(zep_servers, zep_server):
            v1, v2 = zep_servers["v1"], zep_servers["v2"]
            assert (v1.api, v2.api) == ("v1", "v2") and v1.url != v2.url
            assert zep_server is v2 and zep_servers["v1"] is v1  # started once, then reused
            assert httpx.post(v1.url + "/api/v1/user", json={"user_id": "u1"}).status_code == 201
            assert v1.store.count_users() == 1
            v1.faults.add("GET", "**", status=503)
            assert zep_servers.fresh("v1") is v1
            assert v1.store.count_users() == 0
            assert httpx.get(v1.url + "/healthz").status_code == 200  # the fault is disarmed
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "zep_memory_plugins.testing.pytest_plugin", "-q", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
