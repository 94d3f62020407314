"""``python -m zep_memory_plugins``: the ``zep-memory`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
