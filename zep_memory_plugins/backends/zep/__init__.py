"""The Zep backend: a Zep server through the official zep-python SDK (1.x or 2.x).

``ZepBackend(url, api_key)`` picks the implementation for the installed zep-python generation:
:class:`ZepV1Backend` (``/api/v1``) or :class:`ZepV2Backend` (``/api/v2``). Usually built for
you by ``ZepMemoryClient(base_url=...)`` or the ``ZEP_API_URL`` environment variable.
"""

from ._common import LIST_PAGE_SIZE, MAX_BATCH_BYTES, MESSAGE_PAGE_SIZE, ZepBackend, zep_generation
from ._retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    INITIAL_BACKOFF,
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    RetryPolicy,
)

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "INITIAL_BACKOFF",
    "LIST_PAGE_SIZE",
    "MAX_BACKOFF",
    "MAX_BATCH_BYTES",
    "MAX_RETRY_AFTER",
    "MESSAGE_PAGE_SIZE",
    "RetryPolicy",
    "ZepBackend",
    "ZepV1Backend",
    "ZepV2Backend",
    "zep_generation",
]


def __getattr__(name: str) -> object:
    # The generation classes import their SDK lazily; expose them on demand.
    if name == "ZepV1Backend":
        from ._v1 import ZepV1Backend

        return ZepV1Backend
    if name == "ZepV2Backend":
        from ._v2 import ZepV2Backend

        return ZepV2Backend
    raise AttributeError(name)
