"""What a wire generation is: the :class:`Call` it builds for each operation, and its limits.

A generation (``/api/v1`` of open-source Zep, ``/api/v2`` of Zep Community Edition, ...) is one
subclass of :class:`Wire` in a file of its own. It only says how each operation is spelled on
its wire and what its server's limits and soft-delete semantics are; the logic of each
operation (:mod:`._plans`) and the driving of requests (:mod:`._transport`) are shared.
Adding a generation is one new file registered in :data:`GENERATIONS`.
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..._models import CreateUserRequest, Message, Session

__all__ = [
    "GENERATIONS",
    "Call",
    "Wire",
    "cursor_listing",
    "session_body",
    "user_body",
    "wire_class",
]


@dataclass
class Call:
    """One request: a raw HTTP request, or (``sdk`` set) a method of the generation's SDK.

    ``route`` is the verb and the endpoint without ids (``"POST /sessions"``): it names the
    request in errors and logs, and gives the HTTP method. ``path`` is relative to the server's
    root. ``parse`` turns the decoded JSON (or the SDK's result) into the operation's value;
    ``recover`` reads a successful answer that the SDK itself could not parse. ``raw`` hands
    back the :class:`httpx.Response` whatever its status (the generation probe). ``ambiguous``
    is set by the driver when an earlier attempt failed in a way that may have been carried out.
    ``headers`` go with every attempt (Zep Cloud's ``Idempotency-Key``: the same on a retry).
    """

    route: str
    path: str = ""
    params: dict[str, Any] | None = None
    json: Any = None
    sdk: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    parse: Callable[[Any], Any] | None = None
    recover: Callable[[Any], Any] | None = None
    what: str = ""
    raw: bool = False
    ambiguous: bool = False
    headers: dict[str, str] | None = None

    @property
    def method(self) -> str:
        """The HTTP method, the first word of :attr:`route`."""
        return self.route.split(" ", 1)[0]

    @property
    def resend_if_unknown(self) -> bool:
        """Whether the request may be sent again when an attempt's outcome is unknown.

        Not for ``PATCH`` and ``DELETE`` (a timeout, a lost connection): a delete or a metadata
        merge that lands late could undo a later acknowledged write. Adds are safe to resend,
        as the plans make them idempotent; so is any request with an ``Idempotency-Key`` (Zep
        Cloud v4 carries it out once, however many copies arrive).
        """
        if self.headers and "Idempotency-Key" in self.headers:
            return True
        return self.method not in ("PATCH", "DELETE")


def user_body(request: CreateUserRequest) -> dict[str, Any]:
    """A new user's fields as both generations send them (unset ones left out)."""
    return {k: v for k, v in request.__dict__.items() if v is not None}


def session_body(session: Session) -> dict[str, Any]:
    """A new session's fields as both generations send them (unset ones left out)."""
    body = {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "metadata": session.metadata,
    }
    return {k: v for k, v in body.items() if v is not None}


def cursor_listing(route: str, path: str, limit: int, cursor: int, what: str = "") -> Call:
    """A raw ``GET`` of a JSON list: ``id > cursor`` listings, a user's sessions."""
    from ._convert import listing

    params = {"limit": limit, "cursor": cursor} if limit else None
    return Call(route, path, params=params, parse=listing, what=what)


class Wire:
    """One wire generation of the Zep API (subclassed once per generation)."""

    #: ``"v1"``, ``"v2"``: the value of ``api_version=`` / ``ZEP_API_VERSION``.
    version: ClassVar[str]
    #: The backend's name in reprs and logs.
    name: ClassVar[str]
    #: What users know the server as, for messages.
    server: ClassVar[str]
    #: Where the API lives under the server's root.
    api_path: ClassVar[str]
    #: Most messages one add request may carry (``None``: no limit but the body size).
    max_batch: ClassVar[int | None] = None
    #: Longest message content the server accepts, in characters (``None``: no limit).
    max_content: ClassVar[int | None] = None
    #: Whether writing to (or updating) a soft-deleted session revives it with its owner and
    #: metadata, and adding a session over a deleted one is refused (``/api/v1``). Otherwise
    #: (Community Edition) a deleted session is gone and its id is free for a new one.
    revives_deleted_sessions: ClassVar[bool] = True
    #: Whether the server requires an API key on every route.
    requires_key: ClassVar[bool] = False
    #: Whether calls go through an SDK client (see :meth:`new_sdk`).
    uses_sdk: ClassVar[bool] = False
    #: The path segment of the users collection (``user`` on ``/api/v1``, ``users`` after).
    users: ClassVar[str] = "users"
    #: Whether the generation is Zep Cloud's threads API (its operations are the plans of
    #: :mod:`._cloud`), rather than Zep's sessions API (:mod:`._plans`).
    cloud: ClassVar[bool] = False

    # -- raw routes both generations have, spelled alike ------------------------------------

    def user_sessions(self, user_id: str) -> Call:
        """``GET /users/{id}/sessions``: a user's sessions (a flat list on every server)."""
        route = f"GET /{self.users}/{{id}}/sessions"
        path = f"{self.api_path}/{self.users}/{user_id}/sessions"
        return cursor_listing(route, path, 0, 0, what=f"user {user_id}")

    def list_users(self, limit: int, cursor: int) -> Call:
        """``GET /users?limit=&cursor=``: users with ``id > cursor``, by id."""
        return cursor_listing(f"GET /{self.users}", f"{self.api_path}/{self.users}", limit, cursor)

    def list_sessions(self, limit: int, cursor: int) -> Call:
        """``GET /sessions?limit=&cursor=``: sessions with ``id > cursor``, by id."""
        return cursor_listing("GET /sessions", f"{self.api_path}/sessions", limit, cursor)

    # -- routes each generation spells its own way --------------------------------------------

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """Headers that authenticate a raw request."""
        raise NotImplementedError

    def new_sdk(self, base_url: str, api_key: str | None, http: Any, timeout: float) -> Any:
        """The SDK client on ``http`` (an httpx client of ours), if the generation uses one."""
        raise NotImplementedError

    def async_sdk_method(self, path: str) -> str:
        """The async SDK method standing for the sync ``path``."""
        return path

    # The calls each generation builds, one request each (its module names the route):
    #: create a user
    add_user: Callable[[CreateUserRequest], Call]
    #: read a user
    get_user: Callable[[str], Call]
    #: change the given fields of a user (metadata deep-merged)
    update_user: Callable[[str, Mapping[str, Any]], Call]
    #: delete a user with everything of theirs
    delete_user: Callable[[str], Call]
    #: create a session
    add_session: Callable[[Session], Call]
    #: read a live session
    get_session: Callable[[str], Call]
    #: deep-merge non-empty metadata into a session
    update_session: Callable[[str, Mapping[str, Any]], Call]
    #: soft-delete a session and its messages
    delete_session: Callable[[str], Call]
    #: append one batch (at most :attr:`max_batch`) of messages that all carry a uuid
    add_messages: Callable[[str, Sequence[Message]], Call]
    #: the last ``lastn`` messages, oldest first (result: wire messages)
    last_messages: Callable[[str, int], Call]
    #: page ``page`` (1-based) of ``limit`` messages (result: messages, total count)
    messages_page: Callable[[str, int, int], Call]
    #: deep-merge metadata into one message
    update_message: Callable[[str, _uuid.UUID, Mapping[str, Any]], Call]

    def unpack_metadata(self, metadata: Any) -> tuple[Any, str | None]:
        """A message's metadata as the caller stored it, and a role type carried in it."""
        return metadata, None


#: The generations, by ``api_version``: module and class, imported on first use.
GENERATIONS: dict[str, tuple[str, str]] = {
    "v1": ("._v1", "V1Wire"),
    "v2": ("._v2", "V2Wire"),
    "v3": ("._v3", "V3Wire"),
    "v4": ("._v4", "V4Wire"),
}


def wire_class(version: str) -> type[Wire]:
    """The :class:`Wire` of a generation (``"v1"`` or ``"v2"``)."""
    import importlib

    module, name = GENERATIONS[version]
    cls: type[Wire] = getattr(importlib.import_module(module, __package__), name)
    return cls
