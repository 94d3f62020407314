"""Without llama-index-core the adapters fail clearly; the core library does not need it.

Runs in a fresh interpreter with the package hidden."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_clear_error_without_llama_index_core() -> None:
    code = """
        import sys
        sys.modules["llama_index"] = None
        sys.modules["llama_index.core"] = None
        import zep_memory_plugins  # the core library does not need it
        from zep_memory_plugins import MissingDependencyError
        try:
            import zep_memory_plugins.llama_index
        except MissingDependencyError as exc:
            assert exc.package == "llama-index-core" and exc.extra == "llama-index", exc
            assert "pip install" in str(exc) and isinstance(exc, ImportError)
            print("OK")
        """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.strip() == "OK", result.stderr
