"""/healthz (the process answers), /readyz (and its database does), /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Context
from api.problems import ProblemError
from api.routes.alerts import _problem_responses
from api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> Any:
    return {"status": "ok"}


@router.get("/readyz", response_model=HealthPublic, responses=_problem_responses(503))
def readyz(context: Context) -> Any:
    try:
        context.store.ping()
    except Exception as exc:
        raise ProblemError(
            503, "not-ready", f"database unreachable: {type(exc).__name__}"
        ) from None
    return {"status": "ready"}


@router.get("/metrics", include_in_schema=False)
async def metrics(context: Context) -> Response:
    data = await run_in_threadpool(generate_latest, context.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
