"""The Zep backend: a Zep server of either generation, found by asking it.

``ZepBackend(url, api_key)`` talks to open-source Zep (``/api/v1``, up to v0.27) over httpx, or
to Zep Community Edition (``/api/v2``) through zep-python 2.x; which one is asked of the server
on first use, unless ``api_version=`` says. Usually built for you by
``ZepMemoryClient(base_url=...)`` or the ``ZEP_API_URL`` environment variable.

One concern per module: :mod:`._wire` (what a generation is), :mod:`._v1` and :mod:`._v2`
(one file per generation), :mod:`._plans` (the logic of each operation, paging and batching),
:mod:`._transport` (the sync and async drivers, connections), :mod:`._failures` (failure
classification and the library's errors), :mod:`._retry` (when to try again) and
:mod:`._convert` (answers into models).
"""

from ._backend import API_VERSIONS, ZepBackend, check_api_key
from ._plans import LIST_PAGE_SIZE, MAX_BATCH_BYTES, MESSAGE_PAGE_SIZE
from ._retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    INITIAL_BACKOFF,
    MAX_BACKOFF,
    MAX_RETRY_AFTER,
    RetryPolicy,
)

__all__ = [
    "API_VERSIONS",
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
    "check_api_key",
]
