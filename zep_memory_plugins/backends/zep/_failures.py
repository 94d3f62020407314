"""Failures of one request, and the library's error for each: by status code and route.

:func:`classify` turns what went wrong with one attempt (an HTTP answer, a transport error, an
answer that does not parse) into a :class:`Failure`; :func:`to_error` turns the last failure of
a call into the library's typed error. Both decide by status code, content type and route.
Where one status on one route has two meanings on the real servers, :func:`server_says` reads
the server's words: it is the only place that does.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ..._errors import (
    AlreadyExistsError,
    AuthenticationError,
    BackendError,
    BadRequestError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    ZepMemoryError,
)
from ._convert import UnreadableAnswerError

if TYPE_CHECKING:
    from ._wire import Call

__all__ = ["Failure", "classify", "parse_retry_after", "server_says", "to_error"]

#: Longest server message kept in an exception.
_MAX_MESSAGE_CHARS = 300


@dataclass
class Failure:
    """What went wrong with one attempt.

    ``kind`` is ``"http"`` (an error status: ``status``, ``text``, ``html``), ``"connect"``
    (nothing was sent: always safe to send again), ``"timeout"``, ``"network"`` (the connection
    was lost: the outcome is unknown) or ``"protocol"`` (an answer that could not be read).
    """

    kind: str
    status: int | None = None
    text: str = ""
    html: bool = False
    retry_after: float | None = None
    detail: str = ""
    #: Zep Cloud v4's machine-readable ``error.code`` (``"invalid_identifier"``), if any.
    code: str = ""
    #: Whether the request carried an ``Idempotency-Key``: a 409 then means "the same key is
    #: still being processed" (Zep Cloud v4), worth another attempt.
    keyed: bool = False

    @property
    def transient(self) -> bool:
        """Whether another attempt may succeed."""
        if self.kind in ("connect", "timeout", "network"):
            return True
        return (
            self.kind == "http"
            and self.status is not None
            and (
                self.status == 429
                or (self.status == 409 and self.keyed)
                or (self.status >= 500 and server_says(self.text) != "exists")
            )
        )

    @property
    def outcome_unknown(self) -> bool:
        """Whether the server may have carried out the request although it failed."""
        if self.kind == "connect":
            return False
        return not (self.kind == "http" and self.status is not None and self.status < 500)

    @property
    def route_missing(self) -> bool:
        """Whether a 404 says the ROUTE does not exist, not the user or session asked for.

        Both real servers answer a missing user or session with the message ``not found``; a
        route they do not have gets an HTML page (v0.27) or Go's router text ``404 page not
        found``. Such a 404 must never read as "no messages".
        """
        return self.status == 404 and (self.html or "page not found" in self.text.lower())

    @property
    def in_flight(self) -> bool:
        """Whether the request may still be carried out later (no answer came back)."""
        return self.kind in ("timeout", "network")


def server_says(text: str) -> str | None:
    """What a server's error message means, where status and route cannot tell.

    The real servers answer 400 on ``POST /sessions`` both for a session id that is taken and
    for a user that does not exist, and a message uuid that is taken with 500 (``/api/v1``:
    Postgres' "duplicate key") or 400 (Community Edition: "message_uuid already exists") on the
    same route as other failures. Returns ``"exists"``, ``"no_user"`` or ``None``.
    """
    lowered = text.lower()
    if "already exists" in lowered or "duplicate key" in lowered or "unique constraint" in lowered:
        return "exists"
    if "user not found" in lowered or "user does not exist" in lowered:
        return "no_user"
    return None


def parse_retry_after(headers: Mapping[str, str], status: int | None = 429) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (number or HTTP date), if any.

    Without one, on a 429 only, Zep Cloud's ``X-RateLimit-Reset`` (when the limit resets, in
    unix seconds) says it. (Cloud sends that header on every answer: read on another status,
    it would make a retry wait until the minute ends.)
    """
    value = headers.get("retry-after")
    if value is None:
        reset = headers.get("x-ratelimit-reset")
        if reset is None or status != 429:
            return None
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - time.time()
    return max(0.0, seconds)


def _message_of(response: httpx.Response) -> tuple[str, str]:
    """The server's message and (Zep Cloud v4) error code, from any generation's error body.

    ``{"message": ...}`` (Community Edition, Cloud v3), ``{"error": {"code", "message"}}``
    (Cloud v4), or plain text (v0.27).
    """
    text = response.text.strip()
    if text.startswith("{"):
        try:
            body = json.loads(text.splitlines()[0])
        except ValueError:
            return text, ""
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            message = error.get("message")
            return (
                message if isinstance(message, str) else text,
                code if isinstance(code, str) else "",
            )
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            return str(body["message"]), ""
    return text, ""


def _keyed(response: httpx.Response) -> bool:
    """Whether the request answered by ``response`` carried an ``Idempotency-Key``."""
    try:
        return "idempotency-key" in response.request.headers
    except RuntimeError:  # a response built without its request
        return False


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 5:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify(
    exc: BaseException | None, response: httpx.Response | None, clean: Callable[[str], str]
) -> Failure:
    """The :class:`Failure` of one attempt: an error status, a transport error or bad answer.

    ``clean`` removes secrets from every text kept.
    """
    if response is not None and response.status_code >= 400:
        content_type = response.headers.get("content-type", "")
        message, code = _message_of(response)
        return Failure(
            kind="http",
            status=response.status_code,
            text=clean(message)[:_MAX_MESSAGE_CHARS],
            html="html" in content_type or response.text.lstrip()[:1] == "<",
            retry_after=parse_retry_after(response.headers, response.status_code),
            code=code,
            keyed=_keyed(response),
        )
    for error in _causes(exc) if exc is not None else []:
        if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout)):
            return Failure(kind="connect", detail=clean(_describe(error)))
        if isinstance(error, httpx.TimeoutException):
            return Failure(kind="timeout", detail=clean(_describe(error)))
        if isinstance(error, httpx.TransportError):
            return Failure(kind="network", detail=clean(_describe(error)))
    if isinstance(exc, UnreadableAnswerError):
        return Failure(kind="protocol", detail=clean(str(exc)))
    detail = _describe(exc) if exc is not None else "no answer"
    return Failure(kind="protocol", detail=clean(detail)[:_MAX_MESSAGE_CHARS])


