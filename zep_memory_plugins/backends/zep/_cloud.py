"""Zep Cloud's threads API under the library's user/session API: what both generations share.

Zep Cloud (v3: ``/api/v2`` threads, client-chosen ids; v4: ``/api/v4``, server-assigned uuids)
has users, threads and messages, but no session metadata, no soft delete, no ``id > cursor``
listings, and on v4 no way to name a thread. The library keeps its sessions there as follows
(``shared/zep-cloud/mapping.md`` proposed keeping them in the owner's metadata; a record per
session was taken instead, see below):

- **A session is a thread plus a session record.** The record is a Zep user of its own, named
  ``zep-memory:session:<session id>`` (:data:`RECORD_PREFIX`), whose metadata holds one packed
  JSON string (:data:`RECORD_KEY`): the session's id, owner, metadata, times, tombstone and
  current thread. A record is found in one request by its name (v3 ``GET /users/{id}``, v4
  ``POST /users/lookup``) from any process, it is claimed atomically (a user id is unique, so
  two processes creating one session cannot both win), and concurrent writers of different
  sessions never touch the same object. (Session metadata kept in the owner's metadata would
  have needed a global index on v4 anyway, since a v4 thread cannot be found by any name, and
  would grow without bound on one user for sessions without an owner.) Records are hidden from
  every user listing, and deleted with their owner.
- **The owner's index.** The owner's metadata holds one key per session
  (``zep_memory_session:<session id>``, :data:`INDEX_PREFIX`), hidden on read, so that
  ``user.get_sessions`` and a user delete find every record of that user, soft-deleted ones
  included. v4 merges metadata per key on the server (a key set to ``null`` is removed); on v3,
  whose update semantics are not documented, the whole metadata is written back after a read.
- **Sessions without an owner** belong, on Zep's side, to one shadow user
  (:data:`UNOWNED_USER`); they are reported with ``user_id=None``.
- **Soft delete and revive, as on /api/v1.** Deleting a session deletes its thread (for real:
  Cloud has no soft delete; on v4 the delete task is not awaited) and marks the record deleted.
  Reads and listings then treat it as gone, deleting again or ``add_session`` with its id are
  refused, and writing to it or updating it revives it with its owner and metadata on a new
  thread: the old messages stay deleted.
- **Messages** carry the library's data in one metadata key (:data:`MESSAGE_KEY`, a packed
  JSON string: the library uuid, the ``created_at`` given, a role type the wire cannot say), so
  a caller's own message metadata may use the other 9 of Cloud's 10 keys, with scalar values
  (or arrays of scalars) only; more is refused before anything is sent, as is content over
  4,096 characters. Reads report the library's uuids; v4's server uuids are kept per client for
  metadata updates.

Each generation (:mod:`._v3`, :mod:`._v4`) is a :class:`CloudWire` that spells the calls; the
operations are the plans of :mod:`._cloud_plans`, run by the same transport as Zep's sessions
API (retries, ``Retry-After`` / ``X-RateLimit-Reset``, errors by status and route).
"""

from __future__ import annotations

import hashlib
import uuid as _uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from ..._errors import (
    InvalidInputError,
)
from ..._models import (
    ROLE_TYPES,
    Message,
    Session,
    User,
    build_unvalidated,
    pack_json,
    unpack_json,
)
from ._convert import UnreadableAnswerError, default_role_type, fields_of, listing
from ._wire import Call, Wire

__all__ = [
    "INDEX_PREFIX",
    "MAX_CLOUD_ID_LENGTH",
    "MAX_CONTENT",
    "MAX_MESSAGES",
    "MAX_METADATA_KEYS",
    "MESSAGE_KEY",
    "RECORD_KEY",
    "RECORD_PREFIX",
    "RESERVED_USER_PREFIX",
    "UNOWNED_USER",
    "CloudWire",
    "Record",
    "check_cloud_metadata",
    "idempotency_key",
    "indexed",
    "page_result",
    "read_record",
    "record_id",
    "to_library_message",
    "to_library_user",
    "user_number",
]

