"""Export and import users, sessions and messages as JSON Lines, between any two backends.

``export_jsonl(client, fp)`` writes everything live in ``client``'s store; ``import_jsonl(client,
fp)`` writes it into another (embedded or Zep). Import is idempotent: run it twice and the second
run changes nothing. ``copy(source, target)`` does both without a file. See
:mod:`zep_memory_plugins.transfer._jsonl` for the record format.
"""

from ._jsonl import (
    FORMAT,
    FORMAT_VERSION,
    ProgressCallback,
    TransferStats,
    copy,
    export_jsonl,
    export_records,
    import_jsonl,
    import_records,
    read_jsonl,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ProgressCallback",
    "TransferStats",
    "copy",
    "export_jsonl",
    "export_records",
    "import_jsonl",
    "import_records",
    "read_jsonl",
]
