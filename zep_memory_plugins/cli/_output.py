"""Terminal output of the CLI: tables (rich if installed, else plain text), JSON, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

from ..transfer import ProgressCallback, TransferStats

__all__ = ["have_rich", "plural", "print_json", "print_table", "progress_bar", "short_json"]


def plural(count: int, noun: str) -> str:
    """``"1 user"``, ``"2 users"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def have_rich() -> bool:
    """Whether rich (the ``cli`` extra) is importable."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def print_json(data: Any, out: IO[str] | None = None) -> None:
    """Print ``data`` as indented JSON (for scripts: ``--json``)."""
    out = out or sys.stdout
    out.write(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    out.write("\n")


def short_json(value: Any, width: int = 60) -> str:
    """Compact JSON of ``value`` cut to ``width`` characters; empty for ``None``."""
    if value is None:
        return ""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    out: IO[str] | None = None,
) -> None:
    """Print a table: a rich table when rich is installed, aligned plain text otherwise."""
    out = out or sys.stdout
    if have_rich():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # Text(...) so that "[...]" in stored data is shown as is, never read as rich markup.
        table = Table(title=Text(title), title_justify="left")
        for column in columns:
            table.add_column(Text(column), overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        Console(file=out, highlight=False).print(table)
        return
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=False)]
    out.write(f"{title}\n")
    for line in (columns, *rows):
        cells = (cell.ljust(w) for cell, w in zip(line, widths, strict=False))
        out.write("  ".join(cells).rstrip() + "\n")


@contextmanager
def progress_bar(
    description: str, *, total_bytes: int | None = None, enabled: bool = True
) -> Iterator[ProgressCallback | None]:
    """A progress callback drawing a bar on stderr, or ``None`` when there is no terminal.

    The bar follows sessions (export, copy) or bytes of input (import, when ``total_bytes``).
    """
    if not enabled or not sys.stderr.isatty() or not have_rich():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None, counts="")

        def update(stats: TransferStats) -> None:
            counts = f"{stats.users} users, {stats.sessions} sessions, {stats.messages} messages"
            if total_bytes:
                bar.update(task, total=total_bytes, completed=stats.bytes_read, counts=counts)
            elif stats.sessions_total is not None:
                bar.update(
                    task, total=stats.sessions_total, completed=stats.sessions, counts=counts
                )
            else:
                bar.update(task, counts=counts)

        yield update
