"""Zep Cloud v4's cursor pages: ``page_size``, ``cursor``, ``order_by``, ``order``.

A page is ``{"items": [...], "total_size": n, "next_cursor": "..."}``; ``next_cursor`` is
absent on the last page. The cursor is opaque to clients; here it holds the order it was made
for and the sort key of the last item served, and the next page starts after that key (so an
item created or deleted between two pages shifts nothing). Items with equal sort values keep
their creation order; a null value sorts as the largest.

Documented for Cloud (spec §3.1-3.2; not observed, no Cloud server was reachable): ``page_size`` 1
to 200, default 50; ``next_cursor`` absent on the last page. chosen: everything else here -- the
cursor's contents and encoding, continuing after the last key (not an offset), ties by creation
order, nulls last, ``order`` ``asc`` by default, and the 400 bodies (``invalid_cursor`` and the
texts) for a bad ``page_size``, ``order_by``, ``order`` or cursor.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

from starlette.requests import Request

from ._cloud import CloudError, invalid
from ._http import HTTPError, query_int

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Ordered", "page"]

#: ``page_size`` when the request has none.
DEFAULT_PAGE_SIZE = 50
#: Largest ``page_size`` accepted (1 to 200).
MAX_PAGE_SIZE = 200

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ORDERS = ("asc", "desc")


class Ordered(Protocol):
    """Anything listed: it knows its creation number."""

    @property
    def seq(self) -> int:
        """Creation order."""


_T = TypeVar("_T", bound=Ordered)


def _plain(value: Any) -> Any:
    """A sort value as JSON can carry it and Python compares it."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(microseconds=1)
    return value if isinstance(value, (str, int)) else str(value)


def _key(value: Any, seq: int) -> list[Any]:
    # chosen: a null sorts after every value; ties keep the creation order (seq).
    return [1, "", seq] if value is None else [0, _plain(value), seq]


def _decode(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        decoded = json.loads(raw)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        decoded = None
    if not (isinstance(decoded, list) and len(decoded) == 3 and isinstance(decoded[2], list)):
        raise CloudError(400, "invalid_cursor", "cursor is not one this server gave", "cursor")
    return decoded


def _encode(order_by: str, order: str, key: list[Any]) -> str:
    # chosen: base64url of [order_by, order, last key]; Cloud's cursor format is not known.
    raw = json.dumps([order_by, order, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def page_size(request: Request) -> int:
    """``page_size``: 1 to 200, default 50; else a 400."""
    try:
        size = query_int(request, "page_size", trim=False)
    except HTTPError:
        size = -1
    if "page_size" not in request.query_params:
        return DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}", "page_size")
    return size


def page(
    request: Request,
    items: Sequence[_T],
    orders: Mapping[str, Callable[[_T], Any]],
    to_json: Callable[[_T], dict[str, Any]],
) -> dict[str, Any]:
    """One page of ``items`` as the request asks for it.

    ``orders``: the ``order_by`` values allowed (the first is the default), each with the value
    an item sorts by. ``order`` is ``asc`` (default) or ``desc``.
    """
    size = page_size(request)
    order_by = request.query_params.get("order_by") or next(iter(orders))
    if order_by not in orders:
        raise invalid(f"order_by must be one of {', '.join(orders)}", "order_by")
    # chosen: asc when no order is given (Cloud's default is not documented, spec §3.1).
    order = request.query_params.get("order") or "asc"
    if order not in _ORDERS:
        raise invalid("order must be asc or desc", "order")
    value = orders[order_by]

    def key(item: _T) -> list[Any]:
        return _key(value(item), item.seq)

    ranked = sorted(items, key=key, reverse=order == "desc")
    remaining = ranked
    cursor = request.query_params.get("cursor")
    if cursor:
        made_for_by, made_for_order, last = _decode(cursor)
        if (made_for_by, made_for_order) != (order_by, order):
            raise CloudError(
                400, "invalid_cursor", "cursor was made for another order_by or order", "cursor"
            )
        try:
            if order == "asc":
                remaining = [x for x in ranked if key(x) > last]
            else:
                remaining = [x for x in ranked if key(x) < last]
        except TypeError:
            raise CloudError(
                400, "invalid_cursor", "cursor is not one this server gave", "cursor"
            ) from None
    chosen = remaining[:size]
    out: dict[str, Any] = {"items": [to_json(x) for x in chosen], "total_size": len(ranked)}
    if len(remaining) > size:
        out["next_cursor"] = _encode(order_by, order, key(chosen[-1]))
    return out
