"""Export and import users, sessions and messages as JSON Lines, between any two backends.

``export_jsonl(client, fp)`` writes everything live in ``client``'s store; ``import_jsonl(client,
fp)`` writes it into another (embedded or Zep). Import is idempotent: run it twice and the second
run changes nothing. ``copy(source, target)`` does both without a file. See
:mod:`zep_memory_plugins.transfer._jsonl` for the record format.
"""

from . import _jsonl
from ._jsonl import *  # noqa: F403 - the public names are those of _jsonl.__all__

__all__: list[str] = []
__all__ += _jsonl.__all__
