"""Query parameters several routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from cti.bounds import DB_INT_MAX

Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX, description="rows to skip")]
