"""What Zep Cloud's two generations share: the base class, the limits, message parsing.

:class:`CloudGeneration` is the base of :mod:`._v3` (threads on ``/api/v2``) and :mod:`._v4`
(``/api/v4``): ``Authorization: Api-Key <key>`` always required (spec §1.1), JSON answers, the
``X-RateLimit-*`` headers (spec §1.2, :mod:`._ratelimit`), tasks that succeed after
``task_delay`` seconds (chosen: the spec documents no task duration, §3.7 / §7.3), data in
memory (:mod:`._cloud_data`). The limits are those Zep's own integrations enforce for both
generations (spec §2.5 / §3.4): at most :data:`MAX_MESSAGES_PER_REQUEST` messages per add, at
most :data:`MAX_CONTENT_CHARS` characters of content, message metadata of at most
:data:`MAX_METADATA_KEYS` keys whose values are scalars or arrays of scalars.

"Chosen" below marks what the spec (``shared/zep-cloud/spec.md``) does not state: a guess of
ours about Cloud, also listed in the ``testing`` package docstring.
"""

from __future__ import annotations

import math
import re
import uuid as _uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._models import utcnow
from ..store import SQLiteStore
from ._cloud_data import CloudData, CloudMessage, CloudTask, CloudUser
from ._generation import Generation, Handler
from ._go import stored_json, stored_text, time_error
from ._http import JSON_TYPE, HTTPError, encode, ts
from ._ratelimit import DEFAULT_RATE_LIMIT, RateMeter

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_ID_CHARS",
    "MAX_MESSAGES_PER_REQUEST",
    "MAX_METADATA_KEYS",
    "CloudError",
    "CloudGeneration",
    "MessageDraft",
    "check_key_count",
    "check_message_metadata",
    "merge_metadata",
    "parse_messages",
    "parse_time",
    "parse_uuid_text",
]

#: Most messages one add request may carry (more: 400; spec §2.5 / §3.4). Nothing stored
#: then: chosen (spec §7.10 leaves it open).
MAX_MESSAGES_PER_REQUEST = 30
#: Most characters of one message's content (more: 400, nothing stored; spec §2.5 / §3.4).
#: Counted in code points: chosen, the spec does not say how characters are counted.
MAX_CONTENT_CHARS = 4096
#: Most keys of a message's metadata (spec §2.5 / §3.4): on add, and after an update's merge
#: (v4: spec §3.4; v3: chosen, spec §7.5).
MAX_METADATA_KEYS = 10
#: The text fields of a user besides its ids (spec §2.2 / §3.2).
USER_FIELDS = ("email", "first_name", "last_name", "time_zone")
#: Longest developer id: v3 ``thread_id`` (spec §2.4), v4 ``user_id`` (spec §3.2). v3
#: ``user_id`` too: chosen, the spec says "any string" (§2.4); the same bound as thread ids.
MAX_ID_CHARS = 500

_FRACTION = re.compile(r"\.(\d+)")
# Chosen: only the canonical text form of a uuid is taken (the spec says nothing on forms).
_UUID_TEXT = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)


class CloudError(HTTPError):
    """A Cloud error: the status, a stable ``code`` (v4 only), the message, the ``param``.

    v3 bodies carry only the message (spec §2.6), v4 bodies all four (spec §3.6).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.code = code
        self.param = param
        self.details = dict(details) if details else None


def invalid(message: str, param: str | None = None) -> CloudError:
    """A 400 for a request the server refuses.

    The code ``invalid_request`` is chosen: the spec knows only ``invalid_identifier`` (§3.6).
    """
    return CloudError(400, "invalid_request", message, param)


def not_found(what: str, param: str | None = None) -> CloudError:
    """A 404 for an object the server does not have (code ``not_found``: chosen, spec §7.8)."""
    return CloudError(404, "not_found", f"{what} not found", param)


# -- values ------------------------------------------------------------------------------------


def _scalar(value: object) -> bool:
    return isinstance(value, (str, bool, int, float))


def check_message_metadata(
    value: object, param: str, *, update: bool = False
) -> dict[str, Any] | None:
    """Message metadata as sent (``None`` if absent), or a 400 naming ``param``.

    A JSON object of at most :data:`MAX_METADATA_KEYS` keys whose values are strings, numbers,
    booleans or arrays of those (spec §2.5 / §3.4). ``update``: a value may be ``null`` (remove
    the key; v4: spec §3.4, v3: chosen, §7.5), and the key count is checked after the merge
    instead (:func:`check_key_count`). A ``null`` value on add is a 400: chosen, not in the spec.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(f"{param} must be an object", param)
    nulls = update
    if not update:
        check_key_count(value, param)
    for key, item in value.items():
        if item is None and nulls:
            continue
        if _scalar(item) or (isinstance(item, list) and all(_scalar(x) for x in item)):
            continue
        raise invalid(
            f"{param}[{key!r}] must be a string, number, boolean or an array of those", param
        )
    return value


