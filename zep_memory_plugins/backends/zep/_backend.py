"""``ZepBackend``: the :class:`~..Backend` interface on a Zep server of either generation.

On first use the backend asks the server which generation it is (one ``GET /healthz``: open-
source Zep up to v0.27 sends an ``X-Zep-Version`` header, Community Edition does not) and keeps
the answer; ``api_version="v1"|"v2"`` (or ``ZEP_API_VERSION``) skips the probe. Each operation
is a plan of :mod:`._plans` run by the :mod:`._transport` driver.
"""

from __future__ import annotations

import json
import uuid as _uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..._errors import (
    BackendError,
    ConfigurationError,
    MissingDependencyError,
    UnsupportedOperationError,
)
from ..._models import CreateUserRequest, Message, MessagePage, Session, UpdateUserRequest, User
from ..._retention import PurgeReport
from ..._settings import ZEP_CLOUD_URL
from .._base import Backend
from ._convert import UnreadableAnswerError
from ._plans import ZepPlans
from ._retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TASK_TIMEOUT,
    DEFAULT_TIMEOUT,
    INITIAL_BACKOFF,
    RetryPolicy,
)
from ._transport import Plan, Transport
from ._wire import GENERATIONS, Call, Wire, wire_class

__all__ = ["API_VERSIONS", "ZepBackend", "check_api_key"]

#: The values ``api_version=`` / ``ZEP_API_VERSION`` take (``None``: found by a probe).
API_VERSIONS = tuple(GENERATIONS)

_HINTS = {"url": "ZEP_API_URL", "key": "ZEP_API_KEY", "version": "ZEP_API_VERSION"}


def check_api_key(api_key: object) -> str | None:
    """The API key to send: surrounding whitespace (a file's newline) removed.

    A key that is not a string, or holds characters an HTTP header cannot carry, is refused
    with :class:`ConfigurationError`, which never shows the key.
    """
    if api_key is None:
        return None
    if not isinstance(api_key, str):
        raise ConfigurationError(f"the API key must be a str, not {type(api_key).__name__}")
    key = api_key.strip()
    if not key:
        return None
    if not all(" " < ch <= "~" for ch in key):
        raise ConfigurationError(
            "the API key holds a space, a control character or a non-ASCII character, which an "
            "HTTP header cannot carry: check api_key= or ZEP_API_KEY (the key is not shown)"
        )
    return key


#: What a URL ending in ``/api/<x>`` says about the generation: ``/api/v2`` is Community
#: Edition's API and also Zep Cloud's v3 threads (the probe tells them apart).
_URL_SUFFIXES = {"v1": "v1", "v2": "v2", "v4": "v4"}


