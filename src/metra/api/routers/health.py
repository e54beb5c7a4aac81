"""Liveness for load balancers and `metra serve`'s own check: the process answers and the
database does. Public, rate-limited per source, and says nothing about the data."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import text

from metra import __version__
from metra.api.auth import limit
from metra.api.context import ApiContext, context
from metra.api.permissions import PUBLIC_ROUTE
from metra.api.problems import responses

router = APIRouter(tags=["health"], responses=responses(429, 503))


class Health(BaseModel):
    status: str
    version: str


@router.get(
    "/health",
    response_model=Health,
    openapi_extra=PUBLIC_ROUTE,
    dependencies=[Depends(limit)],
    operation_id="health",
)
def health(ctx: ApiContext = Depends(context)) -> Health:
    """The process answers and the database answers."""
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", version=__version__)