#: The Zep user id of a session's record (see the module docstring).
RECORD_PREFIX = "zep-memory:session:"
#: The metadata key of a record holding the session, packed as a JSON string.
RECORD_KEY = "zep_memory_record"
#: The owner's metadata key listing one of its sessions (followed by the session id).
INDEX_PREFIX = "zep_memory_session:"
#: The Zep user owning, on Zep's side, the threads of sessions that have no owner.
UNOWNED_USER = "zep-memory:unowned"
#: The message metadata key holding the library's own data, packed as a JSON string.
MESSAGE_KEY = "zep_memory"
#: The user ids the library keeps for itself on Zep Cloud.
RESERVED_USER_PREFIX = "zep-memory:"
#: Longest user id Zep Cloud takes (``user_id``, ``thread_id``: at most 500 characters).
MAX_CLOUD_ID_LENGTH = 500
#: Most messages one add request may carry on Zep Cloud (more are refused with 400).
MAX_MESSAGES = 30
#: Longest message content Zep Cloud takes, in characters.
MAX_CONTENT = 4096
#: Most metadata keys of one message on Zep Cloud (one of them is :data:`MESSAGE_KEY`).
MAX_METADATA_KEYS = 10


def idempotency_key(*parts: str) -> str:
    """A deterministic ``Idempotency-Key``: the same parts give the same key (retries, reruns)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"zmp-{digest[:48]}"


def record_id(session_id: str) -> str:
    """The Zep user id of ``session_id``'s record."""
    return RECORD_PREFIX + session_id


# -- the record of a session -------------------------------------------------------------------


@dataclass
class Record:
    """What the library knows of a session on Zep Cloud, kept in its record (packed JSON).

    ``thread`` is the session's current thread (v3: its thread id, v4: its uuid), ``None``
    while the session has none (revived by an update, not yet written to). ``owner`` is the
    owner's library user id (``None``: no owner). ``rev`` counts the threads the session had.
    ``address`` is the record's own address (v3: its user id, v4: its uuid), ``number`` its
    integer id (:func:`user_number`, the session's) and ``uuid`` its Zep uuid (the session's);
    none is packed.
    """

    session_id: str
    owner: str | None
    thread: str | None
    metadata: dict[str, Any] | None
    created_at: str
    updated_at: str
    deleted_at: str | None = None
    rev: int = 0
    address: str = ""
    number: int | None = None
    uuid: _uuid.UUID | None = None

    def packed(self) -> dict[str, str]:
        """The record's metadata, as stored."""
        return {
            RECORD_KEY: pack_json(
                {
                    "v": 1,
                    "session_id": self.session_id,
                    "user_id": self.owner,
                    "thread": self.thread,
                    "metadata": self.metadata,
                    "created_at": self.created_at,
                    "updated_at": self.updated_at,
                    "deleted_at": self.deleted_at,
                    "rev": self.rev,
                }
            )
        }

    def session(self) -> Session:
        """The :class:`Session` the record describes."""
        return build_unvalidated(
            Session,
            {
                "session_id": self.session_id,
                "user_id": self.owner,
                "metadata": self.metadata,
                "id": self.number,
                "uuid": self.uuid,
                "created_at": _time(self.created_at),
                "updated_at": _time(self.updated_at),
                "deleted_at": _time(self.deleted_at),
            },
        )


