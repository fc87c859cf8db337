"""OpenAI's list envelope, built in one place for every list route.

`{"object": "list", "data": [...]}`, then what the route's OpenAI list carries, in OpenAI's key
order: a page's `first_id`/`last_id` (files, checkpoints, evals and their runs and items) and
`has_more` (every paginated list); the embeddings list's `model` and `usage`. The SDK's cursor
pages stop when `has_more` is false and ask for `after = data[-1].id` otherwise, so `has_more`
must be exact and every item of a page must have an `id` (spec §1.3).
"""

from __future__ import annotations

from typing import Any

__all__ = ["list_object", "page"]


def list_object(data: list[Any], **fields: Any) -> dict[str, Any]:
    """`{"object": "list", "data": data}` followed by `fields`, in the order given."""
    return {"object": "list", "data": data, **fields}


def page(data: list[dict[str, Any]], has_more: bool, *, cursors: bool = True) -> dict[str, Any]:
    """One page of a paginated list; `cursors` adds `first_id` and `last_id` (None when the
    page is empty), which OpenAI's jobs and events lists do not carry."""
    if not cursors:
        return list_object(data, has_more=has_more)
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return list_object(data, first_id=first, last_id=last, has_more=has_more)
