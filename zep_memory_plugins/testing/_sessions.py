"""Zep's user / session / memory API, as open-source Zep 0.27 and Zep CE 1.x both have it.

:class:`SessionApi` holds the handlers the two generations share (the same routes, the same
store calls); each generation's module overrides what its server does differently: the JSON
shapes, the checks, the answers to a write, the errors.
"""

from __future__ import annotations

import contextlib
import uuid as _uuid
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._errors import AlreadyExistsError, NotFoundError
from .._models import CreateUserRequest, Message, Session, UpdateUserRequest, User
from ._generation import Generation
from ._http import (
    GO_ZERO_TIME,
    HTTPError,
    MessageIn,
    bad_request,
    json_body,
    metadata_field,
    not_found,
    parse_messages,
    path_id,
    pick,
    query_int,
    query_int_or,
    str_field,
    str_uuid,
    ts,
)

__all__ = ["SessionApi"]

_T = TypeVar("_T")


class SessionApi(Generation):
    """The users, sessions and memory routes of Zep's session API (``/api/v1``, ``/api/v2``)."""

    #: The path of the users collection (``/user`` on v0.27, ``/users`` on CE).
    users: ClassVar[str] = "/users"
    #: Whether query integers are trimmed of spaces before parsing (CE does, v0.27 not).
    trims_query: ClassVar[bool] = False

    def routes(self) -> list[Route]:
        """The routes both generations have, spelled alike but for :attr:`users`."""
        r = self.route
        users = self.users
        return [
            r(users, self.add_user, ["POST"]),
            r(users, self.list_users_cursor, ["GET"]),
            r(f"{users}/{{user_id}}", self.get_user, ["GET"]),
            r(f"{users}/{{user_id}}", self.update_user, ["PATCH"]),
            r(f"{users}/{{user_id}}", self.delete_user, ["DELETE"]),
            r(f"{users}/{{user_id}}/sessions", self.user_sessions, ["GET"]),
            r("/sessions", self.add_session, ["POST"]),
            r("/sessions", self.list_sessions_cursor, ["GET"]),
            r("/sessions/{session_id}", self.get_session, ["GET"]),
            r("/sessions/{session_id}", self.update_session, ["PATCH"]),
            r("/sessions/{session_id}/memory", self.add_memory, ["POST"]),
            r("/sessions/{session_id}/memory", self.get_memory, ["GET"]),
            r("/sessions/{session_id}/memory", self.delete_memory, ["DELETE"]),
            r("/sessions/{session_id}/messages", self.get_messages, ["GET"]),
            r("/sessions/{session_id}/messages/{uuid}", self.get_message, ["GET"]),
            r("/sessions/{session_id}/messages/{uuid}", self.update_message, ["PATCH"]),
        ]

    def ok(self, status: int = 200) -> Response:
        """The answer to a write that has no object to return."""
        raise NotImplementedError

    # -- JSON shapes -------------------------------------------------------------------------

    def user_json(self, user: User, *, count_sessions: bool = True) -> dict[str, Any]:
        """A user as v0.27 writes it (Go's ``omitempty`` on the optional fields)."""
        return pick(
            [
                ("uuid", str_uuid(user.uuid), False),
                ("id", user.id or 0, False),
                ("created_at", ts(user.created_at), False),
                ("updated_at", ts(user.updated_at), False),
                ("deleted_at", None, False),
                ("user_id", user.user_id, False),
                ("email", user.email, True),
                ("first_name", user.first_name, True),
                ("last_name", user.last_name, True),
                ("metadata", user.metadata, True),
            ]
        )

    def session_json(self, session: Session, *, with_id: bool = True) -> dict[str, Any]:
        """A session as v0.27 writes it (``metadata`` and ``user_id`` null when unset)."""
        return {
            "uuid": str_uuid(session.uuid),
            "id": (session.id or 0) if with_id else 0,
            "created_at": ts(session.created_at),
            "updated_at": ts(session.updated_at),
            "deleted_at": None,
            "session_id": session.session_id,
            "metadata": session.metadata,
            "user_id": session.user_id,
        }

    def message_json(self, message: Message) -> dict[str, Any]:
        """A message as v0.27 writes it."""
        return pick(
            [
                ("uuid", str_uuid(message.uuid), False),
                ("created_at", ts(message.created_at), False),
                # Both servers leave a message's updated_at at Go's zero time when reading back.
                ("updated_at", GO_ZERO_TIME, False),
                ("role", message.role, False),
                ("content", message.content, False),
                ("metadata", message.metadata, True),
                ("token_count", 0, False),
            ]
        )

    # -- users -------------------------------------------------------------------------------

    async def add_user(self, request: Request) -> Response:
        """``POST {users}``: 201 and the user; a duplicate is a 400."""
        body = await json_body(request)
        user_id = str_field(body, "user_id")
        if not user_id:
            raise bad_request("UserID cannot be empty")
        create = CreateUserRequest(
            user_id=user_id,
            email=str_field(body, "email") or None,
            first_name=str_field(body, "first_name") or None,
            last_name=str_field(body, "last_name") or None,
            metadata=metadata_field(body),
        )
        try:
            user = self.store.add_user(create)
        except AlreadyExistsError as exc:
            raise bad_request(exc.message) from None
        return self.json(self.user_json(user, count_sessions=False), 201)

    async def get_user(self, request: Request) -> Response:
        """``GET {users}/{id}``."""
        return self.json(self.user_json(self.store.get_user(path_id(request, "user_id"))))

    def check_user_update(self, metadata: dict[str, Any] | None) -> None:
        """Refuse a user update before the user is looked up (nothing refused by default)."""

    async def update_user(self, request: Request) -> Response:
        """``PATCH {users}/{id}``: the given fields; metadata deep-merged."""
        user_id = path_id(request, "user_id")
        body = await json_body(request)
        metadata = metadata_field(body)
        self.check_user_update(metadata)
        update = UpdateUserRequest(
            user_id=user_id,
            email=str_field(body, "email") or None,
            first_name=str_field(body, "first_name") or None,
            last_name=str_field(body, "last_name") or None,
            metadata=metadata or None,
        )
        return self.json(self.user_json(self.store.update_user(update)))

    async def delete_user(self, request: Request) -> Response:
        """``DELETE {users}/{id}``: the user, their sessions and messages, for good."""
        self.store.delete_user(path_id(request, "user_id"))
        return self.ok()

    async def user_sessions(self, request: Request) -> Response:
        """``GET {users}/{id}/sessions``: a flat list of the user's live sessions."""
        # Both servers join sessions to users: an unknown user has no sessions (200, []), and
        # the integer id is not selected (0).
        try:
            sessions = self.store.get_user_sessions(path_id(request, "user_id"))
        except NotFoundError:
            sessions = []
        return self.json([self.session_json(s, with_id=False) for s in sessions])

    async def list_users_cursor(self, request: Request) -> Response:
        """``GET {users}?limit=&cursor=``: users with ``id > cursor``, by id."""
        return self.cursor_listing(request, self.store.list_users, self.user_json)

    def cursor_listing(
        self,
        request: Request,
        read: Callable[[int | None, int], list[_T]],
        to_json: Callable[[_T], dict[str, Any]],
    ) -> Response:
        """A cursor listing: ``read(limit, cursor)``, ``limit`` 0 or absent meaning all."""
        limit = query_int(request, "limit", trim=self.trims_query)
        cursor = query_int(request, "cursor", trim=self.trims_query)
        if limit < 0:
            raise HTTPError(500, "ERROR: LIMIT must not be negative (SQLSTATE=2201W)")
        return self.json([to_json(x) for x in read(limit or None, cursor)])

    # -- sessions ----------------------------------------------------------------------------

    def check_new_session(self, session_id: str, user_id: str | None) -> None:
        """Refuse a session the generation's server refuses before trying to store it."""
        raise NotImplementedError

    async def add_session(self, request: Request) -> Response:
        """``POST /sessions``: 201 and the session."""
        body = await json_body(request)
        session_id = str_field(body, "session_id") or ""
        user_id = str_field(body, "user_id")
        metadata = metadata_field(body)
        self.check_new_session(session_id, user_id)
        if user_id == "":
            raise bad_request("user does not exist with user_id: ")
        session = Session(session_id=session_id, user_id=user_id, metadata=metadata)
        try:
            stored = self.store.add_session(session)
        except (AlreadyExistsError, NotFoundError) as exc:
            raise bad_request(exc.message) from None
        if metadata and "system" in metadata:
            # Both servers store a new session's metadata as given; only an update drops a
            # top-level "system" key (the embedded store drops it on creation too).
            stored = self.store.replace_session_metadata(session_id, metadata)
        return self.json(self.session_json(stored), 201)

    async def get_session(self, request: Request) -> Response:
        """``GET /sessions/{id}``: a live session."""
        session = self.store.get_session(path_id(request, "session_id"))
        return self.json(self.session_json(session))

    async def update_session(self, request: Request) -> Response:
        """``PATCH /sessions/{id}``."""
        raise NotImplementedError

    async def list_sessions_cursor(self, request: Request) -> Response:
        """``GET /sessions?limit=&cursor=``: live sessions with ``id > cursor``, by id."""
        return self.cursor_listing(request, self.store.list_sessions, self.session_json)

    # -- memory and messages -----------------------------------------------------------------

    async def add_memory(self, request: Request) -> Response:
        """``POST /sessions/{id}/memory``: append a batch of messages."""
        session_id = path_id(request, "session_id")
        parsed, absent = await parse_messages(request)
        return self.add_batch(session_id, parsed, absent)

    def add_batch(self, session_id: str, parsed: list[MessageIn], absent: bool) -> Response:
        """Store one parsed batch (``absent``: the body had no ``messages``)."""
        raise NotImplementedError

    def ensure_session(self, session_id: str) -> None:
        """Both servers create an unknown session before inserting its messages (no rollback)."""
        try:
            self.store.get_session(session_id)
        except NotFoundError:
            # A soft-deleted session (v1) already exists: add_messages revives it.
            with contextlib.suppress(AlreadyExistsError):
                self.store.add_session(Session(session_id=session_id))

    def negative_lastn(self) -> HTTPError:
        """The error for ``lastn`` < 0."""
        raise NotImplementedError

    def memory_json(self, messages: list[Message]) -> dict[str, Any]:
        """The body of a memory read."""
        raise NotImplementedError

    async def get_memory(self, request: Request) -> Response:
        """``GET /sessions/{id}/memory?lastn=``: the last messages, oldest first."""
        session_id = path_id(request, "session_id")
        lastn = query_int(request, "lastn", trim=self.trims_query)
        if lastn < 0:
            raise self.negative_lastn()
        messages = self.store.get_messages(session_id, lastn=lastn or self.window)
        return self.json(self.memory_json(messages))

    async def delete_memory(self, request: Request) -> Response:
        """``DELETE /sessions/{id}/memory``: soft-delete the session and its messages."""
        self.store.delete_session(path_id(request, "session_id"))
        return self.ok()

    async def get_messages(self, request: Request) -> Response:
        """``GET /sessions/{id}/messages?limit=&cursor=``: a page (``cursor`` is 1-based)."""
        session_id = path_id(request, "session_id")
        # Both servers: a limit or cursor that does not parse means 100 / page 1; none means
        # 0, i.e. no LIMIT and OFFSET (cursor - 1) * limit, which Postgres refuses if negative.
        limit = query_int_or(request, "limit", 100)
        page = query_int_or(request, "cursor", 1)
        if limit < 0:
            raise HTTPError(
                500, "failed to get messages ERROR: LIMIT must not be negative (SQLSTATE=2201W)"
            )
        if limit and page < 1:
            raise HTTPError(
                500, "failed to get messages ERROR: OFFSET must not be negative (SQLSTATE=2201X)"
            )
        if not limit:
            messages = self.store.get_messages(session_id)
            total = len(messages)
        else:
            result = self.store.get_messages_page(session_id, limit=limit, page=page)
            messages, total = result.messages, result.total_count
        return self.json(
            {
                "messages": [self.message_json(m) for m in messages],
                "total_count": total if messages else 0,
                "row_count": len(messages),
            }
        )

    def message_uuid(self, request: Request) -> _uuid.UUID:
        """The message uuid of the path."""
        raw = request.path_params["uuid"]
        try:
            return _uuid.UUID(raw)
        except ValueError:
            raise HTTPError(400, f"unable to parse UUID: invalid UUID format: {raw!r}") from None

    def unknown_message(self) -> HTTPError:
        """The error for a message uuid the session does not have."""
        return not_found()

    async def get_message(self, request: Request) -> Response:
        """``GET /sessions/{id}/messages/{uuid}``: one message."""
        session_id = path_id(request, "session_id")
        wanted = self.message_uuid(request)
        for message in self.store.get_messages(session_id):
            if message.uuid == wanted:
                return self.json(self.message_json(message))
        raise self.unknown_message()

    async def update_message(self, request: Request) -> Response:
        """``PATCH /sessions/{id}/messages/{uuid}``: deep-merge a message's metadata."""
        session_id = path_id(request, "session_id")
        wanted = self.message_uuid(request)
        body = await json_body(request)
        metadata = metadata_field(body) or {}
        message = self.store.update_message_metadata(session_id, wanted, metadata)
        return self.json(self.message_json(message))
