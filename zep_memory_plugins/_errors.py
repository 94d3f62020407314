"""The library's exception hierarchy.

Every error the library raises on purpose derives from :class:`ZepMemoryError`, whatever the
backend (embedded store or a Zep server) and whatever the framework adapter::

    ZepMemoryError
    ├── InvalidInputError (also ValueError)     bad input, refused before anything is stored or sent
    ├── ConfigurationError                       the client cannot be built as configured
    │   └── MissingDependencyError (also ImportError)   an optional package is not installed
    ├── NotFoundError (also LookupError)         the user, session or page does not exist
    ├── AlreadyExistsError                       the user, session or message uuid is taken
    ├── SessionOwnershipError                    a session belongs to another user
    ├── UnsupportedOperationError                this backend does not do that (e.g. purge on Zep)
    └── BackendError                             the backend failed to answer as asked
        ├── BadRequestError                      the server refused the request (HTTP 400, 422)
        ├── AuthenticationError                  wrong or missing API key (HTTP 401, 403)
        ├── RateLimitError                       too many requests (HTTP 429), retries used up
        ├── ServerError                          the server failed (HTTP 5xx), retries used up
        ├── PartialWriteError                    a write of several requests stopped part way
        ├── PendingDeletionError                 an asynchronous delete (Zep Cloud v4) is not
        │                                        done when the wait for it ran out
        ├── ServiceUnavailableError              no answer: refused, timed out, unreachable
        │   └── OutcomeUnknownError              a delete/merge got no answer; not resent
        └── StoreFileError                       the embedded store's file is unusable as it is

Errors that come from a Zep server keep the server's own message in ``str(error)`` and its
status code in ``error.status_code``. No error ever carries an API key.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "BackendError",
    "BadRequestError",
    "ConfigurationError",
    "InvalidInputError",
    "MissingDependencyError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PartialWriteError",
    "PendingDeletionError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "SessionOwnershipError",
    "StoreFileError",
    "UnsupportedOperationError",
    "ZepMemoryError",
]


class ZepMemoryError(Exception):
    """Base class of every error raised by zep-memory-plugins."""

    status_code: int | None = None

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class InvalidInputError(ZepMemoryError, ValueError):
    """An argument was rejected before anything was stored or sent.

    ``field`` names what was wrong (for example ``"user_id"`` or ``"messages[3].role_type"``).
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ConfigurationError(ZepMemoryError):
    """The client cannot be built from the arguments and environment variables given."""


class MissingDependencyError(ConfigurationError, ImportError):
    """An optional dependency is not installed; the message says what to install."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        self.install_hint = f'pip install "zep-memory-plugins[{extra}]"'
        super().__init__(f"{package} is required for this feature: {self.install_hint}")


class NotFoundError(ZepMemoryError, LookupError):
    """The user or session does not exist (or the session was soft-deleted)."""

    status_code = 404


class AlreadyExistsError(ZepMemoryError):
    """A user, session or message with this id or uuid already exists."""

    status_code = 400


class SessionOwnershipError(ZepMemoryError):
    """A session id was used with a user who does not own that session."""


class UnsupportedOperationError(ZepMemoryError):
    """The backend does not offer this operation; the message says who does the job instead.

    For example ``purge_deleted`` on a Zep server, which purges soft-deleted data itself.
    Nothing was sent or changed.
    """


class BackendError(ZepMemoryError):
    """The backend could not carry out the request."""


class BadRequestError(BackendError):
    """The server refused the request as malformed."""

    status_code = 400


class AuthenticationError(BackendError):
    """The server refused the API key (or its absence)."""

    status_code = 401


class RateLimitError(BackendError):
    """The server kept answering 429 Too Many Requests until the retry budget ran out."""

    status_code = 429


class ServerError(BackendError):
    """The server answered with a 5xx status until the retry budget ran out."""

    status_code = 500


class ServiceUnavailableError(BackendError):
    """The server could not be reached, or did not answer in time."""


class OutcomeUnknownError(ServiceUnavailableError):
    """A request that must not be sent twice got no answer: it may or may not have landed.

    Raised for deletes and metadata merges whose attempt timed out or lost its connection: a
    second copy could land after a later write and undo it, so it is not resent blindly.
    """


class PartialWriteError(BackendError):
    """A write that the server needed several requests for stopped part of the way.

    ``stored`` holds the messages that landed, ``pending`` those that did not, each with the
    uuid it was sent with. Calling ``add_messages`` again with the same messages completes the
    write without storing any twice (their uuids were written back to them).
    """

    def __init__(
        self,
        message: str,
        *,
        stored: list[Any],
        pending: list[Any],
        status_code: int | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.stored = stored
        self.pending = pending


class PendingDeletionError(BackendError):
    """A delete the server carries out in the background had not finished in time.

    Zep Cloud v4 deletes users as tasks; the client waits for the task (``task_timeout``
    seconds). ``task`` is the task's uuid: the delete may still finish later; call it again,
    or check, before reusing the id.
    """

    def __init__(self, message: str, *, task: str | None = None) -> None:
        super().__init__(message)
        self.task = task


class StoreFileError(BackendError):
    """The embedded store's file cannot be used as it is, and was left untouched.

    It is not a SQLite database, it is damaged, or a newer release of the library wrote it.
    ``path`` is the file; the message says what to do.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path
