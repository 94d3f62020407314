"""Backends behind the client: the embedded store, and Zep through zep-python (``backends.zep``)."""

from ._base import Backend, BackendStats
from ._embedded import EmbeddedBackend

__all__ = ["Backend", "BackendStats", "EmbeddedBackend"]
