"""``Settings``: the one place configuration is read (pydantic-settings).

The client, the ``zep-memory`` command line and the test server's command line build one
:class:`Settings` and read everything from it: the Zep server's URL, the API key (a
:class:`~pydantic.SecretStr`, never shown), the embedded store's path, the timeout, the retry
budget, the server's generation, and how long the embedded store keeps soft-deleted data.
Arguments win over the environment variables (``ZEP_API_URL``, ``ZEP_API_KEY``,
``ZEP_API_VERSION``, ``ZEP_MEMORY_PATH``, ``ZEP_MEMORY_RETENTION``), which are read once, when
the object is built; an explicit store path means the embedded store, so no Zep variable is
read then (``ZEP_MEMORY_RETENTION`` still is). Every refusal is a
:class:`~zep_memory_plugins.ConfigurationError` naming the argument or the variable at fault,
never pydantic's ``ValidationError``, and never showing the key.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta
from typing import Any

from pydantic import PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._errors import ConfigurationError
from ._retention import DEFAULT_RETENTION, parse_duration

__all__ = [
    "API_KEY_ENV",
    "API_URL_ENV",
    "API_VERSION_ENV",
    "MEMORY_PATH_ENV",
    "MEMORY_RETENTION_ENV",
    "Settings",
    "ZEP_CLOUD_URL",
    "default_store_path",
    "read_store_path",
    "read_store_retention",
]

#: Environment variable naming the Zep server; when set, the client talks to Zep.
API_URL_ENV = "ZEP_API_URL"
#: Environment variable holding the Zep API key.
API_KEY_ENV = "ZEP_API_KEY"
#: Environment variable naming the Zep server's generation (``v1``, ``v2``, ``v3``, ``v4``;
#: unset: ask it).
API_VERSION_ENV = "ZEP_API_VERSION"
#: Zep Cloud's URL, for ``base_url=`` / ``ZEP_API_URL`` (the client never assumes it: a key
#: is sent only where a URL says).
ZEP_CLOUD_URL = "https://api.getzep.com"
#: Environment variable naming the embedded store's file.
MEMORY_PATH_ENV = "ZEP_MEMORY_PATH"
#: Environment variable: how long the embedded store keeps soft-deleted data (``30d``, ``1h``...).
MEMORY_RETENTION_ENV = "ZEP_MEMORY_RETENTION"

_PREFIX = "ZEP_"
#: How each field is called as an argument of the client (the variable is the field's name in
#: upper case behind ``ZEP_``, for the fields read from the environment).
_ARGUMENT = {
    "api_url": "base_url",
    "api_key": "api_key",
    "api_version": "api_version",
    "memory_path": "path",
    "memory_retention": "retention",
    "timeout": "timeout",
    "max_retries": "max_retries",
}
#: Fields with no environment variable: they are arguments only.
_ARGUMENTS_ONLY = frozenset({"timeout", "max_retries"})
#: Fields where an empty string means "not given" (then the environment decides), as
#: ``base_url=""`` always has.
_EMPTY_IS_UNSET = frozenset({"api_url", "api_key", "api_version"})
_VERSIONS = ("v1", "v2", "v3", "v4")
_MAX_RETRIES = 100


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            "holds a character UTF-8 cannot carry (a lone surrogate: an undecodable "
            "byte from the command line or the environment?)"
        ) from None
    return value


def default_store_path(memory_path: str | None = None) -> str:
    """The embedded store's file: ``memory_path`` (``~`` expanded), else the default.

    The default is ``memory.sqlite3`` in the per-user data directory
    (``~/.local/share/zep-memory-plugins`` on Linux, the platform's equivalent elsewhere).
    """
    if memory_path:
        return os.path.expanduser(memory_path)
    import platformdirs

    return str(
        platformdirs.user_data_path("zep-memory-plugins", appauthor=False) / "memory.sqlite3"
    )


class _Environment(EnvSettingsSource):
    """``ZEP_*`` variables for the fields that have one.

    When a path is an argument, only the embedded store's own ``ZEP_MEMORY_RETENTION``.
    """

    def __init__(self, settings_cls: type[BaseSettings], arguments: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._arguments = arguments

    def __call__(self) -> dict[str, Any]:
        # An explicit store path means the embedded store, whatever ZEP_API_URL / ZEP_API_KEY
        # say: no Zep variable is read then, only the store's own retention.
        found = super().__call__()
        if self._arguments.get("memory_path") is not None:
            return {name: value for name, value in found.items() if name == "memory_retention"}
        return {name: value for name, value in found.items() if name not in _ARGUMENTS_ONLY}


class _SettingsBase(BaseSettings):
    """Environment reading and error translation shared by :class:`Settings` and its store part."""

    model_config = SettingsConfigDict(
        env_prefix=_PREFIX,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        validate_default=False,
        # No .env file, no secrets directory, no command line: only arguments and variables.
    )

    _arguments: frozenset[str] = PrivateAttr(default=frozenset())

    def __init__(self, **values: Any) -> None:
        given = {
            name: value
            for name, value in values.items()
            if value is not None and not (name in _EMPTY_IS_UNSET and value == "")
        }
        unknown = sorted(set(given) - set(type(self).model_fields))
        if unknown:
            raise ConfigurationError(
                f"{type(self).__name__} has no setting {unknown[0]!r}: it holds "
                + ", ".join(type(self).model_fields)
            )
        try:
            super().__init__(**given)
        except ValidationError as exc:
            error = _configuration_error(exc, given)
        else:
            self._arguments = frozenset(given)
            return
        raise error  # outside the handler: pydantic's error is not even chained

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the ``ZEP_*`` environment variables; nothing else."""
        arguments = getattr(init_settings, "init_kwargs", {})
        return init_settings, _Environment(settings_cls, arguments)

    @property
    def arguments(self) -> frozenset[str]:
        """The fields given as arguments; the others come from the environment or defaults."""
        return self._arguments

    memory_path: str | None = None
    #: How long the embedded store keeps soft-deleted sessions revivable before it hard-deletes
    #: them (``ZEP_MEMORY_RETENTION``; ``None``: :data:`~zep_memory_plugins._retention.
    #: DEFAULT_RETENTION`, one hour). Text (``"30d"``, ``"12h"``, ``"0"``), a timedelta, or
    #: seconds.
    memory_retention: timedelta | None = None

    @field_validator("memory_retention", mode="before")
    @classmethod
    def _check_retention(cls, value: object) -> timedelta:
        return parse_duration(value)

    def store_retention(self) -> timedelta:
        """How long the embedded store keeps soft-deleted data: the setting, else one hour."""
        return DEFAULT_RETENTION if self.memory_retention is None else self.memory_retention

    @field_validator("memory_path", mode="before")
    @classmethod
    def _check_path(cls, value: object) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            raise ValueError(f"must be a str or a path, not {type(value).__name__}")
        if not value:
            raise ValueError("is empty: give a file path, or ':memory:' for a throwaway store")
        return _check_text(value)

    def store_path(self) -> str:
        """The embedded store's file: :attr:`memory_path` (``~`` expanded), else the default."""
        return default_store_path(self.memory_path)


def _configuration_error(exc: ValidationError, given: dict[str, Any]) -> ConfigurationError:
    """One clear line for the first problem, naming the argument or the variable; no input."""
    error = exc.errors(include_input=False, include_url=False)[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    if field in given or field in _ARGUMENTS_ONLY:
        name = _ARGUMENT.get(field, field)
    else:
        name = _PREFIX + field.upper()
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] != "value_error":  # pydantic's own words, e.g. "Input should be ..."
        message = f"is not valid: {message[:1].lower()}{message[1:]}"
    return ConfigurationError(f"{name} {message}")


class _StorePath(_SettingsBase):
    """Only the embedded store's settings (``ZEP_MEMORY_PATH``, ``ZEP_MEMORY_RETENTION``).

    What a :class:`~zep_memory_plugins.store.SQLiteStore` built without them reads.
    """


def read_store_path() -> str:
    """The embedded store's file from ``ZEP_MEMORY_PATH`` alone, else the default."""
    return _StorePath().store_path()


def read_store_retention() -> timedelta:
    """The embedded store's retention from ``ZEP_MEMORY_RETENTION`` alone, else one hour."""
    return _StorePath().store_retention()


class Settings(_SettingsBase):
    """Everything the client, the command line and the test server are configured with.

    Built from arguments (the fields below; ``None`` or, for the URL, key and version, ``""``
    means "not given") and, for what is not given, the environment variables ``ZEP_API_URL``,
    ``ZEP_API_KEY``, ``ZEP_API_VERSION``, ``ZEP_MEMORY_PATH`` and ``ZEP_MEMORY_RETENTION``, read
    once, here. When ``memory_path`` is given no Zep variable is read: an explicit path means
    the embedded store.
    ``api_key_env`` names another variable to read the key from; it must then be set.

    Values are checked here (types, ranges, a key an HTTP header can carry, a path without a
    NUL or a lone surrogate) and refused with :class:`~zep_memory_plugins.ConfigurationError`.
    Which backend they choose, and whether they fit together (a key needs a URL), is decided
    when a client is built from them: ``ZepMemoryClient(settings=Settings(...))``.
    """

    #: The Zep server (``ZEP_API_URL``); ``None``: the embedded store.
    api_url: str | None = None
    #: The Zep API key (``ZEP_API_KEY``), stripped of surrounding whitespace; never shown.
    api_key: SecretStr | None = None
    #: ``"v1"``, ``"v2"`` or ``None`` (``ZEP_API_VERSION``; ``"auto"``: ask the server).
    api_version: str | None = None
    #: Zep backend: seconds per attempt (argument only; ``None``: the backend's default).
    timeout: float | None = None
    #: Zep backend: retries after a transient failure (argument only; ``None``: the default).
    max_retries: int | None = None

    def __init__(self, *, api_key_env: str | None = None, **values: Any) -> None:
        if api_key_env is not None:
            if not isinstance(api_key_env, str) or not api_key_env:
                raise ConfigurationError("api_key_env must name an environment variable")
            if values.get("api_key") is not None:
                raise ConfigurationError("pass api_key or api_key_env, not both")
            key = os.environ.get(api_key_env, "")
            if not key.strip():
                raise ConfigurationError(
                    f"the environment variable {api_key_env} is not set or empty: it should "
                    "hold the API key"
                )
            values["api_key"] = key
        super().__init__(**values)

    @field_validator("api_url", mode="before")
    @classmethod
    def _check_url(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a str, not {type(value).__name__}")
        return _check_text(value)

    @field_validator("api_key", mode="before")
    @classmethod
    def _check_key(cls, value: object) -> str | None:
        from .backends.zep._backend import check_api_key

        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return check_api_key(value)  # ConfigurationError, never showing the key

    @field_validator("api_version", mode="before")
    @classmethod
    def _check_version(cls, value: object) -> str | None:
        if not isinstance(value, str):
            raise ValueError(f"must be a str, not {type(value).__name__}")
        version = value.strip().lower()
        if version in ("", "auto"):
            return None
        if version not in _VERSIONS:
            raise ValueError(
                f"must be one of {', '.join(_VERSIONS)} or auto (ask the server), not "
                f"{_shown(value)}"
            )
        return version

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: object) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 < value < math.inf  # also refuses NaN
        ):
            raise ValueError(f"must be a positive, finite number of seconds, not {_shown(value)}")
        return float(value)

    @field_validator("max_retries", mode="before")
    @classmethod
    def _check_max_retries(cls, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_RETRIES:
            raise ValueError(f"must be an int from 0 to {_MAX_RETRIES}, not {_shown(value)}")
        return value

    def api_key_value(self) -> str | None:
        """The API key itself, for the one place that sends it."""
        return None if self.api_key is None else self.api_key.get_secret_value()
