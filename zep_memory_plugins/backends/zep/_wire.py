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

__all__ = ["Call", "GENERATIONS", "Wire", "wire_class"]


@dataclass
class Call:
    """One request: a raw HTTP request, or (``sdk`` set) a method of the generation's SDK.

    ``route`` names the endpoint without ids (``"POST /sessions"``) for error classification
    and logs; ``path`` is relative to the server's root. ``parse`` turns the decoded JSON (or
    the SDK's result) into the operation's value; ``recover`` reads a successful answer that
    the SDK itself could not parse. ``raw`` hands back the :class:`httpx.Response` whatever its
    status (the generation probe). ``resend_if_unknown`` is false for a request that must not
    be sent again when an attempt's outcome is unknown (timeout, lost connection): a delete or
    a metadata merge that lands late could undo a later acknowledged write. ``ambiguous`` is set
    by the driver when an earlier attempt failed in a way that may have been carried out.
    """

    route: str
    method: str = "GET"
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
    resend_if_unknown: bool = True
    ambiguous: bool = False


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

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """Headers that authenticate a raw request."""
        raise NotImplementedError

    def new_sdk(self, base_url: str, api_key: str | None, http: Any, timeout: float) -> Any:
        """The SDK client on ``http`` (an httpx client of ours), if the generation uses one."""
        raise NotImplementedError

    def async_sdk_method(self, path: str) -> str:
        """The async SDK method standing for the sync ``path``."""
        return path

    # users
    def add_user(self, request: CreateUserRequest) -> Call:
        """Create a user."""
        raise NotImplementedError

    def get_user(self, user_id: str) -> Call:
        """Read a user."""
        raise NotImplementedError

    def update_user(self, user_id: str, fields: Mapping[str, Any]) -> Call:
        """Change the given fields of a user (metadata deep-merged)."""
        raise NotImplementedError

    def delete_user(self, user_id: str) -> Call:
        """Delete a user with everything of theirs."""
        raise NotImplementedError

    def user_sessions(self, user_id: str) -> Call:
        """A user's live sessions (result: a list of wire sessions)."""
        raise NotImplementedError

    def list_users(self, limit: int, cursor: int) -> Call:
        """Users with ``id > cursor``, ``limit`` at most, by id (result: wire users)."""
        raise NotImplementedError

    # sessions
    def add_session(self, session: Session) -> Call:
        """Create a session."""
        raise NotImplementedError

    def get_session(self, session_id: str) -> Call:
        """Read a live session."""
        raise NotImplementedError

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Call:
        """Deep-merge non-empty metadata into a session."""
        raise NotImplementedError

    def delete_session(self, session_id: str) -> Call:
        """Soft-delete a session and its messages."""
        raise NotImplementedError

    def list_sessions(self, limit: int, cursor: int) -> Call:
        """Sessions with ``id > cursor``, ``limit`` at most, by id (result: wire sessions)."""
        raise NotImplementedError

    # messages
    def add_messages(self, session_id: str, messages: Sequence[Message]) -> Call:
        """Append one batch (at most :attr:`max_batch`) of messages that all carry a uuid."""
        raise NotImplementedError

    def last_messages(self, session_id: str, lastn: int) -> Call:
        """The last ``lastn`` messages, oldest first (result: wire messages)."""
        raise NotImplementedError

    def messages_page(self, session_id: str, limit: int, page: int) -> Call:
        """Page ``page`` (1-based) of the session's messages (result: messages, total)."""
        raise NotImplementedError

    def update_message(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Call:
        """Deep-merge metadata into one message."""
        raise NotImplementedError

    def unpack_metadata(self, metadata: Any) -> tuple[Any, str | None]:
        """A message's metadata as the caller stored it, and a role type carried in it."""
        return metadata, None


#: The generations, by ``api_version``: module and class, imported on first use.
GENERATIONS: dict[str, tuple[str, str]] = {
    "v1": ("._v1", "V1Wire"),
    "v2": ("._v2", "V2Wire"),
}


def wire_class(version: str) -> type[Wire]:
    """The :class:`Wire` of a generation (``"v1"`` or ``"v2"``)."""
    import importlib

    module, name = GENERATIONS[version]
    cls: type[Wire] = getattr(importlib.import_module(module, __package__), name)
    return cls
