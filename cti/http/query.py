"""A query parameter the API reads once may be sent once.

FastAPI keeps the last of ``?agent=1001&agent=1002`` and drops the rest without a
word; the client meant something we cannot know, so it gets a 422 instead. The
parameters that are lists (``?status=open&status=closed``) are read from the route's
own OpenAPI entry, so the rule needs no upkeep when routes change.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from cti.errors import InvalidInput


def _is_list(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(_is_list(s) for s in schema.get("anyOf", ()))


def _list_params(app: FastAPI, path: str, method: str) -> frozenset[str]:
    operation = app.openapi().get("paths", {}).get(path, {}).get(method.lower(), {})
    return frozenset(
        p["name"]
        for p in operation.get("parameters", ())
        if p.get("in") == "query" and _is_list(p.get("schema", {}))
    )


async def reject_repeated_query(conn: HTTPConnection) -> None:
    """An app-wide dependency: 422 when a single-valued query parameter comes twice."""
    if conn.scope["type"] != "http":
        return
    counts = Counter(name for name, _ in conn.query_params.multi_items())
    repeated = sorted(name[:64] for name, n in counts.items() if n > 1)
    if not repeated:
        return
    path = getattr(conn.scope.get("route"), "path_format", None)
    if path is not None:
        lists = _list_params(conn.app, path, conn.scope["method"])
        repeated = [name for name in repeated if name not in lists]
    if repeated:
        raise InvalidInput(
            f"invalid query.{repeated[0]}: give it once",
            details=[{"field": f"query.{name}", "message": "give it once"} for name in repeated],
        )
