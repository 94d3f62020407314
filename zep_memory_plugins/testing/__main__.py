"""``python -m zep_memory_plugins.testing``: serve the Zep-compatible API until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from ._app import DEFAULT_MESSAGE_WINDOW
from ._server import serve


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m zep_memory_plugins.testing",
        description="Serve a Zep-compatible API (/api/v1 and /api/v2) on the embedded store.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--path", default=":memory:", help="SQLite file for the store (default: in memory)"
    )
    parser.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="require the API key held in this environment variable (never on the command line)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=DEFAULT_MESSAGE_WINDOW,
        help=f"messages returned by a memory read without lastn (default {DEFAULT_MESSAGE_WINDOW})",
    )
    args = parser.parse_args(argv)
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            parser.error(f"environment variable {args.api_key_env} is not set or empty")
    with contextlib.suppress(KeyboardInterrupt):
        serve(host=args.host, port=args.port, path=args.path, api_key=api_key, window=args.window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
