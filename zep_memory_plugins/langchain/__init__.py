"""LangChain adapters: persistent, per-user chat memory on Zep or the embedded store.

- :class:`ZepChatMessageHistory`: a ``BaseChatMessageHistory`` bound to one user's session;
- :class:`ZepHistoryFactory`, :data:`HISTORY_FACTORY_CONFIG` and :func:`with_zep_history`:
  per-user, per-conversation memory for ``RunnableWithMessageHistory``;
- :class:`ZepMemoryMiddleware` (needs ``langchain`` 1.x): memory for
  ``langchain.agents.create_agent`` agents, with :class:`ZepMemoryContext` naming the run's
  user and session.

Everything but the middleware needs only langchain-core; without it, importing this package
raises :class:`~zep_memory_plugins.MissingDependencyError`.

Every adapter here reads, writes, clears and rewrites through the client's shared session
guard (``zep_memory_plugins._session_guard``): ownership checks and create-on-first-write
happen once per session, reads go through the shared history cache. Each operation is written
once as a plan (``zep_memory_plugins._duplex``); its sync and async methods are one line each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import MissingDependencyError

try:
    import langchain_core  # noqa: F401
except ImportError:  # pragma: no cover - exercised only without langchain-core
    raise MissingDependencyError("langchain-core", "langchain") from None

from .._session_guard import REVIVED_SESSION_KEY
from ._convert import LANGCHAIN_MESSAGE_KEY, from_zep_message, to_zep_message
from ._history import ZepChatMessageHistory
from ._runnable import HISTORY_FACTORY_CONFIG, ZepHistoryFactory, with_zep_history

if TYPE_CHECKING:
    from ._middleware import ZepMemoryContext, ZepMemoryMiddleware, ZepMemoryState

__all__ = [
    "HISTORY_FACTORY_CONFIG",
    "LANGCHAIN_MESSAGE_KEY",
    "REVIVED_SESSION_KEY",
    "ZepChatMessageHistory",
    "ZepHistoryFactory",
    "ZepMemoryContext",
    "ZepMemoryMiddleware",
    "ZepMemoryState",
    "from_zep_message",
    "to_zep_message",
    "with_zep_history",
]

_MIDDLEWARE = frozenset({"ZepMemoryContext", "ZepMemoryMiddleware", "ZepMemoryState"})


def __getattr__(name: str) -> Any:
    # The middleware needs langchain (not only langchain-core): import it on first use.
    if name in _MIDDLEWARE:
        from . import _middleware

        return getattr(_middleware, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
