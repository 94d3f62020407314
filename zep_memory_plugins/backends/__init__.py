"""Backends behind the client: the embedded SQLite store, and a Zep server (``backends.zep``).

``backends.zep`` speaks both generations of Zep (``/api/v1`` over httpx, ``/api/v2`` through
zep-python 2.x) and is imported only when a Zep URL is configured.
"""

from ._base import Backend, BackendStats
from ._embedded import EmbeddedBackend

__all__ = ["Backend", "BackendStats", "EmbeddedBackend"]
