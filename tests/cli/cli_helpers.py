"""Running the command line in-process, for the CLI tests."""

from __future__ import annotations

import pytest

from zep_memory_plugins.cli import main


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``zep-memory *argv`` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
