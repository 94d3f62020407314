"""``python -m zep_memory_plugins.testing``: the command line's ``zep-memory serve``.

The same parser, the same checks and the same exit codes: this module hands its arguments to
``zep-memory serve`` (:func:`zep_memory_plugins.cli.main`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zep-memory serve`` with ``argv`` (default: the command line); return the exit code."""
    from ..cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
