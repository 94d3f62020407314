"""Hypothesis strategies for text and JSON values, shared by the property tests.

Two families, after the value rule (``zep_memory_plugins._models``): what every backend keeps
exactly (metadata, message text), and what an adapter's packed copy of a message keeps (any
64-bit integer, any finite float, NUL too). Importable from any test module: ``tests`` is on
the path through its ``conftest.py``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from zep_memory_plugins._models import MAX_COUNT, MAX_METADATA_INTEGER

#: Any character UTF-8 can carry (everything but the surrogate block) and every Zep server
#: keeps (not NUL: the value rule).
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT = st.text(CHARS, max_size=20)
#: What text may hold inside an adapter's packed copy of a message: NUL too.
PACKED_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)

#: Metadata scalars every backend gives back exactly (the value rule): integers a 64-bit float
#: holds, floats that are not whole numbers, text without NUL.
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_METADATA_INTEGER, MAX_METADATA_INTEGER),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    TEXT,
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
#: What an adapter's packed copy keeps exactly: any 64-bit integer, any finite float (whole
#: ones included), text with NUL.
PACKED_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-MAX_COUNT, MAX_COUNT),
    st.sampled_from([2**53 + 1, 2**63 - 1, -(2**63 - 1), 1.0, -0.0, 0.0, 1e308]),
    st.floats(allow_nan=False, allow_infinity=False),
    PACKED_TEXT,
)
PACKED_VALUE = st.recursive(
    PACKED_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PACKED_TEXT, inner, max_size=3),
    max_leaves=8,
)
