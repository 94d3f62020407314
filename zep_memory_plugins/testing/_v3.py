"""``v3``: Zep Cloud's threads on ``/api/v2``, as zep-cloud 3.x calls them.

Users and threads have ids the client chooses (``user_id``, ``thread_id``, at most 500
characters; thread ids are global, not per user; spec §2.4, the bound on ``user_id`` chosen:
:data:`._cloud.MAX_ID_CHARS`); the server assigns uuids (§2.4). Messages carry a ``role`` (a
role type, ``norole`` included) and a ``name`` (§2.2); a client's ``created_at`` is kept
(§2.4), and its ``uuid`` too (chosen, §7.1). Deletes are synchronous (200, §2.7) and cascade
(chosen, §2.7 INF). Errors are JSON ``{"message": ...}`` (§2.6; for 401/409/429 chosen, §2.6
INF). Routes, query names, bodies and models: the spec's §2.1 / §2.2. "Chosen" marks what the
spec does not state (see :mod:`._cloud`).
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._models import utcnow
from ._cloud import (
    USER_FIELDS,
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
from ._go import stored_json, stored_text
from ._http import JSON_TYPE, encode, json_body, query_int

__all__ = ["V3"]

_T = TypeVar("_T")
_USER_ORDERS = ("created_at", "user_id", "email")  # spec §2.1
_THREAD_ORDERS = ("created_at", "updated_at", "user_id", "thread_id")  # spec §2.1
# ``asc`` as Go's strconv.ParseBool reads it: chosen (the spec shows only true/false, §2.1).
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


class V3(CloudGeneration):
    """Zep Cloud's thread API of zep-cloud 3.x, on ``/api/v2``."""

    version = "v3"
    server = "Zep Cloud, threads on /api/v2 (zep-cloud 3.x)"
    api_path = "/api/v2"
    roles = frozenset({"norole", "system", "assistant", "user", "function", "tool"})  # §2.2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The ``project_uuid`` of users and threads (§2.2): one random uuid per server (chosen).
        self.project_uuid = _uuid.uuid4()

    def routes(self) -> list[Route]:
        """Spec §2.1: the routes the ``user``, ``thread``, ``message`` and ``task`` clients call."""
        r = self.route
        return [
            r("/users", self.add_user, ["POST"]),
            r("/users-ordered", self.list_users, ["GET"]),
            r("/users/{user_id}", self.get_user, ["GET"]),
            r("/users/{user_id}", self.update_user, ["PATCH"]),
            r("/users/{user_id}", self.delete_user, ["DELETE"]),
            r("/users/{user_id}/threads", self.user_threads, ["GET"]),
            r("/threads", self.create_thread, ["POST"]),
            r("/threads", self.list_threads, ["GET"]),
            r("/threads/{thread_id}", self.delete_thread, ["DELETE"]),
            r("/threads/{thread_id}/messages", self.get_messages, ["GET"]),
            r("/threads/{thread_id}/messages", self.add_messages, ["POST"]),
            r("/threads/{thread_id}/context", self.get_context, ["GET"]),
            r("/messages/{message_uuid}", self.update_message, ["PATCH"]),
            r("/tasks/{task_id}", self.get_task, ["GET"]),
        ]

    def error_body(self, texts: Sequence[str]) -> tuple[str, str]:
        """``{"message": ...}`` (the first text), ``application/json`` (spec §2.6)."""
        return encode({"message": texts[0]}), JSON_TYPE

    # -- JSON shapes -------------------------------------------------------------------------

    def user_json(self, user: CloudUser) -> dict[str, Any]:
        """``User`` (spec §2.2): unset optional fields left out (chosen, Go's ``omitempty``).

        ``id`` is the creation order: chosen (the spec: a server-assigned int, §2.4).
        """
        out: dict[str, Any] = {
            "uuid": str(user.uuid),
            "id": user.seq,
            "created_at": self.time(user.created_at),
            "updated_at": self.time(user.updated_at),
            "user_id": user.user_id,
        }
        for name in USER_FIELDS:
            if getattr(user, name):
                out[name] = getattr(user, name)
        if user.metadata:
            out["metadata"] = user.metadata
        if user.disable_default_ontology is not None:
            out["disable_default_ontology"] = user.disable_default_ontology
        out["graph_uuid"] = str(user.graph_uuid)
        out["project_uuid"] = str(self.project_uuid)
        return out

    def thread_json(self, thread: CloudThread) -> dict[str, Any]:
        """``Thread``: no metadata, no ``updated_at`` (spec §2.2)."""
        user = self.data.users[thread.user_uuid]
        return {
            "uuid": str(thread.uuid),
            "thread_id": thread.thread_id,
            "user_id": user.user_id,
            "user_uuid": str(user.uuid),
            "graph_uuid": str(user.graph_uuid),
            "project_uuid": str(self.project_uuid),
            "created_at": self.time(thread.created_at),
        }

    def message_json(self, message: CloudMessage) -> dict[str, Any]:
        """``Message``: ``role`` is the role type, ``name`` the sender's name (spec §2.2)."""
        out: dict[str, Any] = {
            "uuid": str(message.uuid),
            "created_at": self.time(message.created_at),
            "role": message.role,
        }
        if message.name:
            out["name"] = message.name
        out["content"] = message.content
        if message.metadata:
            out["metadata"] = message.metadata
        out["processed"] = self.processed(message)
        return out

    def task_json(self, task: CloudTask) -> dict[str, Any]:
        """``GetTaskResponse`` (spec §2.2).

        Chosen: the status words are v4's (§3.2; v3's ``status`` is a bare string), and the
        ``params`` of an ingestion task are ``{"thread_uuid"}``.
        """
        out: dict[str, Any] = {
            "task_id": str(task.uuid),
            "type": task.type,
            "status": task.status,
            "params": task.params,
            "created_at": self.time(task.created_at),
            "updated_at": self.time(task.due_at if task.done else task.created_at),
        }
        if task.done:
            out["started_at"] = out["completed_at"] = self.time(task.due_at)
        return out

    # -- lookups -----------------------------------------------------------------------------

    def user(self, user_id: str) -> CloudUser:
        """The user with this id, else a 404 (spec §2.1)."""
        user = self.data.user_by_id(stored_text(user_id))
        if user is None:
            raise not_found("user")
        return user

    def thread(self, request: Request) -> CloudThread:
        """The thread named in the path, else a 404 (spec §2.1)."""
        thread = self.data.thread_by_id(stored_text(request.path_params["thread_id"]))
        if thread is None:
            raise not_found("thread")
        return thread

    # -- users -------------------------------------------------------------------------------

    async def add_user(self, request: Request) -> Response:
        """``POST /users``: 201 and the user (spec §2.1); a taken ``user_id`` is a 400.

        The 400 "already exists": spec §2.4 (Zep's own code expects 400 or 409; 400 chosen).
        """
        body = await json_body(request)
        user_id = check_developer_id(body.get("user_id"), "user_id", required=True)
        assert user_id is not None
        metadata = object_value(body, "metadata")
        fields = {name: text_value(body, name, name) for name in USER_FIELDS}
        ontology = bool_value(body, "disable_default_ontology")
        with self.data.lock:
            if self.data.user_by_id(user_id) is not None:
                raise invalid(f"user already exists with user_id: {user_id}", "user_id")
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
        """``GET /users/{user_id}``."""
        return self.json(self.user_json(self.user(request.path_params["user_id"])))

    async def update_user(self, request: Request) -> Response:
        """``PATCH /users/{user_id}``: the fields sent (null clears one); metadata merged.

        The SDK sends no body at all when no field is given (spec §2.1): nothing changes.
        """
        user = self.user(request.path_params["user_id"])
        body = await json_body(request) if await request.body() else {}
        update_user(user, body)
        return self.json(self.user_json(user))

    async def delete_user(self, request: Request) -> Response:
        """``DELETE /users/{user_id}``: 200 ``{"message"}`` (spec §2.1, §2.7).

        The user's threads and messages go with it: chosen (spec §2.7 INF).
        """
        user = self.user(request.path_params["user_id"])
        self.data.delete_user(user.uuid)
        return self.json({"message": f"User with ID {user.user_id} has been successfully deleted."})

    async def user_threads(self, request: Request) -> Response:
        """``GET /users/{user_id}/threads``: a flat array (spec §2.1).

        Chosen: oldest first; an unknown user gives ``[]`` (as CE; the SDK maps only 500 here).
        """
        user = self.data.user_by_id(stored_text(request.path_params["user_id"]))
        threads = self.data.user_threads(user.uuid) if user is not None else []
        return self.json([self.thread_json(t) for t in threads])

    async def list_users(self, request: Request) -> Response:
        """``GET /users-ordered?pageNumber=&pageSize=&search=&order_by=&asc=`` (spec §2.1, §2.2).

        What ``total_count`` and ``row_count`` count: chosen (the spec names them only).
        """
        page, size = _page(request, "pageNumber", "pageSize")
        order_by, asc = _order(request, _USER_ORDERS)
        search = request.query_params.get("search", "").lower()
        users = [u for u in self.data.users.values() if user_matches(u, search)]
        users = _sorted(users, order_by, asc)
        chosen = _slice(users, page, size)
        return self.json(
            {
                "users": [self.user_json(u) for u in chosen],
                "total_count": len(users),
                "row_count": len(chosen),
            }
        )

    # -- threads -----------------------------------------------------------------------------

    async def create_thread(self, request: Request) -> Response:
        """``POST /threads {"thread_id", "user_id"}``: 201; a taken id or unknown user: 400.

        201: spec §2.1; a taken id: 400 "already exists" (spec §2.4; Zep's own code expects 400
        or 409, 400 chosen); an unknown user: 400 chosen (spec §7.2).
        """
        body = await json_body(request)
        thread_id = check_developer_id(body.get("thread_id"), "thread_id", required=True)
        user_id = check_developer_id(body.get("user_id"), "user_id", required=True)
        assert thread_id is not None and user_id is not None
        with self.data.lock:
            user = self.data.user_by_id(user_id)
            if user is None:
                raise invalid(f"user not found: {user_id}", "user_id")
            if self.data.thread_by_id(thread_id) is not None:
                raise invalid(f"thread already exists with thread_id: {thread_id}", "thread_id")
            now = utcnow()
            thread = CloudThread(
                uuid=_uuid.uuid4(),
                seq=self.data.next_seq(),
                user_uuid=user.uuid,
                thread_id=thread_id,
                created_at=now,
                updated_at=now,
            )
            self.data.add_thread(thread)
        return self.json(self.thread_json(thread), 201)

    async def list_threads(self, request: Request) -> Response:
        """``GET /threads?page_number=&page_size=&order_by=&asc=`` (spec §2.1, §2.2).

        What ``total_count`` and ``response_count`` count: chosen (the spec names them only).
        """
        page, size = _page(request, "page_number", "page_size")
        order_by, asc = _order(request, _THREAD_ORDERS)
        users = self.data.users

        def value(thread: CloudThread) -> Any:
            if order_by == "user_id":
                return users[thread.user_uuid].user_id
            return getattr(thread, order_by)

        threads = _sorted(list(self.data.threads.values()), order_by, asc, value)
        chosen = _slice(threads, page, size)
        return self.json(
            {
                "threads": [self.thread_json(t) for t in chosen],
                "total_count": len(threads),
                "response_count": len(chosen),
            }
        )

    async def delete_thread(self, request: Request) -> Response:
        """``DELETE /threads/{thread_id}``: 200 ``{"message"}`` (spec §2.7).

        Chosen (spec §2.7 / §7.3 INF): the messages go with it; the id is free again at once.
        """
        self.data.delete_thread(self.thread(request).uuid)
        return self.json({"message": "Thread successfully deleted."})

    async def get_context(self, request: Request) -> Response:
        """``GET /threads/{thread_id}/context``: an empty context block (no graph here; spec §4)."""
        self.thread(request)
        return self.json({"context": ""})

    # -- messages ----------------------------------------------------------------------------

    async def get_messages(self, request: Request) -> Response:
        """``GET /threads/{thread_id}/messages?limit=&cursor=&lastn=``, oldest first.

        ``lastn``: the last n (overrides the others; spec §2.1); ``limit``: page ``cursor``
        (1-based, default 1: chosen, spec §2.1 INF) of that size; neither: every message, and
        negative values a 400 (chosen, spec §7.6). The answer's fields: spec §2.2 (what
        ``row_count`` and ``total_count`` count: chosen, the spec names them only).
        """
        thread = self.thread(request)
        lastn = query_int(request, "lastn", trim=True)
        limit = query_int(request, "limit", trim=True)
        cursor = query_int(request, "cursor", trim=True) or 1
        if lastn < 0 or limit < 0 or cursor < 1:
            raise invalid("lastn and limit must not be negative, cursor must be 1 or more")
        stored = self.data.thread_messages[thread.uuid]
        if lastn:
            messages = stored[-lastn:]
        elif limit:
            messages = stored[(cursor - 1) * limit : cursor * limit]
        else:
            messages = list(stored)
        user = self.data.users[thread.user_uuid]
        return self.json(
            {
                "messages": [self.message_json(m) for m in messages],
                "row_count": len(messages),
                "total_count": len(stored),
                "thread_created_at": self.time(thread.created_at),
                "user_id": user.user_id,
                "user_uuid": str(user.uuid),
            }
        )

    async def add_messages(self, request: Request) -> Response:
        """``POST /threads/{thread_id}/messages``: 200 ``{message_uuids, task_id[, context]}``.

        The fields: spec §2.2; 200 and ``message_uuids`` in request order: chosen (§2.1, §2.4
        INF). All or nothing: one bad message (or a uuid already taken) refuses the whole batch
        (chosen, spec §7.1 / §7.10).
        """
        thread = self.thread(request)
        body = await json_body(request)
        drafts = parse_messages(body, self.roles, time_field="created_at", client_uuids=True)
        check_roles(body.get("ignore_roles"), self.roles)
        return_context = bool_value(body, "return_context")
        bool_value(body, "strict_ontology")
        with self.data.lock:
            chosen = [d.uuid for d in drafts if d.uuid is not None]
            if len(set(chosen)) != len(chosen) or any(u in self.data.messages for u in chosen):
                raise invalid("message uuid already exists", "messages")
            now = utcnow()
            messages = [
                CloudMessage(
                    uuid=d.uuid or _uuid.uuid4(),
                    seq=self.data.next_seq(),
                    thread_uuid=thread.uuid,
                    role=d.role,
                    content=d.content,
                    created_at=d.time or now,
                    name=d.name,
                    metadata=d.metadata,
                )
                for d in drafts
            ]
            self.data.add_messages(thread, messages)
            task = self.ingest(messages, thread.uuid)
        out: dict[str, Any] = {
            "message_uuids": [str(m.uuid) for m in messages],
            "task_id": str(task.uuid),
        }
        if return_context:
            out["context"] = ""
        return self.json(out)

    async def update_message(self, request: Request) -> Response:
        """``PATCH /messages/{message_uuid} {"metadata"}`` (spec §2.1): merged, null removes a key.

        Chosen (spec §2.5 / §7.5 INF): the merge; no ``metadata`` or a non-UUID path: 400.
        """
        wanted = parse_uuid_text(request.path_params["message_uuid"])
        if wanted is None:
            raise invalid("message_uuid is not a UUID", "message_uuid")
        message = self.data.messages.get(wanted)
        if message is None:
            raise not_found("message")
        body = await json_body(request)
        if body.get("metadata") is None:
            raise invalid("metadata is required", "metadata")
        update = check_message_metadata(body["metadata"], "metadata", update=True)
        merged = merge_metadata(message.metadata, update)
        check_key_count(merged, "metadata")
        message.metadata = merged
        return self.json(self.message_json(message))

    async def get_task(self, request: Request) -> Response:
        """``GET /tasks/{task_id}`` (spec §2.1); a non-UUID id: 404 (chosen)."""
        wanted = parse_uuid_text(request.path_params["task_id"])
        task = self.data.tasks.get(wanted) if wanted is not None else None
        if task is None:
            raise not_found("task")
        return self.json(self.task_json(task))


