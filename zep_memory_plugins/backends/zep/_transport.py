"""The driver: carries out the :class:`~._wire.Call` objects a plan yields, sync or async.

Every operation is a *plan* (see :mod:`._plans`): a generator that yields calls (one, or a list
to run together) and receives their results. :meth:`Transport.run` drives a plan with one
pooled :class:`httpx.Client`; :meth:`Transport.arun` with an :class:`httpx.AsyncClient` of the
running event loop (a pool is bound to the loop that opened it, so each loop gets its own). This
is the only place where sync and async differ. Each call is retried here by the
:class:`~._retry.RetryPolicy`; its last failure becomes the library's error (:mod:`._failures`).
The API key is sent in headers only and scrubbed from every text kept.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ..._duplex import Plan, Step, arun, run
from ..._errors import ZepMemoryError
from ._failures import Failure, classify, to_error
from ._retry import RetryPolicy
from ._wire import Call, Wire

__all__ = ["Plan", "Transport"]

logger = logging.getLogger("zep_memory_plugins.zep")

_T = TypeVar("_T")

#: The answer to the latest request of the current thread or task (set by the httpx hook).
_LAST_RESPONSE: contextvars.ContextVar[httpx.Response | None] = contextvars.ContextVar(
    "zep_memory_plugins_last_response", default=None
)


class _ErrorStatusError(Exception):
    """A raw request answered with an error status (the response is in ``_LAST_RESPONSE``)."""


def _decode(response: httpx.Response) -> Any:
    """A raw answer's body: JSON when it is JSON, else its text (``"OK"`` on ``/api/v1``).

    Zep v0.27 and Community Edition send message lists as ``text/plain``: JSON is decoded from
    the body's bytes (UTF-8, as JSON is), as ``response.json()`` does, without working out the
    text's charset first (which costs more than decoding a page of messages); a body in another
    charset is decoded as its headers say.
    """
    content = response.content
    if not content:
        return None
    if "json" in response.headers.get("content-type", ""):
        return response.json()
    if content[:1] in _JSON_STARTS or content.lstrip()[:1] in _JSON_STARTS:
        try:
            return json.loads(content)
        except UnicodeDecodeError:
            pass
    text = response.text
    if text.lstrip()[:1] in ("{", "["):  # v0.27 sends some JSON as text/plain
        return json.loads(text)
    return text


_JSON_STARTS = (b"{", b"[")


class Transport:
    """HTTP connections to one Zep server, and the sync and async plan drivers on them.

    ``wire`` is the server's generation once known (the backend sets it after its probe).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float,
        retry: RetryPolicy,
        count: Callable[[], None],
        where: Callable[[], str],
        hints: dict[str, str],
    ) -> None:
        self.base_url = base_url
        self._api_key = api_key
        self.timeout = timeout
        self.retry = retry
        self._count = count
        self._where = where
        self._hints = hints
        self.wire: Wire | None = None
        self._lock = threading.Lock()
        self._sync: httpx.Client | None = None
        self._sync_sdk: Any = None
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[httpx.AsyncClient, list[Any]]
        ] = weakref.WeakKeyDictionary()

    # -- secrets ---------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` without the API key, in any of the forms it can take on the wire."""
        key = self._api_key
        if key:
            for form in {key, quote(key, safe=""), quote(key)}:
                text = text.replace(form, "***")
        return text

    # -- connections -----------------------------------------------------------------------

    def _on_request(self, request: httpx.Request) -> None:
        self._count()
        if self._api_key is None:
            request.headers.pop("Authorization", None)  # the SDK sends "Api-Key " regardless

    def _on_response(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()  # a connection lost here is a transport error, not an answer
        _LAST_RESPONSE.set(response)

    async def _aon_request(self, request: httpx.Request) -> None:
        self._on_request(request)

    async def _aon_response(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            await response.aread()
        _LAST_RESPONSE.set(response)

    def _sync_client(self) -> httpx.Client:
        http = self._sync
        if http is None:
            with self._lock:
                http = self._sync
                if http is None:
                    http = self._sync = httpx.Client(
                        base_url=self.base_url,
                        timeout=self.timeout,
                        event_hooks={
                            "request": [self._on_request],
                            "response": [self._on_response],
                        },
                    )
        return http

    def _async_client(self) -> tuple[httpx.AsyncClient, list[Any]]:
        loop = asyncio.get_running_loop()
        pair = self._async.get(loop)
        if pair is None:
            http = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout,
                event_hooks={"request": [self._aon_request], "response": [self._aon_response]},
            )
            pair = self._async[loop] = (http, [])
        return pair

    def _sdk(self, http: Any) -> Any:
        assert self.wire is not None
        return self.wire.new_sdk(self.base_url, self._api_key, http, self.timeout)

    def close(self) -> None:
        """Close the sync pool and forget the async ones."""
        with self._lock:
            http, self._sync, self._sync_sdk = self._sync, None, None
        if http is not None:
            http.close()
        self._async.clear()

    async def aclose(self) -> None:
        """Close the running loop's pool, then the rest."""
        pair = self._async.pop(asyncio.get_running_loop(), None)
        if pair is not None:
            await pair[0].aclose()
        self.close()

    # -- drivers: the only place sync and async differ ---------------------------------------

    def run(self, plan: Plan[_T]) -> _T:
        """Carry out a plan with blocking requests."""
        return run(plan, self._execute)

    async def arun(self, plan: Plan[_T]) -> _T:
        """Carry out a plan with the running event loop's pool; lists of calls run together."""
        return await arun(plan, self._aexecute)

    def _execute(self, call: Call | Step) -> Any:
        if isinstance(call, Step):  # a plan's own step (a wait between polls)
            return call.sync(*call.args, **call.kwargs)
        return run(self._attempts(call))

    async def _aexecute(self, call: Call | Step) -> Any:
        if isinstance(call, Step):
            return await call.asynchronous(*call.args, **call.kwargs)
        return await arun(self._attempts(call))

    def _send(self, call: Call) -> Any:
        """One attempt, blocking: the SDK method's result, or the raw httpx response."""
        if call.sdk is None:
            return self._sync_client().request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                headers=self._headers(call),
            )
        if self._sync_sdk is None:
            self._sync_sdk = self._sdk(self._sync_client())
        return _resolve(self._sync_sdk, call.sdk)(*call.args, **call.kwargs)

    async def _asend(self, call: Call) -> Any:
        """One attempt on the running loop's pool."""
        http, sdks = self._async_client()
        if call.sdk is None:
            return await http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                headers=self._headers(call),
            )
        if not sdks:
            sdks.append(self._sdk(http))
        assert self.wire is not None
        return await _resolve(sdks[0], self.wire.async_sdk_method(call.sdk))(
            *call.args, **call.kwargs
        )

    def _headers(self, call: Call) -> dict[str, str]:
        headers = self.wire.auth_headers(self._api_key) if self.wire is not None else {}
        return {**headers, **call.headers} if call.headers else headers

    def _attempts(self, call: Call) -> Plan[Any]:
        """One call with its retries: sends, and sleeps between attempts."""
        attempt = 0
        while True:
            _LAST_RESPONSE.set(None)
            try:
                answer = yield Step(self._send, self._asend, (call,))
                if call.sdk is None and not call.raw:
                    if answer.status_code >= 400:
                        raise _ErrorStatusError
                    answer = _decode(answer)
                return call.parse(answer) if call.parse is not None else answer
            except Exception as exc:
                failure, recovered = self._failure(call, exc)
                if recovered is not None:
                    return recovered[0]
            delay = self._next_delay(call, failure, attempt)
            if delay is None:
                raise self._error(call, failure, attempt + 1)
            yield Step(time.sleep, asyncio.sleep, (delay,))
            attempt += 1

    def _failure(self, call: Call, exc: Exception) -> tuple[Failure, Any]:
        """The failure of an attempt, or (``None``-kind) a value recovered from its answer."""
        response = _LAST_RESPONSE.get()
        failure = classify(exc, response, self.scrub)
        if (
            failure.kind == "protocol"
            and call.recover is not None
            and response is not None
            and response.status_code < 400
        ):
            try:
                return failure, (call.recover(_decode(response)),)
            except Exception as again:  # the answer is unreadable after all
                failure = classify(again, None, self.scrub)
        return failure, None

    def _next_delay(self, call: Call, failure: Failure, attempt: int) -> float | None:
        if failure.in_flight and not call.resend_if_unknown:
            call.ambiguous = True
            return None  # a late copy could undo a later write: never resent blindly
        delay = self.retry.delay(failure, attempt)
        if delay is not None:
            call.ambiguous = call.ambiguous or failure.outcome_unknown
            logger.info(
                "zep %s failed (%s); retry %d/%d in %.2fs",
                call.route,
                failure.status or failure.kind,
                attempt + 1,
                self.retry.max_retries,
                delay,
            )
        return delay

    def _error(self, call: Call, failure: Failure, attempts: int) -> ZepMemoryError:
        error = to_error(call, failure, where=self._where(), attempts=attempts, hints=self._hints)
        logger.debug("zep %s failed: %s", call.route, type(error).__name__)
        return error


def _resolve(root: Any, path: str) -> Any:
    target = root
    for part in path.split("."):
        target = getattr(target, part)
    return target
