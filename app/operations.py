"""Liveness and readiness for load balancers and orchestrators."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.caching.http import NO_STORE, http_cache
from app.problems import problem_responses, problem_response
from app.serving import DRAINING

router = APIRouter(tags=["Operations"])


class Health(BaseModel):
    status: str


# Even liveness can fail unexpectedly; generated clients should know that error's shape.
@router.get(
    "/healthz",
    summary="Check the process is alive",
    response_model=Health,
    responses=problem_responses(500),
    dependencies=[http_cache(NO_STORE)],
)
async def check_health() -> Health:
    """Answers while the process can serve HTTP; it does not touch the database."""
    return Health(status="ok")


@router.get(
    "/readyz",
    dependencies=[http_cache(NO_STORE)],
    summary="Check the service is ready",
    response_model=Health,
    responses=problem_responses(503),
)
async def check_readiness(request: Request) -> Health | JSONResponse:
    """Ready when the database answers and the process is not shutting down; a 503 problem otherwise."""
    if DRAINING.is_set():
        # First thing on SIGTERM: the load balancer stops sending before connections are refused.
        return problem_response(request, 503, "The server is shutting down.", kind="not-ready")
    try:
        async with request.app.state.engine.connect() as connection:
            # Autocommit: a readiness probe must not queue behind writers for a lock.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database means "not ready"
        return problem_response(request, 503, "The database does not answer.", kind="not-ready")
    return Health(status="ready")
