"""The embedded store: Zep's user/session semantics on a local SQLite file."""

from . import _sqlite
from ._sqlite import *  # noqa: F403 - the public names are those of _sqlite.__all__

__all__: list[str] = []
__all__ += _sqlite.__all__