def check_key_count(metadata: Mapping[str, Any], param: str) -> None:
    """A 400 if ``metadata`` has more than :data:`MAX_METADATA_KEYS` keys."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise invalid(
            f"{param} has {len(metadata)} keys; at most {MAX_METADATA_KEYS} are allowed", param
        )


def parse_uuid_text(value: object) -> _uuid.UUID | None:
    """A uuid in its canonical text form (36 characters, any case); ``None`` otherwise."""
    if not isinstance(value, str) or not _UUID_TEXT.fullmatch(value):
        return None
    return _uuid.UUID(value)


def merge_metadata(base: Mapping[str, Any], update: Mapping[str, Any] | None) -> dict[str, Any]:
    """``update``'s keys over ``base``'s (shallow), a key set to ``null`` removed; stored.

    Merge with ``null`` removing a key: spec §3.4 (v4 users and messages); shallow, and the
    same on v3: chosen (spec §7.4 / §7.5 leave it open).
    """
    merged = dict(base)
    for key, value in (update or {}).items():
        key = stored_json(key)
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = stored_json(value)
    return merged


def parse_time(value: object, param: str) -> datetime | None:
    """An RFC 3339 time sent by the client, in UTC (``None``: absent, null or Go's zero time).

    Refused (400): what Go's ``time.Time`` refuses, what Python cannot read as ISO 8601, and
    a time whose UTC form falls outside years 1 to 9999 (it could not be served back). Chosen:
    the spec gives no time format; Cloud is taken to parse times as Go does, like CE.
    """
    if value is None or value == "0001-01-01T00:00:00Z":
        return None
    problem = time_error(value)
    if problem is not None:
        raise invalid(f"{param}: {problem}", param)
    assert isinstance(value, str)
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], value.upper(), count=1)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise invalid(
            f"{param} {value!r} is not an RFC 3339 time in years 1 to 9999 (UTC)", param
        ) from None


def text_value(body: Mapping[str, Any], name: str, param: str) -> str | None:
    """A string field (``None`` if absent or null) as stored (NUL dropped), else a 400.

    Chosen, not in the spec: the 400 for another type, and NUL dropped (as Go and PostgreSQL
    store text on CE; Cloud is taken to be the same stack).
    """
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"{param} must be a string", param)
    return stored_text(value)


def bool_value(body: Mapping[str, Any], name: str) -> bool | None:
    """A boolean field (``None`` if absent or null), else a 400 (chosen, not in the spec)."""
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"{name} must be a boolean", name)
    return value


def object_value(body: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """An object field (``None`` if absent or null), else a 400 (chosen, not in the spec)."""
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise invalid(f"{name} must be an object", name)
    return value


def check_developer_id(value: object, param: str, *, required: bool) -> str | None:
    """A developer id (``user_id``, ``thread_id``): a non-empty string of at most 500 chars.

    The length: :data:`MAX_ID_CHARS`. Refusing an empty or blank id (400): chosen, not in the
    spec.
    """
    if value is None and not required:
        return None
    if not isinstance(value, str) or not stored_text(value).strip():
        raise invalid(f"{param} must be a non-empty string", param)
    if len(value) > MAX_ID_CHARS:
        raise invalid(
            f"{param} is {len(value)} characters long; at most {MAX_ID_CHARS} are allowed", param
        )
    return stored_text(value)


def update_user(user: CloudUser, body: Mapping[str, Any]) -> None:
    """Apply an update body to a user (v3 and v4 alike).

    A field absent is left as it is, ``null`` clears it (spec §2.5 says so for v3
    ``time_zone``; the other fields: chosen); ``metadata`` is merged onto the user's (top-level
    keys; a key set to ``null`` is removed: v4 spec §3.4; shallow, and v3: chosen, §7.4). User
    metadata has no limits (none documented, §3.4). ``updated_at`` moving: chosen.
    """
    fields = {name: text_value(body, name, name) for name in USER_FIELDS}
    metadata = object_value(body, "metadata")
    ontology = bool_value(body, "disable_default_ontology")
    for name, value in fields.items():
        if name in body:
            setattr(user, name, value)
    if "disable_default_ontology" in body:
        user.disable_default_ontology = ontology
    if metadata is not None:
        user.metadata = merge_metadata(user.metadata, metadata)
    if body:
        user.updated_at = utcnow()


def user_matches(user: CloudUser, search: str) -> bool:
    """Whether ``search`` (lower case) is in the user's id, e-mail or names (any case).

    Chosen: the spec names the ``search`` parameter (§2.1 / §3.1) but not what it matches.
    """
    if not search:
        return True
    fields = (user.user_id, user.email, user.first_name, user.last_name)
    return any(search in f.lower() for f in fields if f)


# -- messages ------------------------------------------------------------------------------------


@dataclass
class MessageDraft:
    """One message of an add request, checked, as it will be stored."""

    role: str
    content: str
    name: str | None
    metadata: dict[str, Any]
    uuid: _uuid.UUID | None
    time: datetime | None


def parse_messages(
    body: Mapping[str, Any],
    roles: frozenset[str],
    *,
    time_field: str,
    client_uuids: bool,
) -> list[MessageDraft]:
    """The ``messages`` of an add request, every one checked before anything is stored.

    ``roles``: the role types allowed; ``time_field``: the client's time (``created_at`` on
    v3, spec §2.4; ``reference_time`` on v4, spec §3.2); ``client_uuids``: whether a message may
    carry its ``uuid``. Chosen, not in the spec: an empty batch is a 400; a role outside
    ``roles`` is a 400 (the SDKs' role types are open strings, §2.2); v4 requires ``content``
    and ``role`` like v3 (§2.2; v4's model makes them optional); ``name`` has no limit (§2.5:
    100 characters is only checked client-side by ``zep_ingest``).
    """
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise invalid("messages must be a non-empty array", "messages")
    if len(raw) > MAX_MESSAGES_PER_REQUEST:
        raise invalid(
            f"{len(raw)} messages in one request; at most {MAX_MESSAGES_PER_REQUEST} are allowed",
            "messages",
        )
    drafts = []
    for index, item in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(item, dict):
            raise invalid(f"{where} must be an object", where)
        content = item.get("content")
        if not isinstance(content, str):
            raise invalid(f"{where}.content must be a string", f"{where}.content")
        if len(content) > MAX_CONTENT_CHARS:
            raise invalid(
                f"{where}.content is {len(content)} characters long; at most "
                f"{MAX_CONTENT_CHARS} are allowed",
                f"{where}.content",
            )
        role = item.get("role")
        if role not in roles:
            raise invalid(
                f"{where}.role must be one of {', '.join(sorted(roles))}, not {role!r}",
                f"{where}.role",
            )
        metadata = check_message_metadata(item.get("metadata"), f"{where}.metadata")
        drafts.append(
            MessageDraft(
                role=str(role),
                content=stored_text(content),
                name=text_value(item, "name", f"{where}.name") or None,
                metadata=stored_json(metadata or {}),
                uuid=_message_uuid(item.get("uuid"), f"{where}.uuid", client_uuids),
                time=parse_time(item.get(time_field), f"{where}.{time_field}"),
            )
        )
    return drafts


def _message_uuid(value: object, param: str, allowed: bool) -> _uuid.UUID | None:
    # v4: "must be left unset" (spec §3.2), refused with a 400: chosen (spec §3.3 INF). v3
    # keeps a client's uuid: chosen (spec §7.1). The nil uuid counts as none: chosen (Go's zero).
    if value is None:
        return None
    if not allowed:
        raise invalid(
            f"{param} must be left unset: message uuids are assigned by the server", param
        )
    parsed = parse_uuid_text(value)
    if parsed is None:
        raise invalid(f"{param} is not a UUID: {value!r}", param)
    return None if parsed.int == 0 else parsed


def check_roles(value: object, roles: frozenset[str]) -> None:
    """``ignore_roles``: absent, or an array of role types (else 400: chosen, not in the spec)."""
    if value is None:
        return
    if not isinstance(value, list) or any(r not in roles for r in value):
        raise invalid(
            f"ignore_roles must be an array of {', '.join(sorted(roles))}", "ignore_roles"
        )


# -- the base generation ---------------------------------------------------------------------------


class CloudGeneration(Generation):
    """A Zep Cloud generation: key always required, data in memory, tasks, rate-limit headers."""

    default_window = 0  # no memory reads
    requires_key = True
    auth_scheme = "Api-Key"  # spec §1.1
    uses_store = False
    options: ClassVar[frozenset[str]] = frozenset({"task_delay", "rate_limit"})
    #: The role types a message may have.
    roles: ClassVar[frozenset[str]]

    def __init__(
        self,
        store: SQLiteStore,
        *,
        window: int,
        server_version: str,
        task_delay: float = 0.0,
        rate_limit: int = DEFAULT_RATE_LIMIT,
    ) -> None:
        super().__init__(store, window=window, server_version=server_version)
        if not (math.isfinite(task_delay) and task_delay >= 0):
            raise ValueError("task_delay must be a number of seconds, 0 or more")
        #: Seconds until a task (a v4 delete, a message ingestion) succeeds.
        self.task_delay = float(task_delay)
        self.data = CloudData()
        self.meter = RateMeter(rate_limit)

    def reset(self) -> None:
        """Forget every user, thread, message and task, and the requests counted."""
        self.data.clear()
        if self.meter is not None:
            self.meter.reset()

    # -- responses ---------------------------------------------------------------------------

    def json(self, data: Any, status: int = 200) -> Response:
        """A success, as JSON."""
        return Response(encode(data), status, media_type=JSON_TYPE)

    def unauthorized(self) -> Response:
        """401 in the generation's error shape (v4: spec §3.6; v3: chosen, spec §2.6 INF)."""
        return self.error(401, "unauthorized: a valid API key is required")

    def not_found_route(self) -> Response:
        """404 in the generation's error shape (for an unknown route: chosen, not in the spec)."""
        return self.error(404, "route not found")

    def cloud_error(self, exc: CloudError) -> Response:
        """The answer to a :class:`CloudError` (its code and param where the shape has them)."""
        return self.error(exc.status, exc.text)

    def route(self, path: str, handler: Handler, methods: Sequence[str]) -> Route:
        """A route whose handler first finishes the tasks that are due; Cloud errors answered."""

        async def run(request: Request) -> Response:
            self.data.run_due()
            try:
                return await handler(request)
            except CloudError as exc:
                return self.cloud_error(exc)

        return super().route(path, run, methods)

    # -- shared pieces -----------------------------------------------------------------------

    def ingest(self, messages: list[CloudMessage], thread_uuid: _uuid.UUID) -> CloudTask:
        """The task that "ingests" a batch of messages: they are ``processed`` when it is done.

        ``processed`` and the add's task: spec §3.2; the type ``thread.add_messages``: spec §3.1
        (v4; the same word on v3: chosen).
        """
        task = self.data.add_task(
            "thread.add_messages", self.task_delay, {"thread_uuid": str(thread_uuid)}
        )
        for message in messages:
            message.task_uuid = task.uuid
        return task

    def processed(self, message: CloudMessage) -> bool:
        """Whether a message's ingestion task has finished."""
        task = self.data.tasks.get(message.task_uuid) if message.task_uuid else None
        return task is None or task.done

    @staticmethod
    def time(value: datetime | None) -> str | None:
        """A timestamp on the wire (RFC 3339, UTC)."""
        return ts(value)
