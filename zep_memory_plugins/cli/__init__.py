"""The ``zep-memory`` command line.

Commands: ``demo``, ``serve``, ``users``, ``sessions``, ``export``, ``import`` and ``copy``.
Run ``zep-memory --help`` (or ``python -m zep_memory_plugins --help``).
"""

from ._main import build_parser, main, make_client

__all__ = ["build_parser", "main", "make_client"]