def to_error(
    call: Call, failure: Failure, *, where: str, attempts: int, hints: dict[str, str]
) -> ZepMemoryError:
    """The library's error for a call whose last attempt failed with ``failure``.

    ``where`` names the server (URL and generation), ``hints`` the environment variables to
    point at (``"url"``, ``"key"``).
    """
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    if failure.kind in ("connect", "network", "timeout"):
        if failure.in_flight and not call.resend_if_unknown:
            return OutcomeUnknownError(
                f"{where} did not answer {call.route} for {call.what or 'the request'}: "
                f"{failure.detail}. It may or may not have been carried out; it was not sent "
                "again because a late copy could undo a later write. Check the state, then "
                "repeat the call if needed."
            )
        what = "did not answer in time" if failure.kind == "timeout" else "is unreachable"
        return ServiceUnavailableError(
            f"{where} {what}{tries}: {failure.detail}. Check that the server is running and "
            f"that {hints['url']} (or base_url=) points to it."
        )
    if failure.kind != "http" or failure.status is None:
        return BackendError(
            f"{where} sent an answer to {call.route} that is not a Zep answer: {failure.detail}"
        )
    status, text = failure.status, failure.text
    if failure.route_missing:
        return BackendError(
            f"{where} has no route {call.route} (HTTP 404, an HTML page): it is not the Zep "
            f"generation the client speaks. Check {hints['url']}, or set api_version= / "
            f"{hints['version']} to the server's generation.",
            status_code=404,
        )
    if status == 404:
        return NotFoundError(f"{call.what or 'resource'} not found", status_code=404)
    if status in (401, 403):
        return AuthenticationError(
            f"{where} refused the request (HTTP {status}: {text or 'unauthorized'}): pass the "
            f"server's API key as api_key= or set {hints['key']}",
            status_code=status,
        )
    if status == 429:
        return RateLimitError(f"{where} answered 429 Too Many Requests{tries}", status_code=429)
    meaning = server_says(text)
    if meaning == "exists" and status in (400, 409, 500):
        return AlreadyExistsError(f"{call.what or 'it'} already exists", status_code=status)
    if meaning == "no_user" and status in (400, 404):
        return NotFoundError(
            f"the user of {call.what or 'this request'} does not exist", status_code=status
        )
    if status == 409 and failure.keyed:
        # Zep Cloud v4: a request with this Idempotency-Key is still being carried out.
        return OutcomeUnknownError(
            f"{where} was still carrying out an earlier copy of {call.route} for "
            f"{call.what or 'the request'}{tries} (HTTP 409): it may or may not have been "
            "carried out yet. Check the state, then repeat the call if needed."
        )
    if status == 409:
        return AlreadyExistsError(f"{call.what or 'it'} already exists", status_code=409)
    if status in (400, 422):
        return BadRequestError(f"{where} refused {call.route}: {text}", status_code=status)
    if status >= 500:
        return ServerError(
            f"{where} failed {call.route} with HTTP {status}{tries}: {text}", status_code=status
        )
    return BackendError(
        f"{where} answered {call.route} with HTTP {status}: {text}", status_code=status
    )
