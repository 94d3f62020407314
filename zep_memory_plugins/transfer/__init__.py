"""Export and import users, sessions and messages as JSON Lines, between any two backends.

``export_jsonl(client, fp)`` writes everything live in ``client``'s store; ``import_jsonl(client,
fp)`` writes it into another (embedded or Zep). Import is idempotent: run it twice and the second
run changes nothing. ``copy(source, target)`` does both without a file. The package is three
files: ``_format`` (the record format, :class:`TransferStats` and :func:`read_jsonl`; its
docstring describes the format), ``_export`` and ``_import``.
"""

from ._export import export_jsonl, export_records
from ._format import FORMAT, FORMAT_VERSION, ProgressCallback, TransferStats, read_jsonl
from ._import import DEFAULT_BATCH_SIZE, copy, import_jsonl, import_records

__all__ = [
    "DEFAULT_BATCH_SIZE",
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
