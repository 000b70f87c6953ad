"""The API application: `create_app(settings)` builds it, `run_api(settings, bus)` serves it.

from api.main import create_app, run_api
app = create_app(ApiSettings.from_env(), vessels=track_store)   # mount or serve it
run_api(ApiSettings.from_env(), bus)                            # uvicorn + the alert sink
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import problems
from api.context import ApiContext
from api.metrics import LatencyMiddleware
from api.routes import admin, alerts, backtest, detectors, health, rules, token
from api.routes import map as map_routes
from api.routes import trends as trend_routes
from api.routes import vessels as vessel_routes
from api.settings import ApiSettings
from api.sink import consume_alerts
from api.vessels import VesselSource
from lookout.bus.base import Bus

log = logging.getLogger(__name__)

DESCRIPTION = """Alerts about possible people smuggling and distress at sea, shared with partner
agencies according to their sharing agreements (areas of interest, alert types, TLP 2.0).
Authenticate with `Authorization: Bearer <API key>` (or `X-API-Key`), or with a token from
`POST /v1/token`. Every error is an RFC 9457 problem (`application/problem+json`)."""


def create_app(
    settings: ApiSettings,
    *,
    vessels: VesselSource | None = None,
    context: ApiContext | None = None,
) -> FastAPI:
    """The FastAPI app. The database is migrated and agencies.yaml merged now; background
    work (audit writer, webhooks, agency refresh) starts with the app's lifespan."""
    ctx = context or ApiContext.open(settings, vessels)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        ctx.start()
        gc.collect()
        gc.freeze()  # start-up objects out of the collector's way: shorter pauses when serving
        try:
            yield
        finally:
            ctx.close()

    app = FastAPI(
        title="Lookout API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.context = ctx
    problems.install(app)
    for module in (
        alerts,
        vessel_routes,
        admin,
        token,
        health,
        map_routes,
        trend_routes,
        rules,
        backtest,
        detectors,
    ):
        app.include_router(module.router)
    app.add_middleware(alerts.PollFastPath, context=ctx)
    app.add_middleware(LatencyMiddleware, metrics=ctx.metrics)  # outermost: times both
    return app


def run_api(
    settings: ApiSettings,
    bus: Bus | None = None,
    *,
    vessels: VesselSource | None = None,
) -> None:
    """Serve the API with uvicorn on settings.host:port until interrupted; with a bus, also
    consume the `alerts` topic into the store (`consume_alerts`)."""
    import uvicorn

    ctx = ApiContext.open(settings, vessels)
    app = create_app(settings, context=ctx)
    stop = threading.Event()
    sink_thread: threading.Thread | None = None
    if bus is not None:
        sink_thread = threading.Thread(
            target=consume_alerts, args=(ctx.store, bus, stop), name="alert-sink"
        )
        sink_thread.start()
    try:
        uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port)).run()
    finally:
        stop.set()
        if bus is not None:
            bus.begin_stop()  # the sink's last commit and goodbye wait for the broker no longer
        if sink_thread is not None:
            sink_thread.join(timeout=10)
