"""A Zep-compatible HTTP server for tests, backed by the embedded store.

The real ``zep-python`` SDK (1.x on ``/api/v1``, 2.x on ``/api/v2``) talks to it over real HTTP;
the behaviour is the embedded :class:`~zep_memory_plugins.store.SQLiteStore`'s (metadata merge,
soft delete and undelete, user-delete cascade, ``id > cursor`` listing, client-chosen message
uuids, one transaction per batch). Needs the ``server`` extra (starlette and uvicorn).

::

    from zep_memory_plugins.testing import ZepTestServer

    with ZepTestServer() as server:                    # 127.0.0.1, a free port, in memory
        client = ZepMemoryClient(base_url=server.url)  # or zep_python.ZepClient / Zep(...)
        server.faults.add("POST", "/api/v2/sessions/*/memory", status=500, times=1)
        ...
        assert server.count("POST", "/api/v2/sessions/*/memory") == 2

``ZepTestServer(host="127.0.0.1", port=0, api_key=None, path=":memory:", window=12)``:
``start()`` / ``stop()`` / ``restart()`` (same port, same store) / ``close()`` (also closes the
store) / context manager; ``url``, ``port``, ``store``, ``faults``, ``requests``,
``count(method, path)``, ``reset()`` (empties the store, ids restart at 1, disarms faults, forgets
requests). ``serve(host, port, path, api_key, window)`` runs in the foreground (also
``python -m zep_memory_plugins.testing --port 8000 [--path FILE] [--api-key-env VAR]``).

Routes
------
``{p}`` is ``/api/v1`` or ``/api/v2``; users live under ``{p}/user`` on v1, ``{p}/users`` on v2.

- ``GET /healthz``: body ``.``, header ``X-Zep-Version``; never needs a key.
- ``POST {p}/user[s]``: 201 + user. Duplicate → 400 ``bad request: user already exists with
  user_id: X``; no user_id → 400.
- ``GET | PATCH | DELETE {p}/user[s]/{id}``: unknown → 404 ``not found``. PATCH changes the
  fields given and deep-merges metadata; ``"metadata": {}`` → 500. DELETE cascades to the
  user's sessions and messages and answers ``OK``.
- ``GET {p}/user[s]/{id}/sessions``: flat JSON list of the user's live sessions (404 if no
  such user). zep-python 2.0.2 declares ``List[List[Session]]`` here and cannot parse the real
  server's flat list: read this route's JSON yourself.
- ``GET /api/v1/user?limit=&cursor=``: JSON list of users with ``id > cursor``, by id;
  limit empty or 0 → all.
- ``GET /api/v2/users-ordered?pageNumber=&pageSize=``: ``{users, total_count, row_count}``;
  by id, 1-based pages, no pageSize → all.
- ``POST {p}/sessions``: body ``session_id``, ``user_id?``, ``metadata?`` → 201 + session.
  Duplicate (even soft-deleted) → 400 ``bad request: session already exists with
  session_id: X``; unknown user → 400 ``bad request: user does not exist with user_id: X``.
- ``GET | PATCH {p}/sessions/{id}``: missing or soft-deleted → 404. PATCH body
  ``{"metadata": {...}}`` deep-merges (a top-level ``"system"`` key is dropped) and undeletes;
  ``"metadata": {}`` → 500.
- ``GET /api/v1/sessions?limit=&cursor=``: JSON list of live sessions with ``id > cursor``.
- ``GET /api/v2/sessions-ordered?page_number=&page_size=&order_by=&asc=``:
  ``{sessions, total_count, response_count}``; ``order_by`` is ``created_at`` (default),
  ``updated_at``, ``id``, ``session_id`` or ``user_id``; ``asc`` defaults to true.
- ``POST {p}/sessions/{id}/memory``: body ``{"messages": [{role, content, metadata?, uuid?,
  role_type? (v2 only)}]}`` → 200 ``OK`` (v1: text; v2: ``{"message": "OK"}``). Creates or
  undeletes the session; one transaction. A uuid already stored (or repeated in the batch)
  → 500 ``... duplicate key value violates unique constraint ...: message uuid X already
  exists`` and nothing of the batch is stored. Invalid uuid or role_type → 400. ``[]`` →
  200, nothing stored. No role → empty role. On v1, role_type is the role if that is a role
  type, else ``norole``; on v2 a missing role_type defaults the same way.
- ``GET {p}/sessions/{id}/memory?lastn=``: ``{messages, summary: null, metadata: {}}``,
  oldest first; no lastn (or 0) → the last ``window`` (12) messages; unknown or deleted
  session → 200 with no messages.
- ``DELETE {p}/sessions/{id}/memory``: soft delete of the session and its messages → ``OK``;
  again → 404.
- ``GET {p}/sessions/{id}/messages?limit=&cursor=``: ``{messages, total_count, row_count}``;
  cursor is a 1-based page number; no limit → all.
- ``GET | PATCH {p}/sessions/{id}/messages/{uuid}``: one message; PATCH body
  ``{"metadata": {...}}`` deep-merges; bad uuid → 400, unknown → 404.

Wire details: ``created_at``/``updated_at`` are ISO-8601 UTC (``...Z``); users and sessions carry
their integer ``id``; messages carry ``uuid``, ``token_count`` and (v2 only) ``role_type``.
Errors are plain text on ``/api/v1`` and ``{"message": "<same text>"}`` JSON on ``/api/v2``
(zep-python 2.x parses every error body as JSON). Malformed JSON → 400; an id with ``/`` or
control characters → 400; anything unexpected → 500.

Auth: with ``api_key`` set, every route but ``/healthz`` needs ``Authorization: Bearer <key>``
(``/api/v1``) or ``Authorization: Api-Key <key>`` (``/api/v2``); otherwise 401 ``unauthorized``.

Fault injection (``server.faults``)
-----------------------------------
``server.faults.add(method="*", path="**", status=500, *, times=1, after=False, delay=0.0,
drop=False, retry_after=None, body=None) -> Fault``: the next ``times`` (``None``: all) requests
matching ``method`` and ``path`` (``*`` = one path segment, ``**`` = anything; no query string)
get ``status`` instead of being handled. ``after=True`` handles the request first (the write
lands) and then answers ``status`` anyway. ``drop=True`` closes the connection mid-response
(client: ``httpx.RemoteProtocolError``) instead of answering. ``delay=s`` waits ``s`` seconds
first (past a client's timeout; with ``status=None`` it only slows the request). 429 and 503
carry ``Retry-After: 0`` unless ``retry_after`` says otherwise. ``fault.hits`` counts the
requests it answered; ``server.faults.clear()`` disarms all. Faults are checked before the API key.

Request log: ``server.requests`` is a list of ``(method, path)`` tuples (every request, the
start-up probe excepted); ``server.requests.matching(method, path)`` filters it and
``server.count(method, path)`` counts.

Pytest: ``pytest_plugins = ["zep_memory_plugins.testing.pytest_plugin"]`` gives the fixtures
``zep_server`` (session-scoped, started) and ``fresh_zep_server`` (the same server, reset).
"""

from ._app import (
    API_VERSIONS,
    DEFAULT_MESSAGE_WINDOW,
    DEFAULT_WINDOWS,
    MAX_CONTENT_CHARS,
    MAX_MESSAGES_PER_REQUEST,
    ZEP_SERVER_VERSION,
    ApiVersion,
    ZepASGIApp,
)
from ._faults import Fault, FaultInjector, RecordedRequest, RequestLog
from ._server import ZepTestServer, serve

__all__ = [
    "API_VERSIONS",
    "DEFAULT_MESSAGE_WINDOW",
    "DEFAULT_WINDOWS",
    "MAX_CONTENT_CHARS",
    "MAX_MESSAGES_PER_REQUEST",
    "ZEP_SERVER_VERSION",
    "ApiVersion",
    "Fault",
    "FaultInjector",
    "RecordedRequest",
    "RequestLog",
    "ZepASGIApp",
    "ZepTestServer",
    "serve",
]
