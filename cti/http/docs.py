"""``/docs``: Swagger UI from our own static files (works offline, no inline script)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
async def swagger_ui() -> FileResponse:
    return FileResponse(STATIC / "docs.html", media_type="text/html; charset=utf-8")
