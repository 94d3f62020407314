"""``python -m zep_memory_plugins.testing``: serve the Zep-compatible API until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from ._app import DEFAULT_WINDOWS
from ._server import serve

#: Where the key of a v2 server is read from when ``--api-key-env`` is not given: the variable
#: zep-python 2.x itself reads.
DEFAULT_KEY_ENV = "ZEP_API_KEY"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m zep_memory_plugins.testing",
        description="Serve a Zep-compatible API on the embedded store: /api/v2 like Zep CE "
        "1.0.2 (default; API key always required) or /api/v1 like Zep 0.27.2.",
    )
    parser.add_argument(
        "--api", choices=("v1", "v2"), default="v2", help="wire generation (default v2)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--path", default=":memory:", help="SQLite file for the store (default: in memory)"
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the API key held in this environment variable (never on the command "
        f"line); v2 always requires one and reads {DEFAULT_KEY_ENV} by default",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=None,
        help="messages returned by a memory read without lastn (default: "
        f"{DEFAULT_WINDOWS['v1']} on v1, {DEFAULT_WINDOWS['v2']} on v2)",
    )
    args = parser.parse_args(argv)
    if args.window is not None and args.window < 1:
        parser.error("--window must be at least 1")
    env_name = args.api_key_env or (DEFAULT_KEY_ENV if args.api == "v2" else None)
    api_key = None
    if env_name:
        api_key = os.environ.get(env_name)
        if not api_key:
            parser.error(
                f"environment variable {env_name} is not set or empty"
                + (" (a v2 server always requires an API key)" if args.api == "v2" else "")
            )
    with contextlib.suppress(KeyboardInterrupt):
        serve(
            host=args.host,
            port=args.port,
            path=args.path,
            api_key=api_key,
            window=args.window,
            api=args.api,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
