"""A real Zep server standing in for a :class:`ZepTestServer` in a test run.

Point a generation's tests at a running server with environment variables (``V1``, ``V2``: the
generation, upper case)::

    ZEP_MEMORY_TEST_SERVER_V1=http://127.0.0.1:8000          # its base URL (no /api/v1)
    ZEP_MEMORY_TEST_SERVER_V2=http://127.0.0.1:8001
    ZEP_MEMORY_TEST_SERVER_V2_KEY=...                         # its API key, if it wants one
    ZEP_MEMORY_TEST_SERVER_RESET="/path/to/reset.sh"          # a shell command that empties it
    ZEP_MEMORY_TEST_SERVER_V1_RESET="/path/to/reset.sh v1"    # or one per generation

The reset command runs with ``ZEP_MEMORY_TEST_SERVER_API`` set to the generation it is to
empty. :class:`ExternalZepServer` has what tests use of a :class:`ZepTestServer` that a real
server has too (``url``, ``api``, ``api_key``, ``window``, ``reset()``); what only the test
server has (``store``, ``faults``, ``requests``, ``count()``, stopping and starting) skips the
test that asks for it, saying why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any, NoReturn

from ._generation import API_VERSIONS, ApiVersion, generation_class

__all__ = ["SERVER_ENV", "ExternalZepServer"]

#: The prefix of the environment variables that point tests at external servers.
SERVER_ENV = "ZEP_MEMORY_TEST_SERVER"


class ExternalZepServer:
    """A running Zep server of generation ``api`` at ``url``, in place of a test server.

    ``reset_command`` (a shell command) empties it; without one :meth:`reset` fails. The API
    key is never shown in a repr.
    """

    #: Set on servers this process does not run (a :class:`ZepTestServer` says ``False``).
    external = True

    def __init__(
        self,
        url: str,
        *,
        api: ApiVersion,
        api_key: str | None = None,
        reset_command: str | None = None,
    ) -> None:
        cls = generation_class(api)
        self.url = url.rstrip("/")
        self.api: ApiVersion = api
        self._api_key = api_key
        self.reset_command = reset_command
        self.window = cls.default_window

    @classmethod
    def from_env(
        cls, api: ApiVersion, environ: Mapping[str, str] | None = None
    ) -> ExternalZepServer | None:
        """The server the environment points generation ``api`` at, if any (see the module)."""
        env = os.environ if environ is None else environ
        name = f"{SERVER_ENV}_{api.upper()}"
        url = env.get(name, "").strip()
        if not url:
            return None
        reset = env.get(f"{name}_RESET") or env.get(f"{SERVER_ENV}_RESET") or None
        return cls(url, api=api, api_key=env.get(f"{name}_KEY") or None, reset_command=reset)

    @staticmethod
    def configured(environ: Mapping[str, str] | None = None) -> list[ApiVersion]:
        """The generations the environment points at external servers."""
        env = os.environ if environ is None else environ
        return [api for api in API_VERSIONS if env.get(f"{SERVER_ENV}_{api.upper()}", "").strip()]

    @property
    def api_url(self) -> str:
        """Where the generation's API lives (see :attr:`ZepTestServer.api_url`)."""
        return self.url + generation_class(self.api).api_path

    @property
    def api_key(self) -> str | None:
        """The key clients must send (``None``: the server is open)."""
        return self._api_key

    @property
    def running(self) -> bool:
        """Always true: the server runs outside this process."""
        return True

    def __repr__(self) -> str:
        auth = "key" if self._api_key else "open"
        return f"ExternalZepServer(api={self.api!r}, url={self.url!r}, {auth})"

    def reset(self) -> None:
        """Empty the server with the reset command (``RuntimeError`` if none or it fails)."""
        if not self.reset_command:
            raise RuntimeError(
                f"no reset command for the external {self.api} server: set "
                f"{SERVER_ENV}_RESET or {SERVER_ENV}_{self.api.upper()}_RESET"
            )
        env = {**os.environ, f"{SERVER_ENV}_API": self.api}
        done = subprocess.run(
            self.reset_command,
            shell=True,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"resetting the external {self.api} server failed ({done.returncode}): "
                f"{done.stderr.strip()[-500:]}"
            )

    # -- what only the test server has -------------------------------------------------------

    def _only_ours(self, what: str) -> NoReturn:
        import pytest

        pytest.skip(
            f"needs the test server's {what}; the {self.api} server is an external one "
            f"({self.url}, from {SERVER_ENV}_{self.api.upper()})"
        )

    @property
    def store(self) -> Any:
        """Skips: an external server's store is not at hand."""
        self._only_ours("store")

    @property
    def faults(self) -> Any:
        """Skips: an external server cannot be told to fail."""
        self._only_ours("fault injection")

    @property
    def requests(self) -> Any:
        """Skips: an external server keeps no request log for us."""
        self._only_ours("request log")

    def count(self, method: str = "*", path: str = "**") -> int:
        """Skips: an external server keeps no request log for us."""
        self._only_ours("request log")

    def start(self) -> ExternalZepServer:
        """Nothing to do: the server runs already."""
        return self

    def stop(self) -> None:
        """Skips: an external server is not ours to stop."""
        self._only_ours("stop and start")

    def restart(self) -> ExternalZepServer:
        """Skips: an external server is not ours to restart."""
        self._only_ours("stop and start")

    def close(self) -> None:
        """Nothing to do: the server is not ours."""
