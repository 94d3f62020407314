"""A Zep-compatible HTTP server for tests, backed by the embedded store.

One server speaks one wire generation, as the real servers do: ``api="v2"`` (default) answers
like Zep Community Edition 1.0.2 on ``/api/v2`` (zep-python 2.x), ``api="v1"`` like open-source
Zep 0.27.2 on ``/api/v1`` (zep-python 1.x, or any client of that API). The other generation's
routes answer 404. Data lives in the embedded :class:`~zep_memory_plugins.store.SQLiteStore`.
Needs the ``server`` extra (starlette and uvicorn). Each generation is a module of its own
(its routes, error format, auth header and limits) registered in ``GENERATIONS``;
``API_VERSIONS`` (the ``api=`` values, the ``--api`` choices) and ``generation_class(api)``
follow from that table.

::

    from zep_memory_plugins.testing import ZepTestServer

    with ZepTestServer() as server:                    # v2, 127.0.0.1, a free port, in memory
        client = ZepMemoryClient(base_url=server.url, api_key=server.api_key)
        server.faults.add("POST", "/api/v2/sessions/*/memory", status=500, times=1)
        ...
        assert server.count("POST", "/api/v2/sessions/*/memory") == 2

``ZepTestServer(host="127.0.0.1", port=0, api_key=None, path=":memory:", window=None, *,
api="v2")``: ``start()`` / ``stop()`` / ``restart()`` (same port, same store) / ``close()``
(also closes the store) / context manager; ``url``, ``port``, ``api``, ``api_key``, ``window``,
``store``, ``faults``, ``requests``, ``count(method, path)``, ``reset()`` (empties the store,
ids restart at 1, disarms faults, forgets requests). ``serve(host, port, path, api_key,
window, *, api)`` runs in the foreground (also ``python -m zep_memory_plugins.testing [--api
v1|v2] [--port 8000] [--path FILE] [--api-key-env VAR] [--window N]`` and ``zep-memory
serve``).

Auth: a v2 server ALWAYS requires ``Authorization: Api-Key <key>`` (like CE): without
``api_key`` a random key is generated, read it from ``server.api_key``; a missing or wrong key
is 401 ``unauthorized`` (plain text), on every ``/api/v2`` path. A v1 server is open (v0.27
with auth off) unless given ``api_key``, then it wants ``Authorization: Bearer <key>``.
``/healthz`` is always open and answers ``.``; only v1 adds ``X-Zep-Version`` (to every
response). The key is never logged or shown in a repr.

Matched by the golden transcripts
---------------------------------
``tests/server/test_golden_wire.py`` replays the scenarios recorded against the real servers
(``tests/server/golden/``) and compares every step: 55/55 on v1 (Zep 0.27.2), 70/70 on v2 (CE
1.0.2): status codes, JSON bodies field by field (Go's ``omitempty``: a user without email or
metadata has no such key; sessions always carry ``metadata`` and ``user_id``, null if unset; v2
adds ``project_uuid`` and ``ended_at``), error texts on v2, ``id`` 0 in a user's session list,
``total_count`` 0 past the last page, the ``X-Zep-Version`` header. In particular:

- users: ``POST {p}/user`` (v1) / ``{p}/users`` (v2) → 201; duplicate → 400 ``bad request:
  user already exists with user_id: X``; unknown → 404 ``not found``; PATCH deep-merges
  metadata (a ``"system"`` key is kept); DELETE cascades to sessions and messages;
  ``GET ...?limit=&cursor=`` lists ``id > cursor`` by id.
- sessions: add → 201; duplicate → 400; unknown user → 400 (v1 ``bad request: user does not
  exist with user_id: X``, v2 ``user not found``); PATCH deep-merges and ignores a top-level
  ``"system"``; v1 answers 500 to ``"metadata": {}``, v2 REPLACES the metadata with ``{}``.
- memory: POST answers 200 ``OK`` (v1, text) / 201 ``{"message":"OK"}`` (v2) and creates an
  unknown session (no user, no metadata); GET without ``lastn`` (or 0) returns the last 12 (v1)
  / 6 (v2) messages, oldest first, as ``{messages, summary}`` (v1, an all-zero summary) /
  ``{messages, relevant_facts: []}`` (v2); an unknown session → 200, no messages.
- soft delete: ``DELETE {p}/sessions/{id}/memory`` → the session 404s, its memory is empty,
  deleting again → 404. v1: ``add_session`` with that id → 400, a write or a PATCH revives it
  with its owner and metadata (old messages stay deleted). v2: the session is purged at once,
  as CE does, so ``add_session`` → 201 (a fresh session), PATCH → 404, and a write creates a
  NEW session without owner or metadata.
- v2 limits: more than 30 messages in one POST → 400 and ALL are stored anyway (the body is
  the error then ``{"message":"OK"}``); a message over 2,500 characters → 400, nothing stored;
  no ``role_type`` → 400; an unknown one → 500 (after the session was created).
- v2 listings: ``GET /users-ordered?pageNumber=&pageSize=`` newest first (``ORDER BY id
  DESC``; the ``{users, total_count, row_count}`` shape); ``GET /sessions-ordered`` with
  ``order_by`` in ``created_at|updated_at|user_id|session_id`` (else 400 ``invalid value for
  order_by``), newest first unless ``asc=true``; ``GET /sessions?limit=&cursor=``.

Read from the real servers' Go handlers (where the transcripts are silent)
--------------------------------------------------------------------------
- A duplicate message uuid rejects the whole batch: v1 500 (``duplicate key value violates
  unique constraint``), v2 400 ``bad request: message_uuid already exists``; the session is
  created first either way (no rollback), as is one whose batch has an unknown role type.
- ``GET {p}/sessions/{id}/messages?limit=&cursor=``: ``cursor`` is a 1-based page; no limit →
  every message; a limit without a cursor (page 0) → 500 (a negative OFFSET in Postgres); a
  limit or cursor that does not parse → 100 / page 1.
- ``/sessions-ordered`` and ``/users-ordered`` read only ``pageNumber`` / ``pageSize``:
  zep-python 2.0.2's ``memory.list_sessions`` sends ``page_number`` / ``page_size``, which CE
  ignores (every session on one page). pageSize without pageNumber → 500.
- ``GET {p}/user[s]/{id}/sessions`` of an unknown user → 200 ``[]``; v2 user reads carry
  ``session_count`` (live sessions) when not zero; message ``updated_at`` is Go's zero time
  ``0001-01-01T00:00:00Z``; v2 empty user-metadata update → 200, unchanged; ``lastn`` < 0 →
  500 (v1) / 400 (v2); an empty ``messages`` list → 200/201 and the session is created; v2
  without ``messages`` → 400; a v1 session without ``session_id`` → 500, v2 → 400; strings
  with lone surrogates are stored with U+FFFD, like Go's JSON decoder; unknown routes → v0.27's
  HTML 404 page (v1) or ``404 page not found`` (v2). Success JSON is Go's (compact, one
  newline, served as ``text/plain`` since Go does not set a type); errors are plain text plus a
  newline (v1) or ``{"message": ...}`` (v2, ``application/json``).

Still a choice of this server (no real server to copy)
------------------------------------------------------
- A message's ``created_at`` sent by the client is KEPT (so exported conversations re-import
  with their times); the real servers parse it and stamp the message themselves. It must be RFC
  3339 with an offset and representable in UTC (years 1 to 9999): otherwise 400, nothing of the
  batch stored (``9999-12-31T23:00:00-05:00`` would make every later read fail).
- A v2 PATCH WITHOUT ``metadata`` replaces the metadata with ``{}`` (the reading of the
  transcript in ``zep-api.md``; the CE 1.0.2 source suggests it may leave it unchanged: a
  client that always sends metadata is safe either way).
- Ids the library itself refuses (empty, ``/``, control characters, over 1,024 characters)
  → 400; the real servers store them. Metadata must be a JSON object.
- v1: an empty batch or a PATCH without metadata does not revive a soft-deleted session (v0.27
  does); orderings tie-break by id and compare strings by code point (Postgres: collation).
- Adding messages leaves a live session's ``updated_at`` as it was (both real servers touch
  it); a PATCH of an unknown message is a 404 (CE 1.0.2 fails the request outright).
- No facts, summaries, search, ended sessions or documents; ``token_count`` is always 0.

Fault injection (``server.faults``)
-----------------------------------
``server.faults.add(method="*", path="**", status=500, *, times=1, after=False, delay=0.0,
drop=False, retry_after=None, body=None) -> Fault``: the next ``times`` (``None``: all) requests
matching ``method`` and ``path`` (``*`` = one path segment, ``**`` = anything; no query string)
get ``status`` instead of being handled. ``after=True`` handles the request first (the write
lands) and then answers ``status`` anyway. ``drop=True`` closes the connection mid-response
(client: ``httpx.RemoteProtocolError``) instead of answering. ``delay=s`` waits ``s`` seconds
first (past a client's timeout; with ``status=None`` it only slows the request). 429 and 503
carry ``Retry-After: 0`` unless ``retry_after`` says otherwise. The body is the generation's
error format. ``fault.hits`` counts the requests it answered; ``server.faults.clear()`` disarms
all. Faults are checked before the API key.

Request log: ``server.requests`` is a list of ``(method, path)`` tuples (every request, the
start-up probe excepted); ``server.requests.matching(method, path)`` filters it and
``server.count(method, path)`` counts.

Pytest: ``pytest_plugins = ["zep_memory_plugins.testing.pytest_plugin"]`` gives the fixtures
``zep_server`` (session-scoped, started; ``--zep-api v1`` or ini ``zep_api = v1`` for a v1
server), ``fresh_zep_server`` (the same server, reset) and ``zep_servers`` (one server per
generation: ``zep_servers["v1"]``, ``zep_servers.fresh("v2")``).
"""

from . import _app, _faults, _server
from ._app import *  # noqa: F403 - the public names are those of each module's __all__
from ._faults import *  # noqa: F403
from ._generation import GENERATIONS, generation_class
from ._server import *  # noqa: F403
from ._v2 import MAX_CONTENT_CHARS, MAX_MESSAGES_PER_REQUEST

__all__: list[str] = [
    "GENERATIONS",
    "MAX_CONTENT_CHARS",
    "MAX_MESSAGES_PER_REQUEST",
    "generation_class",
]
__all__ += _app.__all__
__all__ += _faults.__all__
__all__ += _server.__all__
