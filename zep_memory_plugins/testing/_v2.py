"""``/api/v2``: answers like Zep Community Edition v1.0.2 (zep-python 2.x).

Errors are JSON ``{"message": ...}`` (``application/json``). Auth is always on:
``Authorization: Api-Key <key>``; a missing or wrong key is 401 ``unauthorized`` (plain text).
No ``X-Zep-Version``. Limits: at most :data:`MAX_MESSAGES_PER_REQUEST` messages per write (more
are refused *and stored*), at most :data:`MAX_CONTENT_CHARS` characters of content, a
``role_type`` required. A deleted session is purged at once: its id is free again. Users and
sessions carry ``project_uuid``, sessions ``ended_at``, messages ``role_type``; two more
listings page by number (``/users-ordered``, ``/sessions-ordered``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._errors import AlreadyExistsError, NotFoundError
from .._models import ROLE_TYPES, Message, Session, User
from ._http import (
    JSON_TYPE,
    NIL_UUID,
    TEXT_TYPE,
    HTTPError,
    MessageIn,
    bad_request,
    encode,
    not_found,
    path_id,
    query_int,
)
from ._sessions import SessionApi
from ._writes import KEEP, Keep, touch_session

__all__ = ["MAX_CONTENT_CHARS", "MAX_MESSAGES_PER_REQUEST", "V2"]

#: Zep CE refuses (400) a ``POST .../memory`` with more messages than this, and stores them anyway.
MAX_MESSAGES_PER_REQUEST = 30
#: Zep CE refuses (400, nothing stored) a message whose content has more characters than this.
MAX_CONTENT_CHARS = 2500

_T = TypeVar("_T")
_SESSION_ORDERS = ("created_at", "updated_at", "user_id", "session_id")
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


class V2(SessionApi):
    """Zep Community Edition 1.0.2 on ``/api/v2``."""

    version = "v2"
    server = "Zep CE 1.0.2"
    api_path = "/api/v2"
    default_window = 6  # CE's fixed DefaultLastNMessages
    requires_key = True
    auth_scheme = "Api-Key"
    users = "/users"
    trims_query = True

    def routes(self) -> list[Route]:
        """The shared routes and CE's ordered listings."""
        return [
            *super().routes(),
            self.route("/users-ordered", self.list_users_ordered, ["GET"]),
            self.route("/sessions-ordered", self.list_sessions_ordered, ["GET"]),
        ]

    # -- responses ---------------------------------------------------------------------------

    def error_body(self, texts: Sequence[str]) -> tuple[str, str]:
        """``{"message": text}`` and a newline for each text, ``application/json``."""
        return "".join(encode({"message": text}) for text in texts), JSON_TYPE

    def unauthorized(self) -> Response:
        """CE's auth middleware answers in plain text."""
        return Response("unauthorized\n", 401, media_type=TEXT_TYPE)

    def ok(self, status: int = 200) -> Response:
        """``{"message":"OK"}``."""
        return Response(encode({"message": "OK"}), status, media_type=JSON_TYPE)

    def user_json(
        self, user: User, *, count_sessions: bool = True, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """v0.27's user with ``project_uuid``, and the count of live sessions on reads."""
        out = super().user_json(user, metadata=metadata)
        stored = out.pop("metadata", None)
        out["project_uuid"] = NIL_UUID
        if stored:
            out["metadata"] = stored
        if count_sessions:
            # CE counts the user's live sessions on every read (not on create).
            count = len(self.store.get_user_sessions(user.user_id))
            if count:
                out["session_count"] = count
        return out

    def session_json(
        self, session: Session, *, with_id: bool = True, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """v0.27's session with ``ended_at`` and ``project_uuid``."""
        out: dict[str, Any] = {}
        for key, value in super().session_json(session, with_id=with_id, metadata=metadata).items():
            out[key] = value
            if key == "deleted_at":
                out["ended_at"] = None
        out["project_uuid"] = NIL_UUID
        return out

    def message_json(self, message: Message) -> dict[str, Any]:
        """v0.27's message with ``role_type`` (omitted if empty)."""
        out: dict[str, Any] = {}
        for key, value in super().message_json(message).items():
            out[key] = value
            if key == "role" and message.role_type:
                out["role_type"] = message.role_type
        return out

    def memory_json(self, messages: list[Message]) -> dict[str, Any]:
        """``{messages, relevant_facts}`` (no facts here)."""
        return {"messages": [self.message_json(m) for m in messages], "relevant_facts": []}

    def negative_lastn(self) -> HTTPError:
        """CE: 400."""
        return HTTPError(400, "lastn cannot be negative")

    def unknown_message(self) -> Response:
        """CE's text for a message uuid it does not have."""
        raise HTTPError(404, "no message found for UUID")

    # CE reports a bad uuid in the path, then goes on with the nil uuid and reports again.
    bad_uuid_get = ("no message found for UUID",)
    bad_uuid_patch = ("bad request: messageUUID is required",)
    memory_struct = "AddMemoryRequest"
    message_update_struct = "models.MessageMetadataUpdate"
    plain_message_update_errors = True

    def user_metadata_after(self, metadata: dict[str, Any] | None) -> str | Keep | None:
        """``"metadata": {}`` replaces the user's metadata with ``{}``."""
        return "{}" if metadata == {} else KEEP

    # -- sessions ----------------------------------------------------------------------------

    def check_new_session(self, session_id: str, user_id: str | None) -> None:
        """CE looks the user up first (400 ``user not found``); no id is a 400."""
        if user_id:
            try:
                self.store.get_user(user_id)
            except NotFoundError:
                raise HTTPError(400, "user not found") from None
        if not session_id:
            raise bad_request("sessionID cannot be empty")

    def update_without_metadata(self, session_id: str) -> Session:
        """The metadata is kept; only ``updated_at`` moves."""
        if not touch_session(self.store, session_id):
            raise not_found()
        return self.store.get_session(session_id)

    def update_with_empty_metadata(self, session_id: str) -> Session:
        """``"metadata": {}`` replaces the metadata with ``{}``."""
        return self.store.replace_session_metadata(session_id, {})

    async def delete_memory(self, request: Request) -> Response:
        """CE purges what it soft-deletes at once: the id is free again, the messages gone."""
        session_id = path_id(request, "session_id")
        self.store.delete_session(session_id)
        self.store.purge_deleted_session(session_id)
        return self.ok()

    # -- memory ------------------------------------------------------------------------------

    def add_batch(self, session_id: str, parsed: list[MessageIn], absent: bool) -> Response:
        """CE's checks, in its order, and the write.

        Over the count limit CE writes an error but carries on: later errors and the final OK
        are appended to the same 400 response, and the messages are stored.
        """
        chunks: list[str] = []
        status = 0

        def fail(code: int, text: str) -> None:
            nonlocal status
            status = status or code
            chunks.append(encode({"message": text}))

        def answer() -> Response:
            return Response("".join(chunks), status, media_type=JSON_TYPE)

        if len(parsed) > MAX_MESSAGES_PER_REQUEST:
            fail(
                400,
                f"max messages per memory of {MAX_MESSAGES_PER_REQUEST} exceeded. reduce the "
                "number of messages in your request",
            )
        if any(len(m.content) > MAX_CONTENT_CHARS for m in parsed):
            fail(400, f"message content exceeds {MAX_CONTENT_CHARS} characters")
            return answer()
        if any(not m.role_type for m in parsed):
            fail(400, "messages are required to have a RoleType")
            return answer()
        if absent:
            fail(
                400,
                "Key: 'AddMemoryRequest.AddMemoryRequestCommon.Messages' Error:Field validation "
                "for 'Messages' failed on the 'required' tag",
            )
            return answer()
        bad = next((m.role_type for m in parsed if m.role_type not in ROLE_TYPES), None)
        messages = [m.model(m.role_type) for m in parsed] if bad is None else []
        self.ensure_session(session_id)
        if bad is not None:
            fail(
                500,
                "failed to create messages ERROR: invalid input value for enum role_type_enum: "
                f'"{bad}" (SQLSTATE=22P02)',
            )
            return answer()
        try:
            self.store_messages(session_id, messages)
        except AlreadyExistsError:
            fail(400, "bad request: message_uuid already exists")
            return answer()
        fail(201, "OK")
        return answer()

    # -- ordered listings --------------------------------------------------------------------

    async def list_users_ordered(self, request: Request) -> Response:
        """``GET /users-ordered?pageNumber=&pageSize=``: newest first (``ORDER BY id DESC``)."""
        offset, limit = _page_params(request)
        users = self.store.list_users()
        users.reverse()
        return self.json(_page(users, offset, limit, "users", self.user_json, "row_count"))

    async def list_sessions_ordered(self, request: Request) -> Response:
        """``GET /sessions-ordered?pageNumber=&pageSize=&order_by=&asc=``."""
        # CE reads pageNumber / pageSize here too: zep-python 2.0.2 sends page_number /
        # page_size, which the server ignores (every session on one page).
        offset, limit = _page_params(request)
        order_by = request.query_params.get("order_by", "").strip()
        if order_by and order_by not in _SESSION_ORDERS:
            raise HTTPError(400, "invalid value for order_by")
        raw_asc = request.query_params.get("asc", "").strip()
        if raw_asc and raw_asc not in _BOOLS:
            raise HTTPError(400, f'strconv.ParseBool: parsing "{raw_asc}": invalid syntax')
        asc = _BOOLS.get(raw_asc, False)
        sessions = _ordered(self.store.list_sessions(), order_by or "id", asc)
        return self.json(
            _page(sessions, offset, limit, "sessions", self.session_json, "response_count")
        )


def _page_params(request: Request) -> tuple[int, int]:
    """CE's ``pageNumber`` / ``pageSize`` as ``(offset, limit)``.

    The query is ``LIMIT size OFFSET (number - 1) * size``; bun writes each clause only when its
    value is positive: no size (or one below 1) is everything, a number below 1 the first page.
    """
    page = query_int(request, "pageNumber", trim=True)
    size = query_int(request, "pageSize", trim=True)
    return max((page - 1) * size, 0), size


def _page(
    items: Sequence[_T],
    offset: int,
    limit: int,
    key: str,
    to_json: Callable[[_T], dict[str, Any]],
    count_key: str,
) -> dict[str, Any]:
    """``items[offset:][:limit]`` (``limit`` below 1: no limit) as CE's ordered listings answer.

    ``{key: [...], "total_count": <all items>, count_key: <items on this page>}``.
    """
    chosen = items[offset:]
    if limit > 0:
        chosen = chosen[:limit]
    return {key: [to_json(x) for x in chosen], "total_count": len(items), count_key: len(chosen)}


def _ordered(sessions: list[Session], order_by: str, asc: bool) -> list[Session]:
    """``ORDER BY <order_by> ASC|DESC`` as Postgres does it (NULLs sort as the largest)."""

    def key(s: Session) -> tuple[Any, ...]:
        if order_by == "id":
            return (0, s.id or 0)
        value: Any = getattr(s, order_by)
        if value is None:
            return (1, "", s.id or 0)
        return (0, value, s.id or 0)

    return sorted(sessions, key=key, reverse=not asc)
