"""LlamaIndex adapters: persistent, per-user chat memory on Zep or the embedded store.

- :class:`ZepMemory`: a ``BaseMemory`` bound to one user's session, for chat engines and agents
  (one read and one write per turn);
- :class:`ZepChatStore`: a ``BaseChatStore`` whose keys are the user's sessions, e.g. under
  ``ChatMemoryBuffer.from_defaults(chat_store=..., chat_store_key=...)``;
- :class:`ZepDBChatStore`: the async chat store of ``llama_index.core.memory.Memory``, with
  message statuses (active / archived);
- :class:`ZepSessionsBlock`: a ``Memory`` block recalling the user's other sessions;
- :class:`ZepSummaryBlock`: a ``Memory`` block keeping a rolling summary in the session.

Messages round-trip losslessly (:func:`to_zep_message` / :func:`from_zep_message`). Needs
llama-index-core; without it, importing this package raises
:class:`~zep_memory_plugins.MissingDependencyError`.

Every adapter here reads, writes, clears and rewrites through the client's shared session
guard (``zep_memory_plugins._session_guard``): ownership checks and create-on-first-write
happen once per session, whole and windowed reads go through the shared history cache (the
sessions block's listing of the user's sessions is the one direct call). Each operation is
written once as a plan (``zep_memory_plugins._duplex``); its sync and async methods are one
line each.
"""

from __future__ import annotations

from .._errors import MissingDependencyError

try:
    import llama_index.core  # noqa: F401
except ImportError:  # pragma: no cover - exercised only without llama-index-core
    raise MissingDependencyError("llama-index-core", "llama-index") from None

from .._session_guard import REVIVED_SESSION_KEY
from ._blocks import ZepSessionsBlock, ZepSummaryBlock
from ._chat_store import ZepChatStore
from ._convert import (
    LLAMA_INDEX_MESSAGE_KEY,
    LLAMA_INDEX_STATUS_KEY,
    from_zep_message,
    role_type_of,
    to_zep_message,
)
from ._db_store import LLAMA_INDEX_ARCHIVED_THROUGH_KEY, ZepDBChatStore
from ._memory import DEFAULT_TOKEN_LIMIT, ZepMemory

__all__ = [
    "DEFAULT_TOKEN_LIMIT",
    "LLAMA_INDEX_ARCHIVED_THROUGH_KEY",
    "LLAMA_INDEX_MESSAGE_KEY",
    "LLAMA_INDEX_STATUS_KEY",
    "REVIVED_SESSION_KEY",
    "ZepChatStore",
    "ZepDBChatStore",
    "ZepMemory",
    "ZepSessionsBlock",
    "ZepSummaryBlock",
    "from_zep_message",
    "role_type_of",
    "to_zep_message",
]
