r"""A Zep-compatible HTTP server for tests, backed by the embedded store.

One server speaks one wire generation, as the real servers do: ``api="v2"`` (default) answers
like Zep Community Edition 1.0.2 on ``/api/v2`` (zep-python 2.x), ``api="v1"`` like open-source
Zep 0.27.2 on ``/api/v1`` (zep-python 1.x, or any client of that API); ``api="v3"`` and
``api="v4"`` like Zep Cloud (see "Zep Cloud" below). The other generations' routes answer 404.
Data lives in the embedded :class:`~zep_memory_plugins.store.SQLiteStore` (v1, v2) or in memory
(v3, v4).
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
api="v2", task_delay=None, rate_limit=None)`` (the last two: Cloud only): ``start()`` /
``stop()`` / ``restart()`` (same port, same store) / ``close()`` (also closes the store) /
context manager; ``url``, ``port``, ``api``, ``api_key``, ``window``, ``store``, ``faults``,
``requests``, ``count(method, path)``, ``reset()`` (empties the store or the Cloud data, ids
restart at 1, disarms faults, forgets requests). ``serve(host, port, path, api_key,
window, *, api, task_delay, rate_limit)`` runs in the foreground (also ``python -m
zep_memory_plugins.testing [--api v1|v2|v3|v4] [--port 8000] [--path FILE] [--api-key-env VAR]
[--window N] [--task-delay S] [--rate-limit N]`` and ``zep-memory serve``).

Auth: a v2 server ALWAYS requires ``Authorization: Api-Key <key>`` (like CE): without
``api_key`` a random key is generated, read it from ``server.api_key``; a missing or wrong key
is 401 ``unauthorized`` (plain text), on every ``/api/v2`` path. A v1 server is open (v0.27
with auth off) unless given ``api_key``, then it wants ``Authorization: Bearer <key>``.
``/healthz`` is always open and answers ``.``; only v1 adds ``X-Zep-Version`` (to every
response). The key is never logged or shown in a repr.

Matched by the golden transcripts
---------------------------------
``tests/server/test_golden_wire.py`` replays the scenarios recorded against the real servers
(``tests/server/golden/``) and compares every step: 96/96 on v1 (Zep 0.27.2), 117/117 on v2 (CE
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

Measured on the real servers (where the transcripts are silent)
-----------------------------------------------------------------
Each by raw HTTP on Zep 0.27.2 and CE 1.0.2 (``tests/server/test_server_wire.py`` passes
against both: see ``ExternalZepServer``):

- Stored values (both alike): metadata (users, sessions, messages) goes through Go's
  ``float64`` into PostgreSQL ``jsonb``, so a whole-valued number (``1.0``, ``-0.0``,
  ``1e308``, ``1e21``) comes back as a JSON integer, an integer beyond 2^53 rounded to the
  nearest ``float64`` (``2**63 - 1`` → ``9223372036854776000``), any other number exactly; a
  number beyond ``float64``, ``NaN`` or ``Infinity`` → 400. A NUL in a metadata string or key
  becomes the six characters ``\u0000`` (which stay as they are if sent so); a NUL is dropped
  from ids, content, role, e-mail and names (``text`` columns). A create (and a session
  update) answers a top-level key holding a NUL twice, as sent and as stored; reads show the
  stored one. Lone surrogates become U+FFFD.
- A message's ``created_at`` is ignored: the message is stamped on arrival (both). It must
  still pass Go 1.22's ``time.Time`` decoder (RFC 3339; ``null`` is fine, a one-digit hour or
  ``+99:99`` too, since Go 1.22 has its strict checks off), else 400 with Go's text
  (``parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"``, ``...:
  month out of range``, ``Time.UnmarshalJSON: input is not a JSON string``); ``updated_at``
  the same.
- Message uuids are read by ``uuid.Parse`` (32 hex digits, braces and ``urn:uuid:`` pass; ``""``
  → 400 ``invalid UUID length: 0``; the nil uuid lets the server choose). A duplicate uuid
  rejects the whole batch: v1 500 (``duplicate key value violates unique constraint``), v2 400
  ``bad request: message_uuid already exists``; the session is created first either way (no
  rollback), as is one whose batch has an unknown role type (v2 500).
- ``GET {p}/sessions/{id}/messages/{uuid}``: an unknown uuid (or session) → v1 500 with an
  EMPTY body and no content type (its handler indexes an empty list; the recoverer answers),
  v2 404 ``no message found for UUID``. A bad uuid → 400, then the handler goes on with the nil
  uuid and writes a second error into the same body: v1 ``unable to parse document UUID:
  invalid UUID length: N`` (a PATCH adds ``message UUID cannot be nil``), v2 ``{"message":
  "unable to parse UUID: invalid UUID length: N"}`` then ``{"message":"no message found for
  UUID"}`` (a PATCH: ``bad request: messageUUID is required``). A PATCH of an unknown uuid →
  404 ``not found`` on both.
- Paging: ``GET {p}/sessions/{id}/messages?limit=&cursor=`` is ``LIMIT limit OFFSET (cursor -
  1) * limit`` and bun writes each clause only when positive: no limit (or one below 1) →
  everything; a limit without a cursor → the first page (``limit=-1`` skips one message); a
  limit or cursor that does not parse → 100 / page 1. CE's ``/users-ordered`` and
  ``/sessions-ordered`` read only ``pageNumber`` / ``pageSize`` the same way (no page number →
  the first page, no page size → everything; zep-python 2.0.2's ``page_number`` / ``page_size``
  are ignored). ``id > cursor`` listings with a limit below 1 → everything. CE trims spaces off
  query integers, v0.27 does not (``lastn=%203`` → 400 there).
- Ids: any non-empty id in a JSON body is stored (``/ ? # % \``, spaces, newlines, ``.``,
  2,000 characters: 201); only their URLs break later. The library refuses such ids itself.
- Session PATCH: without metadata (absent or ``null``) → 200, the metadata kept, only
  ``updated_at`` moves (v1: it also revives a deleted session); ``"metadata": {}`` → v1 500, v2
  REPLACES it with ``{}``. User PATCH: ``{}`` → v1 500, v2 REPLACES the metadata with ``{}``
  (then omitted); empty fields change nothing; ``updated_at`` moves on every PATCH. v1: a write,
  an empty one too, revives a deleted session. Every write of messages moves the session's
  ``updated_at``.
- ``GET {p}/user[s]/{id}/sessions`` of an unknown user → 200 ``[]``; v2 user reads carry
  ``session_count`` (live sessions) when not zero; message ``updated_at`` is Go's zero time
  ``0001-01-01T00:00:00Z``; ``lastn`` < 0 → 500 (v1) / 400 (v2); an empty ``messages`` list →
  200/201 and the session is created; v2 without ``messages`` (or ``null``) → 400, nothing
  created; a session without ``session_id`` → v1 500, v2 400; unknown routes → v0.27's HTML 404
  page (v1) or ``404 page not found`` (v2). Success JSON is Go's (compact, one newline, served
  as ``text/plain`` since Go does not set a type); errors are plain text plus a newline (v1) or
  ``{"message": ...}`` (v2, ``application/json``).

Still a choice of this server
-----------------------------
- Ids in a URL path are taken as the router decoded them once (v0.27 and CE differ on
  escaped ``/`` and ``%`` inside a segment; the library never sends such ids).
- Go parses ``created_at`` from the raw JSON bytes, escapes included; this server from the
  decoded string (a time written with ``\u`` escapes passes here, not there). Go's type
  errors name the struct field (``CreateUserRequest.user_id``); here mostly the bare field.
- JSON nested deeper than Python's parser goes (about 900 levels) → 400; Go reads 10,000.
- Orderings tie-break by id and compare strings by code point (Postgres: its collation).
- No facts, summaries, search, ended sessions or documents; ``token_count`` is always 0.

Zep Cloud (``v3``, ``v4``): read from the specification, never measured
-------------------------------------------------------------------------
No Cloud server can be reached from here: these two generations follow the wire specification
(``shared/zep-cloud/spec.md``, read from zep-cloud 3.30.0 / 4.0.1, Zep's own integrations and
its documentation) and are checked with Zep's own SDK (zep-cloud 4.x against v4;
``tests/server/test_cloud_v4_sdk.py``) and against the recorded request shapes (v3;
``tests/server/test_cloud_v3_wire.py``). Both: ``Authorization: Api-Key <key>`` always required
(401 otherwise, in the generation's error shape, on every path under the prefix); success JSON
as ``application/json``; data kept in memory by the generation (no ``path``; ``restart()``
keeps it, ``reset()`` empties it); every response carries ``X-RateLimit-Limit``,
``-Remaining``, ``-Reset`` (unix seconds) and ``-Increment: 1``, and a 429 ``Retry-After``;
at most 30 messages per add, content at most 4,096 characters, message metadata at most 10
keys whose values are strings, numbers, booleans or arrays of those (else 400, nothing stored).

- ``v3``, threads on ``/api/v2`` (zep-cloud 3.x), errors ``{"message": ...}``. ``POST /users``
  → 201 ``User``; ``GET|PATCH|DELETE /users/{user_id}`` (PATCH with no body changes nothing;
  DELETE → 200 ``{"message"}``, synchronous); ``GET /users-ordered?pageNumber=&pageSize=
  &search=&order_by=created_at|user_id|email&asc=``; ``GET /users/{user_id}/threads`` (a flat
  array); ``POST /threads {"thread_id", "user_id"}`` → 201 ``Thread``; ``GET /threads?page_number=
  &page_size=&order_by=created_at|updated_at|user_id|thread_id&asc=``; ``DELETE
  /threads/{thread_id}`` → 200 ``{"message": "Thread successfully deleted."}``; ``GET
  /threads/{thread_id}/messages?limit=&cursor=&lastn=`` → ``{messages, row_count, total_count,
  thread_created_at, user_id, user_uuid}`` (404 for an unknown thread); ``POST
  /threads/{thread_id}/messages {messages, ignore_roles, return_context, strict_ontology}`` →
  200 ``{message_uuids, task_id[, context]}``; ``GET /threads/{thread_id}/context`` → ``{"context":
  ""}``; ``PATCH /messages/{uuid} {"metadata"}`` → the message; ``GET /tasks/{task_id}``.
  Client-chosen ``user_id`` / ``thread_id`` (1 to 500 characters, thread ids global); messages
  have ``role`` (a role type, ``norole`` included), ``name``, a kept ``created_at``.
- ``v4``, ``/api/v4`` (zep-cloud 4.x), errors ``{"error": {"code", "message", "param",
  "request_id"}}``. ``POST /users`` → 201 (``user_id`` optional, unique, at most 500
  characters: taken → 409 ``already_exists``); ``POST /users/list?page_size=&cursor=&order_by=
  created_at|user_id|email|uuid&order= {"search"}``; ``POST /users/lookup {"user_id"}`` (404 if
  none); ``GET|PATCH|DELETE /users/{uuid}``; ``POST /threads {"user_uuid"}`` → 201; ``GET
  /threads?page_size=&cursor=&order_by=created_at|updated_at|uuid&order=&user_uuid=``; ``GET|DELETE
  /threads/{uuid}``; ``GET /threads/{uuid}/context``; ``GET /threads/{uuid}/messages?page_size=
  &cursor=&order_by=created_at&order=``; ``POST /threads/{uuid}/messages`` → 202 ``{messages,
  task[, context]}``; ``GET|PATCH /threads/{uuid}/messages/{uuid}``; ``GET /tasks/{uuid}``, ``GET
  /tasks?status=&type=``; ``POST /threads/lookup``, ``POST /lookup``. The server assigns every
  uuid; a non-UUID where one is wanted (path, body or query) → 400 ``invalid_identifier``;
  ``page_size`` 1 to 200 (default 50), ``next_cursor`` absent on the last page; a message's
  ``created_at`` is when it arrived, its ``reference_time`` what the client sent (else the same
  as ``created_at``); no ``norole``; user metadata merged on update with ``null`` removing a key;
  message metadata merged with ``null`` removing, at most 10 keys after the merge; deletes →
  202 ``{"task"}``, the task ``succeeded`` after ``task_delay`` seconds, a user's delete taking
  their threads and messages; ``Idempotency-Key`` honoured on the seven write routes served
  (the eighth, ``PUT /users/{u}/summary-instructions``, is not served).

Chosen, not measured (every line a guess about Cloud, flagged INF in the specification):

- Message uuids (§7.1): v3 keeps a client's ``uuid``; one already stored (in any thread) or
  repeated in the batch → 400, nothing stored. v4 refuses any ``uuid`` on add (400).
- v3 ``POST /threads`` for an unknown user → 400 (§7.2, as CE; the SDK maps only 400 there); a
  taken ``user_id`` or ``thread_id`` → 400 whose message says "already exists".
- Deletes (§7.3): v3 deletes at once, and a deleted ``thread_id`` can be created again
  straight away; deleting a v3 user takes their threads and messages. On v4 a user or thread
  being deleted stays visible and writable until its task succeeds (a ``user_id`` stays taken
  until then), then it goes with everything under it; a second DELETE meanwhile answers 202
  with the same task. Tasks go ``pending`` → ``succeeded`` only (never ``processing``,
  ``partial`` or ``failed``), after ``task_delay`` seconds (default 0: done before the next
  request is handled); v3's tasks use the same words. A message's ``processed`` is false until
  the ``thread.add_messages`` task of its batch has succeeded.
- User updates (§7.4), both generations: metadata is merged one level deep (a top-level key
  replaces the stored one whole) and a key set to ``null`` is removed; an absent field is kept,
  a ``null`` one cleared; user metadata has no limits (any JSON object); v4 refuses a change of
  ``user_id`` (400).
- Message metadata updates (§7.5): v3 merges like v4 (``null`` removes, at most 10 keys after
  the merge); v3 without ``metadata`` → 400, v4 → nothing changes. ``null`` values on add → 400.
- Listings (§7.6): v3 ``/threads/{id}/messages`` without ``limit`` or ``lastn`` returns every
  message, oldest first in the order added; ``cursor`` is a 1-based page (default 1); negative
  values → 400. ``/users-ordered`` and ``/threads`` default to ``created_at``, newest first
  (``asc=false``), all on one page without a page size. v4: ``order`` defaults to ``asc``;
  ``POST /users/list`` pages like the other lists (1 to 200, default 50); a cursor is only
  good for the ``order_by`` and ``order`` it was made for (else 400 ``invalid_cursor``).
  Orderings: ties in creation order, a missing value sorts as the largest, strings by code
  point; ``search`` is a case-blind substring of ``user_id``, e-mail or names. A v4 thread list
  for an unknown ``user_uuid`` is an empty page; v3 ``/users/{id}/threads`` of an unknown user
  is ``[]`` (as CE).
- ``Idempotency-Key`` (§7.7), v4 write routes only (the POSTs that only read ignore it): the
  first answer (any status but a 5xx or 429) is kept 24 hours and replayed, with
  ``Idempotent-Replayed: true``, to the same key with the same method, path and body (JSON
  compared as values); the same key with another request → 409 ``idempotency_key_reused``;
  while the first is still being handled → 409 ``idempotency_key_in_use``; keys of 1 to 255
  characters, scoped to the server. Requests without a key are simply handled.
- Error texts and codes (§7.8): v3 messages are plain English; v4 codes besides the documented
  ``invalid_identifier``: ``invalid_request`` (400), ``invalid_cursor`` (400), ``unauthorized``
  (401), ``forbidden`` (403), ``not_found`` (404), ``already_exists``, ``conflict``,
  ``idempotency_key_reused``, ``idempotency_key_in_use`` (409), ``rate_limited`` (429),
  ``internal_error`` (500), ``unavailable`` (503, an injected fault); a fresh
  ``request_id`` per error; no ``details``. Match on status codes only.
- Rate limits (§7.9): fixed one-minute windows on the clock's minutes, one count per server,
  every request counted (401s too); ``rate_limit`` (default 100,000 a minute, not a Cloud plan's
  figure) enforced after the key check: 429 in the generation's error shape with
  ``Retry-After`` = seconds to the window's end. An injected 429 reports ``Remaining: 0`` and a
  reset when its ``Retry-After`` says.
- Batches (§7.10): one bad message (over the limits, an unknown or missing role, a content that
  is not a string, a bad time or uuid) refuses the whole batch; so does an empty one (400).
- Values: text (content, names, e-mails, ids) loses its NUL characters and metadata goes
  through Go's float64 and ``jsonb`` exactly as measured on CE 1.0.2 and Zep 0.27.2 ("Stored
  values" above): Cloud is taken to be the same Go + PostgreSQL stack. Content is counted in code
  points; ``name`` has no limit; a time (v3 ``created_at``, v4 ``reference_time``) must be RFC
  3339 as Go reads it and fall in years 1 to 9999 in UTC (else 400); Go's zero time means none.
- v4 identifiers must be canonical (36 characters, any case; Go's parser takes more forms).
  ``POST /users/lookup`` wants exactly one of ``user_id``, ``thread_id``, ``graph_id``; the last
  two (and ``POST /threads/lookup``) never find anything here: threads made on v4 have no
  developer id and there are no graphs.
- Shapes: unset optional fields are left out (Go's ``omitempty``), metadata too when empty; v3
  users carry an integer ``id`` (their creation order), a ``project_uuid`` (one random uuid per
  server) and a ``graph_uuid`` (one per user, also on v4). v3 adds answer 200. A v4 thread's
  ``updated_at`` moves with every add. Unknown routes → 404 in the generation's error shape;
  ``/healthz`` (open, ``.``) is there because the test server needs it to start.
- One generation per server: a v3 server has no ``/api/v4`` routes and a v4 server no
  ``/api/v2`` ones, although Cloud serves both from one host.

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
generation: ``zep_servers["v1"]``, ``zep_servers.fresh("v2")``). Pointed at real servers
(``ZEP_MEMORY_TEST_SERVER_V1=URL``, ``..._V2``, ``..._V2_KEY``, a reset command in
``ZEP_MEMORY_TEST_SERVER_RESET`` or ``..._V1_RESET``), these fixtures hand out
``ExternalZepServer`` objects instead, and a test that needs the store, faults or the request
log is skipped with that reason; run such a suite with ``-n 0``.
"""

from . import _app, _external, _faults, _server
from ._app import *  # noqa: F403 - the public names are those of each module's __all__
from ._cloud import MAX_CONTENT_CHARS as CLOUD_MAX_CONTENT_CHARS
from ._cloud import MAX_MESSAGES_PER_REQUEST as CLOUD_MAX_MESSAGES_PER_REQUEST
from ._cloud import MAX_METADATA_KEYS as CLOUD_MAX_METADATA_KEYS
from ._external import *  # noqa: F403
from ._faults import *  # noqa: F403
from ._generation import GENERATIONS, generation_class
from ._server import *  # noqa: F403
from ._v2 import MAX_CONTENT_CHARS, MAX_MESSAGES_PER_REQUEST

__all__: list[str] = [
    "CLOUD_MAX_CONTENT_CHARS",
    "CLOUD_MAX_MESSAGES_PER_REQUEST",
    "CLOUD_MAX_METADATA_KEYS",
    "GENERATIONS",
    "MAX_CONTENT_CHARS",
    "MAX_MESSAGES_PER_REQUEST",
    "generation_class",
]
__all__ += _app.__all__
__all__ += _external.__all__
__all__ += _faults.__all__
__all__ += _server.__all__