def _uuid_or_none(value: str) -> _uuid.UUID | None:
    try:
        return _uuid.UUID(value)
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise UnreadableAnswerError("a session record holds a time that is not a string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UnreadableAnswerError(f"not a timestamp: {value[:40]!r}") from None


def user_number(d: Mapping[str, Any]) -> int | None:
    """A Zep Cloud user's integer id (a session's: its record's).

    v3's own ``id``; on v4, which has none, the time the user was created in microseconds since
    1970: it grows in creation order and never changes.
    """
    number = d.get("id")
    if type(number) is int:
        return number
    created = _time(d.get("created_at"))
    if created is None:
        return None
    return (created - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def read_record(raw: Any, address: str) -> Record | None:
    """The record in a Zep user (``None`` if the user is not a session record)."""
    d = fields_of(raw)
    user_id = d.get("user_id")
    if not isinstance(user_id, str) or not user_id.startswith(RECORD_PREFIX):
        return None
    metadata = d.get("metadata")
    packed = metadata.get(RECORD_KEY) if isinstance(metadata, dict) else None
    if not isinstance(packed, str):
        raise UnreadableAnswerError(f"the session record {user_id[:60]!r} holds no record")
    try:
        data = unpack_json(packed)
        return Record(
            session_id=str(data["session_id"]),
            owner=data.get("user_id"),
            thread=data.get("thread"),
            metadata=data.get("metadata"),
            created_at=str(data["created_at"]),
            updated_at=str(data.get("updated_at") or data["created_at"]),
            deleted_at=data.get("deleted_at"),
            rev=int(data.get("rev") or 0),
            address=address,
            number=user_number(d),
            uuid=_uuid_or_none(str(d.get("uuid") or "")),
        )
    except (ValueError, KeyError, TypeError):
        raise UnreadableAnswerError(f"the session record {user_id[:60]!r} is unreadable") from None


# -- what each generation spells ---------------------------------------------------------------


class CloudWire(Wire):
    """A generation of Zep Cloud's threads API (subclassed by :mod:`._v3` and :mod:`._v4`).

    Every method builds one request. Addresses: v3 addresses users and threads by the ids the
    client chose; v4 by server-assigned uuids (:attr:`server_ids`), found for a user through
    ``POST /users/lookup``.
    """

    cloud = True
    requires_key = True
    max_batch = MAX_MESSAGES
    max_content = MAX_CONTENT
    #: Whether the server assigns every address (v4), or the client chooses them (v3).
    server_ids: ClassVar[bool] = False
    #: Whether a user's metadata update merges per key on the server (v4).
    merges_user_metadata: ClassVar[bool] = False

    def auth_headers(self, api_key: str | None) -> dict[str, str]:
        """``Authorization: Api-Key <key>``."""
        return {"Authorization": f"Api-Key {api_key}"} if api_key else {}

    # The calls each generation builds (see the modules for the routes):
    #: create a user from its fields
    create_user: Callable[[Mapping[str, Any]], Call]
    #: find a user by its user id (the answer is the user)
    find_user: Callable[[str], Call]
    #: change fields of a user (by address)
    update_user: Callable[[str, Mapping[str, Any]], Call]
    #: delete a user (by address); v4 answers a task
    delete_user: Callable[[str], Call]
    #: one page of users in creation order, from a page token (``None``: the first);
    #: result: (users, next token or ``None``)
    users_page: Callable[[Any], Call]
    #: create a thread for a session (its id on v3), owned by a user (address, user id);
    #: ``key`` makes the creation idempotent (v4)
    create_thread: Callable[[str, str, str, str], Call]
    #: delete a thread
    delete_thread: Callable[[str], Call]
    #: add a batch of wire messages to a thread; ``key`` makes it idempotent (v4);
    #: result: the server's uuids of the messages, in order (or ``None`` if not told)
    add_thread_messages: Callable[[str, list[dict[str, Any]], str], Call]
    #: the newest messages of a thread, newest first, from a page token;
    #: result: (messages, next token or ``None``)
    newest_messages: Callable[[str, int, Any], Call]
    #: a page of a thread's messages, oldest first; result: (messages, next token or None,
    #: total count or ``None``)
    oldest_messages: Callable[[str, int, Any], Call]
    #: replace a message's metadata (by the server's uuid)
    update_thread_message: Callable[[str, str, Mapping[str, Any]], Call]

    def get_thread_message(self, thread: str, server_uuid: str) -> Call | None:
        """Read one message (v4), or ``None`` where the generation has no such route (v3)."""
        return None

    def get_task(self, task: str) -> Call:
        """``GET /tasks/{uuid}``: a task's status."""
        raise NotImplementedError

    def task_of(self, answer: Any) -> str | None:
        """The uuid of the task a delete answered with (v4), if any."""
        return None

    def user_address(self, raw: Any) -> str:
        """A user's address from its wire form: v3 its user id, v4 its uuid."""
        d = fields_of(raw)
        value = d.get("uuid" if self.server_ids else "user_id")
        if not isinstance(value, str) or not value:
            raise UnreadableAnswerError("a user has no address")
        return value

    def thread_address(self, raw: Any, session_id: str) -> str:
        """The address of a thread just created: v3 its thread id, v4 its uuid."""
        if not self.server_ids:
            return session_id
        value = fields_of(raw).get("uuid")
        if not isinstance(value, str) or not value:
            raise UnreadableAnswerError("a created thread has no uuid")
        return value

    # -- messages on the wire --------------------------------------------------------------

    def wire_message(self, message: Message) -> dict[str, Any]:
        """A library message as this generation's add route takes it."""
        raise NotImplementedError

    def library_data(self, message: Message, *, role_type_sent: bool) -> str:
        """The packed :data:`MESSAGE_KEY` value: uuid, given time, a role type not sent."""
        data: dict[str, Any] = {"u": str(message.uuid)}
        if message.created_at is not None:
            data["t"] = message.created_at.isoformat()
        if not role_type_sent:
            data["rt"] = message.role_type
        return pack_json(data)

    def outgoing_metadata(self, message: Message, *, role_type_sent: bool) -> dict[str, Any]:
        """The caller's metadata plus the library's packed data (:data:`MESSAGE_KEY`)."""
        packed = self.library_data(message, role_type_sent=role_type_sent)
        return {**(message.metadata or {}), MESSAGE_KEY: packed}


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and value is not None


def check_cloud_metadata(metadata: Mapping[str, Any] | None, field_name: str) -> None:
    """Refuse message metadata Zep Cloud would refuse.

    That is more than 9 keys (the tenth is the library's), or values other than strings,
    numbers, booleans and arrays of them.
    """
    if not metadata:
        return
    if MESSAGE_KEY in metadata or any(k.startswith(INDEX_PREFIX) for k in metadata):
        raise InvalidInputError(
            f"{field_name}: the key {MESSAGE_KEY!r} is reserved by the library on Zep Cloud",
            field=f"{field_name}.{MESSAGE_KEY}",
        )
    if len(metadata) > MAX_METADATA_KEYS - 1:
        raise InvalidInputError(
            f"{field_name} has {len(metadata)} keys; Zep Cloud takes at most "
            f"{MAX_METADATA_KEYS} per message, one of which the library keeps for itself",
            field=field_name,
        )
    for key, value in metadata.items():
        ok = _scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value))
        if not ok:
            raise InvalidInputError(
                f"{field_name}.{key} must be a string, number, boolean or a list of them: Zep "
                "Cloud takes nothing else in message metadata (nested objects and null are "
                "refused)",
                field=f"{field_name}.{key}",
            )


