"""OpenAI's cursor lists: `{object: "list", data, first_id, last_id, has_more}`, paged by `limit`,
`order` (asc | desc by creation, desc by default) and the cursors `after` / `before` (an id from
an earlier page). Rows are ordered by (created_at, id), so rows made in the same instant still
page in one stable order. A cursor naming nothing in the list is a 400, not an empty page: a
client that lost its place should know.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from gateway.errors import invalid

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class ListQuery:
    limit: int
    order: str  # "asc" | "desc"
    after: str | None
    before: str | None


def parse_list_query(params: Any, *, default_limit: int = 20, max_limit: int = 100) -> ListQuery:
    """`limit`, `order`, `after` and `before` from the query string, checked."""
    raw_limit = params.get("limit")
    limit = default_limit
    if raw_limit is not None:
        # ASCII digits only: str.isdigit() is also true of "²", which int() refuses.
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= max_limit:
            raise invalid(f"'limit' must be a whole number from 1 to {max_limit}.", param="limit")
        limit = int(raw_limit)
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid("'order' must be asc or desc.", param="order")
    return ListQuery(limit=limit, order=order, after=params.get("after") or None, before=params.get("before") or None)


def page(rows: QuerySet[M], query: ListQuery, key: str = "pk") -> tuple[list[M], bool]:
    """One page of `rows` (already scoped to the caller) and whether more follow it. `key` is the
    field holding the public id the cursors name (a vector store file's is its file's id)."""
    descending = query.order == "desc"
    for name, cursor in (("after", query.after), ("before", query.before)):
        if cursor is None:
            continue
        # A NUL cannot be in an id (nor sent to Postgres): it names nothing.
        anchor = None if "\x00" in cursor else rows.filter(**{key: cursor}).values("created_at", key).first()
        if anchor is None:
            raise invalid(f"'{name}' names no object of this list: '{cursor}'.", param=name)
        later = (name == "after") != descending  # rows that come after the anchor in time
        time, tie = anchor["created_at"], anchor[key]
        if later:
            rows = rows.filter(Q(created_at__gt=time) | Q(created_at=time, **{f"{key}__gt": tie}))
        else:
            rows = rows.filter(Q(created_at__lt=time) | Q(created_at=time, **{f"{key}__lt": tie}))
    ordering = ("-created_at", f"-{key}") if descending else ("created_at", key)
    if query.before is not None and query.after is None:
        # The page just before the cursor: read backwards from it, then put it in order again.
        backwards = ("created_at", key) if descending else ("-created_at", f"-{key}")
        found = list(rows.order_by(*backwards)[: query.limit + 1])
        return list(reversed(found[: query.limit])), len(found) > query.limit
    found = list(rows.order_by(*ordering)[: query.limit + 1])
    return found[: query.limit], len(found) > query.limit


def list_body(items: list[M], has_more: bool, render: Callable[[M], dict[str, Any]]) -> dict[str, Any]:
    data = [render(item) for item in items]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
