"""``v4``: Zep Cloud on ``/api/v4``, as zep-cloud 4.x calls it.

The server assigns every address (user, thread, message and task uuids; spec §3.3); a user
may carry an optional, unique ``user_id`` (at most 500 characters) found again with
``POST /users/lookup`` (§3.2 / §3.3). A non-UUID where a UUID is wanted is a 400
``invalid_identifier`` (§3.3). Threads have no metadata; messages carry ``role`` (no
``norole``), ``name``, ``metadata`` and ``reference_time`` (``created_at`` is when the server
received them) (§3.2); a client's message ``uuid`` is refused (400: chosen, §3.3 INF). Deletes
answer 202 with a task (§3.7), which succeeds (and removes the data) after ``task_delay``
seconds (chosen, §7.3). Lists are cursor pages (§3.1, :mod:`._cursor`). Writes honour
``Idempotency-Key`` (what the server does with it: chosen, §3.5; :mod:`._idempotency`). Errors
are ``{"error": {"code", "message", "param", "request_id"}}`` (§3.6; never ``details``:
chosen). Routes, bodies and models: the spec's §3.1 / §3.2. "Chosen" marks what the spec does
not state (see :mod:`._cloud`).
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._models import utcnow
from ._cloud import (
    USER_FIELDS,
    CloudError,
    CloudGeneration,
    bool_value,
    check_developer_id,
    check_key_count,
    check_message_metadata,
    check_roles,
    invalid,
    merge_metadata,
    not_found,
    object_value,
    parse_messages,
    parse_uuid_text,
    text_value,
    update_user,
    user_matches,
)
from ._cloud_data import CloudMessage, CloudTask, CloudThread, CloudUser
from ._cursor import page
from ._generation import Handler
from ._go import stored_json
from ._http import JSON_TYPE, HTTPError, encode, json_body
from ._idempotency import MAX_KEY_CHARS, IdempotencyCache, fingerprint

__all__ = ["V4"]

#: The ``error.code`` of an error raised without one, by status. Chosen: the spec knows no code
#: but ``invalid_identifier`` (§3.6, §7.8).
_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "rate_limited",
    503: "unavailable",
}
_TASK_STATUSES = ("pending", "processing", "succeeded", "partial", "failed")  # spec §3.2


def identifier(value: object, param: str) -> _uuid.UUID:
    """A UUID the client gave (path, body or query), else 400 ``invalid_identifier``.

    The 400 and its code: spec §3.3. Only the canonical form is a UUID here: chosen.
    """
    parsed = parse_uuid_text(value)
    if parsed is None:
        raise CloudError(400, "invalid_identifier", f"{param} must be a UUID, not {value!r}", param)
    return parsed


class V4(CloudGeneration):
    """Zep Cloud's API of zep-cloud 4.x, on ``/api/v4``."""

    version = "v4"
    server = "Zep Cloud /api/v4 (zep-cloud 4.x)"
    api_path = "/api/v4"
    roles = frozenset({"system", "assistant", "user", "function", "tool"})  # spec §3.2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The ``Idempotency-Key`` answers kept for replay.
        self.idempotency = IdempotencyCache()
        #: The pending delete task of each user or thread being deleted.
        self.deleting: dict[_uuid.UUID, CloudTask] = {}

    def reset(self) -> None:
        """Forget all data, keys and pending deletes."""
        super().reset()
        self.idempotency.clear()
        self.deleting.clear()

    def routes(self) -> list[Route]:
        """Spec §3.1: the ``user``, ``thread``, ``thread.message``, ``task``, ``lookup`` routes."""
        r, k = self.route, self.keyed
        return [
            r("/users", k(self.create_user), ["POST"]),
            r("/users/list", self.list_users, ["POST"]),
            r("/users/lookup", self.lookup_user, ["POST"]),
            r("/users/{user_uuid}", self.get_user, ["GET"]),
            r("/users/{user_uuid}", k(self.update_user), ["PATCH"]),
            r("/users/{user_uuid}", k(self.delete_user), ["DELETE"]),
            r("/threads", k(self.create_thread), ["POST"]),
            r("/threads", self.list_threads, ["GET"]),
            r("/threads/lookup", self.lookup_thread, ["POST"]),
            r("/threads/{thread_uuid}", self.get_thread, ["GET"]),
            r("/threads/{thread_uuid}", k(self.delete_thread), ["DELETE"]),
            r("/threads/{thread_uuid}/context", self.get_context, ["GET"]),
            r("/threads/{thread_uuid}/messages", self.list_messages, ["GET"]),
            r("/threads/{thread_uuid}/messages", k(self.add_messages), ["POST"]),
            r("/threads/{thread_uuid}/messages/{message_uuid}", self.get_message, ["GET"]),
            r("/threads/{thread_uuid}/messages/{message_uuid}", k(self.update_message), ["PATCH"]),
            r("/tasks", self.list_tasks, ["GET"]),
            r("/tasks/{task_uuid}", self.get_task, ["GET"]),
            r("/lookup", self.lookup_batch, ["POST"]),
        ]

    # -- errors ------------------------------------------------------------------------------

    def error(
        self, status: int, text: str, headers: Mapping[str, str] | None = None, *more: str
    ) -> Response:
        """``{"error": {...}}`` with the code of the status."""
        return self.error_response(
            status, _CODES.get(status, "internal_error"), text, None, headers
        )

    def cloud_error(self, exc: CloudError) -> Response:
        """``{"error": {...}}`` with the error's code and param."""
        return self.error_response(exc.status, exc.code, exc.text, exc.param)

    def error_response(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The v4 error body (``ErrorBody``): ``code``, ``message``, ``param``, ``request_id``."""
        body: dict[str, Any] = {"code": code, "message": message}
        if param is not None:
            body["param"] = param
        body["request_id"] = str(_uuid.uuid4())
        return Response(encode({"error": body}), status, headers=headers, media_type=JSON_TYPE)

    # -- Idempotency-Key -------------------------------------------------------------------

    def keyed(self, handler: Handler) -> Handler:
        """``handler`` with ``Idempotency-Key`` replay (:mod:`._idempotency`).

        The keyed routes are those the SDK sends a caller's key on (spec §3.5; ``PUT
        /users/{u}/summary-instructions`` is not served here). Chosen: a key on the read-only
        POSTs is ignored; an empty key or one over :data:`MAX_KEY_CHARS` is a 400.
        """

        async def run(request: Request) -> Response:
            key = request.headers.get("idempotency-key")
            if key is None:
                return await handler(request)
            if not key or len(key) > MAX_KEY_CHARS:
                raise invalid(
                    f"Idempotency-Key must have 1 to {MAX_KEY_CHARS} characters",
                    "Idempotency-Key",
                )
            print_ = fingerprint(request.method, request.url.path, await request.body())
            replay = self.idempotency.begin(key, print_)
            if replay is not None:
                return replay
            try:
                response = await handler(request)
            except CloudError as exc:
                response = self.cloud_error(exc)
            except HTTPError as exc:
                response = self.error(exc.status, exc.text)
            except BaseException:
                self.idempotency.abandon(key)
                raise
            self.idempotency.finish(key, response)
            return response

        return run

    # -- JSON shapes -------------------------------------------------------------------------

    def user_json(self, user: CloudUser) -> dict[str, Any]:
        """``User`` (spec §3.2): unset optional fields left out (chosen, Go's ``omitempty``)."""
        out: dict[str, Any] = {"uuid": str(user.uuid)}
        if user.user_id is not None:
            out["user_id"] = user.user_id
        for name in USER_FIELDS:
            if getattr(user, name):
                out[name] = getattr(user, name)
        if user.metadata:
            out["metadata"] = user.metadata
        if user.disable_default_ontology is not None:
            out["disable_default_ontology"] = user.disable_default_ontology
        out["graph_uuid"] = str(user.graph_uuid)
        out["created_at"] = self.time(user.created_at)
        return out

    def thread_json(self, thread: CloudThread) -> dict[str, Any]:
        """``Thread``: no metadata; no ``thread_id`` (threads made on v4 have none; spec §3.2).

        ``updated_at`` moves with every add: chosen (:meth:`._cloud_data.CloudData.add_messages`).
        """
        return {
            "uuid": str(thread.uuid),
            "user_uuid": str(thread.user_uuid),
            "graph_uuid": str(self.data.users[thread.user_uuid].graph_uuid),
            "created_at": self.time(thread.created_at),
            "updated_at": self.time(thread.updated_at),
        }

    def message_json(self, message: CloudMessage) -> dict[str, Any]:
        """``Message``: ``created_at`` when received, ``reference_time`` as given (spec §3.2).

        Without one, ``reference_time`` is the ingestion time ("Defaults to the ingestion time",
        spec §3.2), i.e. ``created_at``.
        """
        out: dict[str, Any] = {
            "uuid": str(message.uuid),
            "thread_uuid": str(message.thread_uuid),
            "role": message.role,
        }
        if message.name:
            out["name"] = message.name
        out["content"] = message.content
        if message.metadata:
            out["metadata"] = message.metadata
        out["created_at"] = self.time(message.created_at)
        out["reference_time"] = self.time(message.reference_time or message.created_at)
        out["processed"] = self.processed(message)
        return out

    def task_json(self, task: CloudTask) -> dict[str, Any]:
        """``Task`` (spec §3.2; no ``progress``, ``result`` or ``error`` here: chosen)."""
        out: dict[str, Any] = {
            "uuid": str(task.uuid),
            "type": task.type,
            "status": task.status,
            "created_at": self.time(task.created_at),
            "updated_at": self.time(task.due_at if task.done else task.created_at),
        }
        if task.done:
            out["started_at"] = out["completed_at"] = self.time(task.due_at)
        return out

    # -- lookups -----------------------------------------------------------------------------

    def user(self, request: Request) -> CloudUser:
        """The user of the path's ``user_uuid``, else 400 or 404 (spec §3.1, §3.3)."""
        user = self.data.users.get(identifier(request.path_params["user_uuid"], "user_uuid"))
        if user is None:
            raise not_found("user", "user_uuid")
        return user

    def thread(self, request: Request) -> CloudThread:
        """The thread of the path's ``thread_uuid``, else 400 or 404 (spec §3.1, §3.3)."""
        wanted = identifier(request.path_params["thread_uuid"], "thread_uuid")
        thread = self.data.threads.get(wanted)
        if thread is None:
            raise not_found("thread", "thread_uuid")
        return thread

    def message(self, request: Request) -> CloudMessage:
        """The message of the path's thread and ``message_uuid``, else 400 or 404.

        A message of another thread: 404 (chosen, not in the spec).
        """
        thread = self.thread(request)
        wanted = identifier(request.path_params["message_uuid"], "message_uuid")
        message = self.data.messages.get(wanted)
        if message is None or message.thread_uuid != thread.uuid:
            raise not_found("message", "message_uuid")
        return message

    # -- users -------------------------------------------------------------------------------

    async def create_user(self, request: Request) -> Response:
        """``POST /users``: 201 and the user (spec §3.1); a ``user_id`` already taken is a 409.

        409 and its code ``already_exists``: chosen (spec §3.3 INF: 409).
        """
        body = await json_body(request)
        user_id = check_developer_id(body.get("user_id"), "user_id", required=False)
        metadata = object_value(body, "metadata")
        object_value(body, "content_policy")
        fields = {name: text_value(body, name, name) for name in USER_FIELDS}
        ontology = bool_value(body, "disable_default_ontology")
        with self.data.lock:
            if user_id is not None and self.data.user_by_id(user_id) is not None:
                raise CloudError(
                    409, "already_exists", "a user with this user_id exists", "user_id"
                )
            now = utcnow()
            user = CloudUser(
                uuid=_uuid.uuid4(),
                seq=self.data.next_seq(),
                user_id=user_id,
                created_at=now,
                updated_at=now,
                graph_uuid=_uuid.uuid4(),
                metadata=stored_json(metadata or {}),
                disable_default_ontology=ontology,
                **fields,
            )
            self.data.add_user(user)
        return self.json(self.user_json(user), 201)

    async def get_user(self, request: Request) -> Response:
        """``GET /users/{user_uuid}``."""
        return self.json(self.user_json(self.user(request)))

    async def update_user(self, request: Request) -> Response:
        """``PATCH /users/{user_uuid}``: fields (null clears), metadata merged (null removes).

        The merge: spec §3.4; ``user_id`` "cannot be changed after creation" (spec §3.2), a
        body that tries is a 400: chosen.
        """
        user = self.user(request)
        body = await json_body(request) if await request.body() else {}
        if "user_id" in body:
            raise invalid("user_id cannot be changed", "user_id")
        update_user(user, body)
        return self.json(self.user_json(user))

    async def delete_user(self, request: Request) -> Response:
        """``DELETE /users/{user_uuid}``: 202 and the task removing the user, threads, messages.

        Spec §3.7 (the cascade: "the user's threads, messages, and graph are removed as well").
        """
        user = self.user(request)
        return self.delete(user.uuid, "user.delete", lambda: self.data.delete_user(user.uuid))

    def delete(self, target: _uuid.UUID, type_: str, work: Any) -> Response:
        """202 ``{"task"}``: a new delete task, or the one already pending for ``target``.

        202 with a task: spec §3.7; the same task for a second DELETE meanwhile: chosen (§7.3).
        """
        task = self.deleting.get(target)
        if task is None or task.done:

            def run() -> None:
                work()
                self.deleting.pop(target, None)

            task = self.data.add_task(type_, self.task_delay, {"uuid": str(target)}, run)
            self.deleting[target] = task
        return self.json({"task": self.task_json(task)}, 202)

    async def list_users(self, request: Request) -> Response:
        """``POST /users/list?page_size=&cursor=&order_by=&order=`` with ``{"search"}`` (§3.1)."""
        body = await json_body(request) if await request.body() else {}
        search = (text_value(body, "search", "search") or "").lower()
        users = [u for u in self.data.users.values() if user_matches(u, search)]
        orders = {
            "created_at": lambda u: u.created_at,
            "user_id": lambda u: u.user_id,
            "email": lambda u: u.email,
            "uuid": lambda u: str(u.uuid),
        }
        return self.json(page(request, users, orders, self.user_json))

    async def lookup_user(self, request: Request) -> Response:
        """``POST /users/lookup {"user_id"}`` (or ``thread_id`` / ``graph_id``): the user.

        Exactly one of the three: spec §3.1 ("mutually exclusive"); 404 when none: chosen (spec
        §3.3 INF). ``thread_id`` and ``graph_id`` never find one here (no v3 threads, no graphs).
        """
        body = await json_body(request)
        given = [name for name in ("user_id", "thread_id", "graph_id") if body.get(name)]
        if len(given) != 1:
            raise invalid("give exactly one of user_id, thread_id and graph_id")
        value = body[given[0]]
        if not isinstance(value, str):
            raise invalid(f"{given[0]} must be a string", given[0])
        user = self.data.user_by_id(value) if given[0] == "user_id" else None
        if user is None:
            raise not_found("user", given[0])
        return self.json(self.user_json(user))

    # -- threads -----------------------------------------------------------------------------

    async def create_thread(self, request: Request) -> Response:
        """``POST /threads {"user_uuid"}``: 201 and the thread (spec §3.1).

        Chosen: an unknown user is a 404 and a missing ``user_uuid`` a 400 (not in the spec).
        """
        body = await json_body(request)
        if body.get("user_uuid") is None:
            raise invalid("user_uuid is required", "user_uuid")
        user = self.data.users.get(identifier(body["user_uuid"], "user_uuid"))
        if user is None:
            raise not_found("user", "user_uuid")
        now = utcnow()
        thread = CloudThread(
            uuid=_uuid.uuid4(),
            seq=self.data.next_seq(),
            user_uuid=user.uuid,
            thread_id=None,
            created_at=now,
            updated_at=now,
        )
        self.data.add_thread(thread)
        return self.json(self.thread_json(thread), 201)

    async def list_threads(self, request: Request) -> Response:
        """``GET /threads?page_size=&cursor=&order_by=&order=&user_uuid=`` (spec §3.1).

        An unknown ``user_uuid`` gives an empty page: chosen.
        """
        threads = list(self.data.threads.values())
        owner = request.query_params.get("user_uuid")
        if owner is not None:
            wanted = identifier(owner, "user_uuid")
            threads = [t for t in threads if t.user_uuid == wanted]
        orders = {
            "created_at": lambda t: t.created_at,
            "updated_at": lambda t: t.updated_at,
            "uuid": lambda t: str(t.uuid),
        }
        return self.json(page(request, threads, orders, self.thread_json))

    async def lookup_thread(self, request: Request) -> Response:
        """``POST /threads/lookup``: threads made here have no developer id, so always 404.

        No developer id on v4 threads: spec §3.3; the 404: chosen (spec §3.3 INF).
        """
        body = await json_body(request)
        if not isinstance(body.get("thread_id"), str) or not body["thread_id"]:
            raise invalid("thread_id is required", "thread_id")
        raise not_found("thread", "thread_id")

    async def get_thread(self, request: Request) -> Response:
        """``GET /threads/{thread_uuid}`` (spec §3.1)."""
        return self.json(self.thread_json(self.thread(request)))

    async def delete_thread(self, request: Request) -> Response:
        """``DELETE /threads/{thread_uuid}``: 202 and the task that removes it, messages too.

        202 and the task: spec §3.7; the messages going with it: chosen (spec §3.7 INF).
        """
        thread = self.thread(request)
        return self.delete(
            thread.uuid, "thread.delete", lambda: self.data.delete_thread(thread.uuid)
        )

    async def get_context(self, request: Request) -> Response:
        """``GET /threads/{thread_uuid}/context``: an empty context block (no graph; spec §4)."""
        self.thread(request)
        return self.json({"context": ""})

    # -- messages ----------------------------------------------------------------------------

    async def list_messages(self, request: Request) -> Response:
        """``GET /threads/{thread_uuid}/messages?page_size=&cursor=&order_by=&order=`` (§3.1)."""
        thread = self.thread(request)
        orders = {"created_at": lambda m: m.created_at}
        messages = self.data.thread_messages[thread.uuid]
        return self.json(page(request, messages, orders, self.message_json))

    async def add_messages(self, request: Request) -> Response:
        """``POST /threads/{thread_uuid}/messages``: 202 ``{messages, task[, context]}``.

        202 and the fields: spec §3.1 / §3.2. All or nothing: one bad message refuses the whole
        batch (chosen, spec §7.10).
        """
        thread = self.thread(request)
        body = await json_body(request)
        drafts = parse_messages(body, self.roles, time_field="reference_time", client_uuids=False)
        check_roles(body.get("ignore_roles"), self.roles)
        return_context = bool_value(body, "return_context")
        bool_value(body, "strict_ontology")
        now = utcnow()
        messages = [
            CloudMessage(
                uuid=_uuid.uuid4(),
                seq=self.data.next_seq(),
                thread_uuid=thread.uuid,
                role=d.role,
                content=d.content,
                created_at=now,
                name=d.name,
                metadata=d.metadata,
                reference_time=d.time,
            )
            for d in drafts
        ]
        self.data.add_messages(thread, messages)
        task = self.ingest(messages, thread.uuid)
        out: dict[str, Any] = {
            "messages": [self.message_json(m) for m in messages],
            "task": self.task_json(task),
        }
        if return_context:
            out["context"] = ""
        return self.json(out, 202)

    async def get_message(self, request: Request) -> Response:
        """``GET /threads/{thread_uuid}/messages/{message_uuid}`` (spec §3.1)."""
        return self.json(self.message_json(self.message(request)))

    async def update_message(self, request: Request) -> Response:
        """``PATCH .../messages/{message_uuid} {"metadata"}``: merged, null removes; <= 10 keys.

        Spec §3.4. No ``metadata``: nothing changes (chosen).
        """
        message = self.message(request)
        body = await json_body(request) if await request.body() else {}
        update = check_message_metadata(body.get("metadata"), "metadata", update=True)
        merged = merge_metadata(message.metadata, update)
        check_key_count(merged, "metadata")
        message.metadata = merged
        return self.json(self.message_json(message))

    # -- tasks and batch lookup --------------------------------------------------------------

    async def get_task(self, request: Request) -> Response:
        """``GET /tasks/{task_uuid}`` (spec §3.1)."""
        task = self.data.tasks.get(identifier(request.path_params["task_uuid"], "task_uuid"))
        if task is None:
            raise not_found("task", "task_uuid")
        return self.json(self.task_json(task))

    async def list_tasks(self, request: Request) -> Response:
        """``GET /tasks?page_size=&cursor=&status=&type=`` (spec §3.1), oldest first (chosen)."""
        status = request.query_params.get("status")
        if status is not None and status not in _TASK_STATUSES:
            raise invalid(f"status must be one of {', '.join(_TASK_STATUSES)}", "status")
        type_ = request.query_params.get("type")
        tasks = [
            t
            for t in self.data.tasks.values()
            if (status is None or t.status == status) and (type_ is None or t.type == type_)
        ]
        orders = {"created_at": lambda t: t.created_at}
        return self.json(page(request, tasks, orders, self.task_json))

    async def lookup_batch(self, request: Request) -> Response:
        """``POST /lookup {"users", "threads", "graphs"}``: each developer id, found or not.

        The items: spec §3.2 (``LookupItem``), ``found: false`` for a miss: spec §3.3.
        """
        body = await json_body(request)
        items = []
        for kind, name in (("user", "users"), ("thread", "threads"), ("graph", "graphs")):
            ids = body.get(name) or []
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise invalid(f"{name} must be an array of strings", name)
            for legacy_id in ids:
                user = self.data.user_by_id(legacy_id) if kind == "user" else None
                item: dict[str, Any] = {
                    "resource_type": kind,
                    "legacy_id": legacy_id,
                    "found": user is not None,
                }
                if user is not None:
                    item["uuid"] = str(user.uuid)
                items.append(item)
        return self.json({"items": items})