def to_library_message(raw: Any, wire: CloudWire) -> tuple[Message, str | None]:
    """A wire message as a library :class:`Message`, and its server uuid."""
    d = fields_of(raw)
    metadata = d.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise UnreadableAnswerError("metadata is not an object")
    data: dict[str, Any] = {}
    if metadata and MESSAGE_KEY in metadata:
        metadata = dict(metadata)
        try:
            loaded = unpack_json(metadata.pop(MESSAGE_KEY))
        except ValueError:
            raise UnreadableAnswerError(f"unreadable {MESSAGE_KEY!r} in a message") from None
        data = loaded if isinstance(loaded, dict) else {}
    server_uuid = d.get("uuid") or d.get("uuid_")
    uid = data.get("u") or server_uuid
    try:
        library_uuid = _uuid.UUID(str(uid))
    except ValueError:
        raise UnreadableAnswerError("a message has no uuid") from None
    name = d.get("name")
    role = name if isinstance(name, str) else ""
    wire_role = d.get("role")
    role_type = data.get("rt") or wire_role
    if role_type not in ROLE_TYPES:
        role_type = default_role_type(role)
    content = d.get("content")
    created = _time(data["t"]) if data.get("t") else _time(d.get("created_at"))
    message = build_unvalidated(
        Message,
        {
            "role": role,
            "role_type": role_type,
            "content": content if isinstance(content, str) else "",
            "metadata": metadata or None,
            "uuid": library_uuid,
            "created_at": created,
        },
    )
    return message, str(server_uuid) if server_uuid else None


def _strip_index(metadata: Any) -> dict[str, Any] | None:
    if not isinstance(metadata, dict):
        return None
    kept = {k: v for k, v in metadata.items() if not k.startswith(INDEX_PREFIX)}
    return kept or None


def to_library_user(raw: Any) -> User:
    """A Zep Cloud user as a library :class:`User` (the session index hidden)."""
    d = fields_of(raw)
    user_id = d.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        raise UnreadableAnswerError("the answer has no user_id")

    def text(key: str) -> str | None:
        value = d.get(key)
        return value if isinstance(value, str) and value else None

    uid = d.get("uuid") or d.get("uuid_")
    return build_unvalidated(
        User,
        {
            "user_id": user_id,
            "email": text("email"),
            "first_name": text("first_name"),
            "last_name": text("last_name"),
            "metadata": _strip_index(d.get("metadata")),
            "id": user_number(d),
            "uuid": _uuid_or_none(str(uid)) if uid else None,
            "created_at": _time(d.get("created_at")),
            "updated_at": _time(d.get("updated_at")),
        },
    )


def indexed(metadata: Any) -> list[str]:
    """The session ids in an owner's index, in the order they were added."""
    if not isinstance(metadata, dict):
        return []
    return [k[len(INDEX_PREFIX) :] for k in metadata if k.startswith(INDEX_PREFIX)]


def page_result(raw: Any, items: str, next_key: str) -> tuple[list[Any], Any]:
    """A page of a listing: its items, and the token of the next page (``None`` at the end)."""
    token = fields_of(raw).get(next_key) if raw is not None else None
    return listing(raw, items), (token or None)
