"""One shared object per client, made once (the registry behind the per-client helpers).

``history_cache``, ``guard_for`` and ``summary_book`` are each one of these.

Every adapter on a :class:`~zep_memory_plugins.ZepMemoryClient` shares that client's history
cache, session guard and summary book. A :class:`PerClient` makes each on first use, under a
lock (two threads asking at once get the same object), and lets it go with its client.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["PerClient"]

_T = TypeVar("_T")


class PerClient(Generic[_T]):
    """``make(client)``, made once per client and shared (held weakly by its client)."""

    def __init__(self, make: Callable[[Any], _T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[Any, _T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, client: Any) -> _T:
        """The object of ``client``, made now if it has none yet."""
        with self._lock:
            made = self._made.get(client)
            if made is None:
                made = self._made[client] = self._make(client)
            return made