def _split_url(base_url: object) -> tuple[str, str | None]:
    """The server's root and the API its URL names (``.../api/v2``), if any."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"the Zep server URL must start with http:// or https:// (base_url= or "
            f"{_HINTS['url']}), not {base_url!r}"
        )
    root = base_url.rstrip("/")
    for suffix, named in _URL_SUFFIXES.items():
        if root.endswith(f"/api/{suffix}"):
            return root[: -len(f"/api/{suffix}")], named
    return root, None


def _answers_json(response: httpx.Response) -> bool:
    """Whether a probe's answer is a JSON object, not a router's plain-text or HTML 404.

    Zep Cloud answers its routes in JSON, with a valid key or without.
    """
    if response.status_code not in (200, 401, 403):
        return False
    text = response.text.lstrip()
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _sdk_generation() -> int | None:
    """1 or 2: the installed zep-python's generation; ``None`` when it is not installed."""
    try:
        import zep_python
    except ImportError:
        return None
    return 1 if hasattr(zep_python, "ZepClient") else 2


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class ZepBackend(Backend):
    """A Zep server: open-source Zep (``/api/v1``) or Zep Community Edition (``/api/v2``).

    ``api_version`` is ``"v1"``, ``"v2"`` or ``None`` (ask the server on first use). ``timeout``
    is in seconds per attempt; ``max_retries`` bounds the extra attempts after a transient
    failure (connection refused or lost, timeout, 429, 5xx); ``backoff`` is the first delay
    between attempts, doubled each time. ``/api/v1`` is spoken over httpx by the library
    itself; ``/api/v2`` through zep-python 2.x. The API key never shows in a repr, a log line
    or an error.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        api_version: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
        task_timeout: float | None = None,
    ) -> None:
        Backend.__init__(self)
        self._session_plans = ZepPlans(self._wire)
        self._cloud_plans: Any = None
        root, named = _split_url(base_url)
        if api_version is not None and api_version not in API_VERSIONS:
            raise ConfigurationError(
                f"api_version must be one of {', '.join(API_VERSIONS)} (or None to ask the "
                f"server), not {api_version!r}"
            )
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not 0 < timeout < float("inf")
        ):
            raise ConfigurationError(f"timeout must be a positive number of seconds: {timeout!r}")
        if max_retries is not None and (
            isinstance(max_retries, bool)
            or not isinstance(max_retries, int)
            or not 0 <= max_retries <= 100
        ):
            raise ConfigurationError(f"max_retries must be an int from 0 to 100: {max_retries!r}")
        self.base_url = root
        # /api/v2 names Community Edition or Zep Cloud's v3 threads: the probe decides.
        self._url_names = named
        self.api_version = api_version or (named if named != "v2" else None)
        if task_timeout is not None and (
            isinstance(task_timeout, bool)
            or not isinstance(task_timeout, (int, float))
            or not 0 < task_timeout < float("inf")
        ):
            raise ConfigurationError(
                f"task_timeout must be a positive number of seconds: {task_timeout!r}"
            )
        #: Seconds a Zep Cloud v4 user delete (an asynchronous task) is awaited.
        self.task_timeout = DEFAULT_TASK_TIMEOUT if task_timeout is None else float(task_timeout)
        self._api_key = check_api_key(api_key)
        self.timeout = float(timeout) if timeout is not None else DEFAULT_TIMEOUT
        self.retry = RetryPolicy(
            max_retries=DEFAULT_MAX_RETRIES if max_retries is None else max_retries,
            initial_backoff=INITIAL_BACKOFF if backoff is None else backoff,
        )
        self._transport = Transport(
            root,
            self._api_key,
            timeout=self.timeout,
            retry=self.retry,
            count=self._count_request,
            where=self._where,
            hints=_HINTS,
        )
        if self.api_version is not None:
            self._use(self.api_version, found=None)

    def _count_request(self) -> None:
        self.stats.http_requests += 1

    @property
    def name(self) -> str:  # type: ignore[override]
        """``"zep-v1"`` or ``"zep-v2"`` once the generation is known, else ``"zep"``."""
        wire = self._transport.wire
        return wire.name if wire is not None else "zep"

    @property
    def wire(self) -> Wire | None:
        """The server's generation, once known."""
        return self._transport.wire

    def __repr__(self) -> str:
        return f"ZepBackend({self.describe()!r})"

    def describe(self) -> str:
        """``"zep-v2:http://127.0.0.1:8000"`` (never the API key)."""
        return f"{self.name}:{_strip_userinfo(self.base_url)}"

    def _where(self) -> str:
        wire = self._transport.wire
        what = f" ({wire.server})" if wire is not None else ""
        return f"the Zep server at {_strip_userinfo(self.base_url)}{what}"

    # -- the generation --------------------------------------------------------------------

    def _use(self, version: str, *, found: str | None) -> Wire:
        """Speak ``version`` from now on, after checking that it can be spoken here."""
        wire = wire_class(version)()
        how = f"answers as {wire.server}" if found else f"was set to {wire.server}"
        at = _strip_userinfo(self.base_url)
        if wire.uses_sdk:
            sdk = _sdk_generation()
            if sdk != 2:
                error = MissingDependencyError("zep-python 2.x", "zep")
                found_sdk = "zep-python 1.x is installed" if sdk == 1 else "it is not installed"
                error.message = (
                    f"the Zep server at {at} {how}, which this library speaks through "
                    f'zep-python 2.x, but {found_sdk}: pip install "zep-python>=2,<3"'
                )
                error.args = (error.message,)
                error.msg = error.message  # what ImportError shows
                raise error
        if wire.requires_key and self._api_key is None:
            raise ConfigurationError(
                f"the Zep server at {at} {how}, which requires an API key on every request: "
                f"pass api_key= or set {_HINTS['key']}"
            )
        self._transport.wire = wire
        return wire

    def _wire(self) -> Plan[Wire]:
        wire = self._transport.wire
        if wire is not None:
            return wire
        version, found = yield from self._probe()
        wire = self._transport.wire  # another task may have probed meanwhile
        if wire is not None:
            return wire
        return self._use(version, found=found)

    def _probe(self) -> Plan[tuple[str, Any]]:
        """Ask the server which generation it is (spec: ``shared/zep-cloud/spec.md`` §6).

        Zep Cloud answers ``GET /api/v4/threads`` in JSON (200, or 401 with a wrong key); then
        v4, or v3 when the URL ends in ``/api/v2``. Otherwise ``GET /healthz`` answers ``.``:
        with an ``X-Zep-Version`` header on open-source Zep (v1), without on Community Edition
        (v2); with a URL ending in ``/api/v2`` (Community Edition's API, and Cloud's v3
        threads), ``GET /api/v2/threads`` answers in JSON on Cloud only. A host that answers
        none of these but ``GET /api/v2/threads`` in JSON serves Cloud's v3 alone. One request
        on Cloud, two on a self-hosted Zep, once per client.
        """
        auth = {"Authorization": f"Api-Key {self._api_key}"} if self._api_key else None
        cloud = yield Call(
            "GET /api/v4/threads",
            "/api/v4/threads",
            params={"page_size": 1},
            raw=True,
            headers=auth,
            what="the server",
        )
        if _answers_json(cloud):
            return ("v3" if self._url_names == "v2" else "v4"), cloud
        v3_probe = Call(
            "GET /api/v2/threads",
            "/api/v2/threads",
            params={"page_number": 1, "page_size": 1},
            raw=True,
            headers=auth,
            what="the server",
        )
        if self._url_names == "v2":  # Community Edition's API, or Cloud's v3 threads alone
            v3 = yield v3_probe
            return ("v3" if _answers_json(v3) else "v2"), v3
        health = yield Call("GET /healthz", "/healthz", raw=True, what="the server")
        body = health.text.strip() if health.status_code < 400 else ""
        if health.status_code == 200 and body == ".":
            return ("v1" if "x-zep-version" in health.headers else "v2"), health
        v3 = yield v3_probe
        if _answers_json(v3):
            return "v3", v3
        kind = health.headers.get("content-type", "no content type").split(";")[0]
        raise ConfigurationError(
            f"{_strip_userinfo(self.base_url)} does not answer like a Zep server: GET /healthz "
            f"gave HTTP {health.status_code} ({kind}, {len(health.content)} bytes) where "
            f'a self-hosted Zep answers 200 ".", and GET /api/v4/threads did not answer as Zep '
            f"Cloud does. Set base_url= or {_HINTS['url']} to the Zep server's root (for "
            f"example http://localhost:8000, or {ZEP_CLOUD_URL}), or set api_version= / "
            f"{_HINTS['version']} if a proxy hides these routes."
        )

    def probe(self) -> str:
        """Find the server's generation now (once) and check it can be spoken.

        Returns ``"v1"``, ``"v2"``, ``"v3"`` or ``"v4"``. Every operation does this on first
        use; calling it at start-up makes a wrong URL, a missing key or a missing SDK fail
        there.
        """
        return self._run(self._wire()).version  # type: ignore[no-any-return]

    async def aprobe(self) -> str:
        """Async :meth:`probe`."""
        return (await self._arun(self._wire())).version  # type: ignore[no-any-return]

    # -- soft-deleted data: the server's job ----------------------------------------------

    def purge_deleted(self, older_than: timedelta | None) -> PurgeReport:
        """Refused, sending nothing: a Zep server purges soft-deleted data itself.

        Raises :class:`UnsupportedOperationError` saying how each generation does it.
        """
        raise UnsupportedOperationError(
            f"purging soft-deleted data is the job of {self._where()}, not of the client: "
            "open-source Zep (v0.27) hard-deletes it every data.purge_every minutes of its "
            "config (60 by default), Community Edition and Zep Cloud at once. Nothing was sent."
        )

    async def apurge_deleted(self, older_than: timedelta | None) -> PurgeReport:
        """Async :meth:`purge_deleted` (refused the same way)."""
        return self.purge_deleted(older_than)

    # -- running plans ---------------------------------------------------------------------

    def _plans_for(self, wire: Wire) -> Any:
        """The plans of ``wire``'s family: Zep's sessions API, or Zep Cloud's threads."""
        if not wire.cloud:
            return self._session_plans
        if self._cloud_plans is None:
            from ._cloud_plans import CloudPlans

            self._cloud_plans = CloudPlans(self._wire, task_timeout=self.task_timeout)
        return self._cloud_plans

    def _op(self, name: str, *args: Any) -> Plan[Any]:
        """The plan of operation ``name`` for the server's generation (probed on first use)."""
        wire = yield from self._wire()
        return (yield from getattr(self._plans_for(wire), name)(*args))

    def _run(self, plan: Plan[Any]) -> Any:
        try:
            return self._transport.run(plan)
        except UnreadableAnswerError as exc:
            raise BackendError(f"{self._where()} sent an answer that is not Zep's: {exc}") from None

    async def _arun(self, plan: Plan[Any]) -> Any:
        try:
            return await self._transport.arun(plan)
        except UnreadableAnswerError as exc:
            raise BackendError(f"{self._where()} sent an answer that is not Zep's: {exc}") from None

    def close(self) -> None:
        """Close the HTTP connections (the async ones too, when their loop allows)."""
        self._transport.close()

    async def aclose(self) -> None:
        """Close the HTTP connections, async ones included."""
        await self._transport.aclose()

    # -- the Backend interface: one plan each, run sync or async ---------------------------

    def add_user(self, request: CreateUserRequest) -> User:
        """Create a user."""
        return self._run(self._op("_plan_add_user", request))  # type: ignore[no-any-return]

    def get_user(self, user_id: str) -> User:
        """Read a user."""
        return self._run(self._op("_plan_get_user", user_id))  # type: ignore[no-any-return]

    def update_user(self, request: UpdateUserRequest) -> User:
        """Change a user's fields; metadata is deep-merged."""
        return self._run(self._op("_plan_update_user", request))  # type: ignore[no-any-return]

    def delete_user(self, user_id: str) -> None:
        """Delete a user with everything of theirs."""
        self._run(self._op("_plan_delete_user", user_id))

    def list_users(self, limit: int | None, cursor: int) -> list[User]:
        """Users with ``id > cursor``."""
        return self._run(self._op("_plan_list", "users", limit, cursor))  # type: ignore[no-any-return]

    def get_user_sessions(self, user_id: str) -> list[Session]:
        """A user's live sessions."""
        return self._run(self._op("_plan_user_sessions", user_id))  # type: ignore[no-any-return]

    def add_session(self, session: Session) -> Session:
        """Create a session."""
        return self._run(self._op("_plan_add_session", session))  # type: ignore[no-any-return]

    def get_session(self, session_id: str) -> Session:
        """Read a live session."""
        return self._run(self._op("_plan_get_session", session_id))  # type: ignore[no-any-return]

    def update_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        """Deep-merge metadata into a session."""
        plan = self._op("_plan_update_session", session_id, metadata)
        return self._run(plan)  # type: ignore[no-any-return]

    def delete_session(self, session_id: str) -> None:
        """Soft-delete a session and its messages."""
        self._run(self._op("_plan_delete_session", session_id))

    def list_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        """Live sessions with ``id > cursor``."""
        plan = self._op("_plan_list", "sessions", limit, cursor)
        return self._run(plan)  # type: ignore[no-any-return]

    def add_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Append messages, in as few requests as the server allows."""
        plan = self._op("_plan_add_messages", session_id, messages)
        return self._run(plan)  # type: ignore[no-any-return]

    def get_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        """All messages, or the last ``lastn``."""
        if lastn is None:
            return self._run(self._op("_plan_all_messages", session_id))  # type: ignore[no-any-return]
        plan = self._op("_plan_last_messages", session_id, lastn)
        return self._run(plan)  # type: ignore[no-any-return]

    def get_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        """One page of messages."""
        plan = self._op("_plan_messages_page", session_id, limit, page)
        return self._run(plan)  # type: ignore[no-any-return]

    def update_message_metadata(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Deep-merge metadata into one message."""
        plan = self._op("_plan_update_message", session_id, message_uuid, metadata)
        return self._run(plan)  # type: ignore[no-any-return]

    async def aadd_user(self, request: CreateUserRequest) -> User:
        """Async :meth:`add_user`."""
        return await self._arun(self._op("_plan_add_user", request))  # type: ignore[no-any-return]

    async def aget_user(self, user_id: str) -> User:
        """Async :meth:`get_user`."""
        return await self._arun(self._op("_plan_get_user", user_id))  # type: ignore[no-any-return]

    async def aupdate_user(self, request: UpdateUserRequest) -> User:
        """Async :meth:`update_user`."""
        return await self._arun(self._op("_plan_update_user", request))  # type: ignore[no-any-return]

    async def adelete_user(self, user_id: str) -> None:
        """Async :meth:`delete_user`."""
        await self._arun(self._op("_plan_delete_user", user_id))

    async def alist_users(self, limit: int | None, cursor: int) -> list[User]:
        """Async :meth:`list_users`."""
        plan = self._op("_plan_list", "users", limit, cursor)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def aget_user_sessions(self, user_id: str) -> list[Session]:
        """Async :meth:`get_user_sessions`."""
        plan = self._op("_plan_user_sessions", user_id)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def aadd_session(self, session: Session) -> Session:
        """Async :meth:`add_session`."""
        return await self._arun(self._op("_plan_add_session", session))  # type: ignore[no-any-return]

    async def aget_session(self, session_id: str) -> Session:
        """Async :meth:`get_session`."""
        plan = self._op("_plan_get_session", session_id)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def aupdate_session(self, session_id: str, metadata: Mapping[str, Any]) -> Session:
        """Async :meth:`update_session`."""
        plan = self._op("_plan_update_session", session_id, metadata)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def adelete_session(self, session_id: str) -> None:
        """Async :meth:`delete_session`."""
        await self._arun(self._op("_plan_delete_session", session_id))

    async def alist_sessions(self, limit: int | None, cursor: int) -> list[Session]:
        """Async :meth:`list_sessions`."""
        plan = self._op("_plan_list", "sessions", limit, cursor)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def aadd_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Async :meth:`add_messages`."""
        plan = self._op("_plan_add_messages", session_id, messages)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def aget_messages(self, session_id: str, lastn: int | None) -> list[Message]:
        """Async :meth:`get_messages`."""
        if lastn is None:
            plan = self._op("_plan_all_messages", session_id)
        else:
            plan = self._op("_plan_last_messages", session_id, lastn)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def aget_messages_page(self, session_id: str, limit: int, page: int) -> MessagePage:
        """Async :meth:`get_messages_page`."""
        plan = self._op("_plan_messages_page", session_id, limit, page)
        return await self._arun(plan)  # type: ignore[no-any-return]

    async def aupdate_message_metadata(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Async :meth:`update_message_metadata`."""
        plan = self._op("_plan_update_message", session_id, message_uuid, metadata)
        return await self._arun(plan)  # type: ignore[no-any-return]
