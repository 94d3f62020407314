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
from ._go import echo_metadata, parse_uuid, stored_json
from ._http import (
    GO_ZERO_TIME,
    TEXT_TYPE,
    HTTPError,
    MessageIn,
    bad_request,
    construct,
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
    text_field,
    ts,
)
from ._writes import KEEP, Keep, replace_user_metadata, touch_session

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

    def user_json(
        self, user: User, *, count_sessions: bool = True, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A user as v0.27 writes it (Go's ``omitempty`` on the optional fields).

        ``metadata``: what the request that created it sent (a create echoes it).
        """
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
                ("metadata", echo_metadata(metadata, user.metadata), True),
            ]
        )

    def session_json(
        self, session: Session, *, with_id: bool = True, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A session as v0.27 writes it (``metadata`` and ``user_id`` null when unset).

        ``metadata``: what the request that wrote it sent (a create or update echoes it).
        """
        return {
            "uuid": str_uuid(session.uuid),
            "id": (session.id or 0) if with_id else 0,
            "created_at": ts(session.created_at),
            "updated_at": ts(session.updated_at),
            "deleted_at": None,
            "session_id": session.session_id,
            "metadata": echo_metadata(metadata, session.metadata),
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
        body = await json_body(request, "models.CreateUserRequest")
        if not str_field(body, "user_id"):
            raise bad_request("UserID cannot be empty")
        metadata = metadata_field(body)
        create = construct(
            CreateUserRequest,
            user_id=text_field(body, "user_id") or "",
            email=text_field(body, "email"),
            first_name=text_field(body, "first_name"),
            last_name=text_field(body, "last_name"),
            metadata=None if metadata is None else stored_json(metadata),
        )
        try:
            user = self.store.add_user(create)
        except AlreadyExistsError as exc:
            raise bad_request(exc.message) from None
        return self.json(self.user_json(user, count_sessions=False, metadata=metadata), 201)

    async def get_user(self, request: Request) -> Response:
        """``GET {users}/{id}``."""
        return self.json(self.user_json(self.store.get_user(path_id(request, "user_id"))))

    async def update_user(self, request: Request) -> Response:
        """``PATCH {users}/{id}``: the given non-empty fields; the metadata deep-merged.

        ``updated_at`` moves even if nothing changed, as on both servers.
        """
        user_id = path_id(request, "user_id")
        body = await json_body(request, "models.UpdateUserRequest")
        metadata = metadata_field(body)
        self.check_user_update(metadata)
        update = construct(
            UpdateUserRequest,
            user_id=user_id,
            email=text_field(body, "email"),
            first_name=text_field(body, "first_name"),
            last_name=text_field(body, "last_name"),
            metadata=stored_json(metadata) if metadata else None,
        )
        self.store.update_user(update)
        replace_user_metadata(self.store, user_id, self.user_metadata_after(metadata))
        return self.json(self.user_json(self.store.get_user(user_id)))

    def check_user_update(self, metadata: dict[str, Any] | None) -> None:
        """Refuse a user update before the user is looked up (nothing refused by default)."""

    def user_metadata_after(self, metadata: dict[str, Any] | None) -> str | Keep | None:
        """What a user update with ``metadata`` leaves in the column, beyond the merge."""
        return KEEP

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
        """A cursor listing: ``read(limit, cursor)``; a ``limit`` below 1 means all.

        bun writes no ``LIMIT`` clause for a value below 1.
        """
        limit = query_int(request, "limit", trim=self.trims_query)
        cursor = query_int(request, "cursor", trim=self.trims_query)
        return self.json([to_json(x) for x in read(limit if limit > 0 else None, cursor)])

    # -- sessions ----------------------------------------------------------------------------

    def check_new_session(self, session_id: str, user_id: str | None) -> None:
        """Refuse a session the generation's server refuses before trying to store it."""
        raise NotImplementedError

    async def add_session(self, request: Request) -> Response:
        """``POST /sessions``: 201 and the session."""
        body = await json_body(request, "models.CreateSessionRequest")
        session_id = text_field(body, "session_id") or ""
        user_id = str_field(body, "user_id")
        if user_id is not None:
            user_id = text_field(body, "user_id") or ""
        metadata = metadata_field(body)
        self.check_new_session(str_field(body, "session_id") or "", user_id)
        if user_id == "":
            raise bad_request("user does not exist with user_id: ")
        stored_md = None if metadata is None else stored_json(metadata)
        session = construct(Session, session_id=session_id, user_id=user_id, metadata=stored_md)
        try:
            stored = self.store.add_session(session)
        except (AlreadyExistsError, NotFoundError) as exc:
            raise bad_request(exc.message) from None
        if stored_md and "system" in stored_md and stored.metadata != stored_md:
            # Both servers store a new session's metadata as given; only an update drops a
            # top-level "system" key.
            stored = self.store.replace_session_metadata(session_id, stored_md)
        return self.json(self.session_json(stored, metadata=metadata), 201)

    async def get_session(self, request: Request) -> Response:
        """``GET /sessions/{id}``: a live session."""
        session = self.store.get_session(path_id(request, "session_id"))
        return self.json(self.session_json(session))

    async def update_session(self, request: Request) -> Response:
        """``PATCH /sessions/{id}``: deep-merge (a top-level ``"system"`` ignored).

        Without metadata, or with ``{}``, each generation does its own thing.
        """
        session_id = path_id(request, "session_id")
        metadata = metadata_field(await json_body(request, "models.UpdateSessionRequest"))
        if metadata is None:
            return self.json(self.session_json(self.update_without_metadata(session_id)))
        if metadata == {}:
            stored = self.update_with_empty_metadata(session_id)
        else:
            stored = self.store.update_session(session_id, stored_json(metadata))
        sent = {k: v for k, v in metadata.items() if k != "system"}
        return self.json(self.session_json(stored, metadata=sent))

    def update_without_metadata(self, session_id: str) -> Session:
        """A session PATCH without metadata (absent or null)."""
        raise NotImplementedError

    def update_with_empty_metadata(self, session_id: str) -> Session:
        """A session PATCH with ``"metadata": {}``."""
        raise NotImplementedError

    async def list_sessions_cursor(self, request: Request) -> Response:
        """``GET /sessions?limit=&cursor=``: live sessions with ``id > cursor``, by id."""
        return self.cursor_listing(request, self.store.list_sessions, self.session_json)

    # -- memory and messages -----------------------------------------------------------------

    #: The Go type of a ``POST .../memory`` body, as its decoding errors name it.
    memory_struct: ClassVar[str] = "Memory"

    async def add_memory(self, request: Request) -> Response:
        """``POST /sessions/{id}/memory``: append a batch of messages."""
        session_id = path_id(request, "session_id")
        parsed, absent = await parse_messages(request, self.memory_struct)
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
                self.store.add_session(construct(Session, session_id=session_id))

    def store_messages(
        self, session_id: str, messages: list[Message], *, revive: bool = False
    ) -> None:
        """Insert a batch; the session's ``updated_at`` moves, as on both servers.

        ``revive``: a deleted session is undeleted, even by an empty batch.
        """
        self.store.add_messages(session_id, messages)
        touch_session(self.store, session_id, revive=revive)

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
        # Both servers: a limit or cursor that does not parse means 100 / page 1; none means 0.
        # The query is LIMIT limit OFFSET (cursor - 1) * limit, and bun writes each clause
        # only when its value is positive.
        limit = query_int_or(request, "limit", 100, trim=self.trims_query)
        page = query_int_or(request, "cursor", 1, trim=self.trims_query)
        offset = (page - 1) * limit
        if limit > 0 and offset >= 0:
            result = self.store.get_messages_page(session_id, limit=limit, page=page)
            messages, total = result.messages, result.total_count
        else:
            everything = self.store.get_messages(session_id)
            messages, total = everything[max(offset, 0) :], len(everything)
            if limit > 0:
                messages = messages[:limit]
        return self.json(
            {
                "messages": [self.message_json(m) for m in messages],
                "total_count": total if messages else 0,
                "row_count": len(messages),
            }
        )

    def message_uuid(self, request: Request, *then: str) -> _uuid.UUID:
        """The message uuid of the path (``uuid.Parse``).

        ``then``: what the handler writes after the parse error, as it carries on with the nil
        uuid.
        """
        raw = request.path_params["uuid"]
        try:
            return parse_uuid(raw)
        except ValueError as exc:
            raise HTTPError(400, f"{self.uuid_error_prefix}{exc}", *then) from None

    #: What precedes ``uuid.Parse``'s error for a bad message uuid in the path.
    uuid_error_prefix: ClassVar[str] = "unable to parse UUID: "

    def unknown_message(self) -> Response:
        """The answer to a GET of a message uuid the session does not have."""
        raise not_found()

    async def get_message(self, request: Request) -> Response:
        """``GET /sessions/{id}/messages/{uuid}``: one message."""
        session_id = path_id(request, "session_id")
        wanted = self.message_uuid(request, *self.bad_uuid_get)
        for message in self.store.get_messages(session_id):
            if message.uuid == wanted:
                return self.json(self.message_json(message))
        return self.unknown_message()

    #: What a GET / a PATCH handler writes after a bad message uuid (it carries on).
    bad_uuid_get: ClassVar[tuple[str, ...]] = ()
    bad_uuid_patch: ClassVar[tuple[str, ...]] = ()
    #: The Go type of a message PATCH body.
    message_update_struct: ClassVar[str] = "models.Message"
    #: Whether a message PATCH body Go cannot decode is answered in plain text (CE's handler
    #: writes it with ``http.Error``) rather than in the generation's error format.
    plain_message_update_errors: ClassVar[bool] = False

    async def update_message(self, request: Request) -> Response:
        """``PATCH /sessions/{id}/messages/{uuid}``: deep-merge a message's metadata."""
        session_id = path_id(request, "session_id")
        wanted = self.message_uuid(request, *self.bad_uuid_patch)
        try:
            metadata = metadata_field(await json_body(request, self.message_update_struct)) or {}
        except HTTPError as exc:
            if not self.plain_message_update_errors:
                raise
            return Response(f"{exc.text}\n", exc.status, media_type=TEXT_TYPE)
        message = self.store.update_message_metadata(session_id, wanted, stored_json(metadata))
        return self.json(self.message_json(message))
