"""The FastAPI application: every router, the error contract and the static pages.

The composition root hands it the services routers may use (:class:`HttpServices`).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from cti.acd.router import router as hotlines_router
from cti.agents.router import router as agents_router
from cti.calls.router import router as calls_router
from cti.clicktocall.router import router as click_to_call_router
from cti.confirmations.router import router as confirmations_router
from cti.http.deps import HttpServices
from cti.http.docs import router as docs_router
from cti.http.errors import install_error_handlers
from cti.http.headers import SecurityHeaders
from cti.http.health import router as health_router
from cti.http.limits import BodyLimit, BodyLimits
from cti.http.query import reject_repeated_query
from cti.orders.router import router as orders_router
from cti.queues.router import router as queues_router
from cti.recordings.pause_router import router as recording_pause_router
from cti.recordings.review_router import router as reviews_router
from cti.recordings.router import router as recordings_router
from cti.screenpop.router import STATIC
from cti.screenpop.router import router as screenpop_router
from cti.shops.router import router as shops_router
from cti.stats.router import router as stats_router
from cti.tickets.router import router as tickets_router
from cti.webhooks.router import router as webhooks_router

IMPORT_PATH = "/api/v1/orders:import"
DO_NOT_CALL_IMPORT_PATH = "/api/v1/do-not-call:import"


def create_http_app(services: HttpServices) -> FastAPI:
    settings = services.settings
    app = FastAPI(
        title="CTI hotline service",
        version="1",
        description="Hotline routing, screen-pop, call records and order confirmation "
        "for e-commerce call centres on Asterisk.",
        dependencies=[Depends(reject_repeated_query)],
        # Our own /docs serves Swagger UI from cti/static (no CDN, no inline script).
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(docs_router)
    app.include_router(calls_router)
    app.include_router(click_to_call_router)
    app.include_router(recording_pause_router)
    app.include_router(hotlines_router)
    app.include_router(agents_router)
    app.include_router(stats_router)
    app.include_router(queues_router)
    app.include_router(orders_router)
    app.include_router(tickets_router)
    app.include_router(webhooks_router)
    app.include_router(shops_router)
    app.include_router(confirmations_router)
    app.include_router(recordings_router)
    app.include_router(reviews_router)
    app.include_router(screenpop_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(
        BodyLimits,
        default=BodyLimit(settings.http_max_body_bytes, settings.http_body_timeout),
        per_path={
            path: BodyLimit(settings.http_max_import_bytes, settings.http_import_timeout)
            for path in (IMPORT_PATH, DO_NOT_CALL_IMPORT_PATH)
        },
    )
    app.add_middleware(SecurityHeaders)
    return app
