"""zep-memory-plugins: persistent, per-user conversation memory for LLM apps.

Zep's user/session API on an embedded SQLite store or a Zep server, with adapters for LangChain
(``zep_memory_plugins.langchain``) and LlamaIndex (``zep_memory_plugins.llama_index``).
"""

from ._client import API_KEY_ENV, API_URL_ENV, MemoryClient, UserClient, ZepMemoryClient
from ._errors import (
    AlreadyExistsError,
    AuthenticationError,
    BackendError,
    BadRequestError,
    ConfigurationError,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    OutcomeUnknownError,
    PartialWriteError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    SessionOwnershipError,
    StoreFileError,
    ZepMemoryError,
)
from ._models import (
    MAX_COUNT,
    MAX_ID_LENGTH,
    MAX_MESSAGE_CONTENT_LENGTH,
    MAX_METADATA_DEPTH,
    MAX_METADATA_LENGTH,
    MAX_TEXT_LENGTH,
    ROLE_TYPES,
    CreateUserRequest,
    Memory,
    Message,
    MessagePage,
    RoleType,
    Session,
    UpdateUserRequest,
    User,
)
from ._settings import Settings
from ._version import __version__
from .backends import Backend, BackendStats, EmbeddedBackend

__all__ = [
    "API_KEY_ENV",
    "API_URL_ENV",
    "MAX_COUNT",
    "MAX_ID_LENGTH",
    "MAX_MESSAGE_CONTENT_LENGTH",
    "MAX_METADATA_DEPTH",
    "MAX_METADATA_LENGTH",
    "MAX_TEXT_LENGTH",
    "ROLE_TYPES",
    "AlreadyExistsError",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "BackendStats",
    "BadRequestError",
    "ConfigurationError",
    "CreateUserRequest",
    "EmbeddedBackend",
    "InvalidInputError",
    "Memory",
    "MemoryClient",
    "Message",
    "MessagePage",
    "MissingDependencyError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PartialWriteError",
    "RateLimitError",
    "RoleType",
    "ServerError",
    "ServiceUnavailableError",
    "Session",
    "SessionOwnershipError",
    "Settings",
    "StoreFileError",
    "UpdateUserRequest",
    "User",
    "UserClient",
    "ZepMemoryClient",
    "ZepMemoryError",
    "__version__",
]