# -- listings ------------------------------------------------------------------------------------


def _page(request: Request, number: str, size: str) -> tuple[int, int]:
    """A page number (from 1; absent: 1) and size (absent or 0: everything on one page).

    From 1: spec §2.1; the defaults and refusing negatives (400): chosen (spec §2.5, §7.6).
    """
    page = query_int(request, number, trim=True) or 1
    per_page = query_int(request, size, trim=True)
    if page < 1 or per_page < 0:
        raise invalid(f"{number} must be 1 or more and {size} 0 or more")
    return page, per_page


def _slice(items: list[_T], page: int, size: int) -> list[_T]:
    return items if not size else items[(page - 1) * size : page * size]


def _order(request: Request, allowed: tuple[str, ...]) -> tuple[str, bool]:
    """``order_by`` (default ``created_at``) and ``asc`` (default false: newest first).

    The names: spec §2.1; the defaults and a 400 for others: chosen (spec §7.6).
    """
    order_by = request.query_params.get("order_by", "").strip() or "created_at"
    if order_by not in allowed:
        raise invalid(f"order_by must be one of {', '.join(allowed)}", "order_by")
    raw = request.query_params.get("asc", "").strip()
    if raw and raw not in _BOOLS:
        raise invalid("asc must be true or false", "asc")
    return order_by, _BOOLS.get(raw, False)


def _sorted(
    items: list[_T], order_by: str, asc: bool, value: Callable[[_T], Any] | None = None
) -> list[_T]:
    """``ORDER BY <order_by> ASC|DESC``, ties by creation; nulls sort as the largest (chosen)."""

    def key(item: _T) -> tuple[Any, ...]:
        got = value(item) if value is not None else getattr(item, order_by)
        seq = getattr(item, "seq", 0)
        return (1, "", seq) if got is None else (0, got, seq)

    return sorted(items, key=key, reverse=not asc)
