"""The Litestar application: routers, the two request walls (key → TenantContext,
tenant transaction), problem details, and the database lifespan."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from admin.mount import admin_handlers
from api import cors, docs, rendering
from api.clients import TrueClient
from api.headers import SecurityHeaders
from api.origins import SameOrigin
from api.quickcheck import QuickCheck
from api.auth import resolve_api_key
from api.controllers.changes import ChangeController
from api.controllers.consents import ConsentCheckController, LedgerController, ledger_public_key
from api.controllers.contacts import ContactController
from api.controllers.forms import FormController
from api.controllers.health import health, ready
from api.controllers.metrics import scrape
from api.controllers.imports import ImportController
from api.controllers.inbound import InboundController
from api.controllers.inbound_endpoints import InboundEndpointController, ProviderEvents
from api.controllers.landing import assets_router, landing
from api.controllers.public import PublicPages
from api.controllers.public_forms import PublicForms
from api.controllers.public_requests import PublicRequestPages
from api.controllers.phone import ContactAttemptController
from api.controllers.reconsent import PublicReconsentPages, ReconsentController
from api.controllers.purposes import NoticeController, PurposeController
from api.controllers.requests import RequestController
from api.controllers.segments import SegmentController
from api.controllers.suppressions import SuppressionController
from api.controllers.tenant import TenantController
from api.controllers.webhooks import WebhookController
from api.problems import to_problem
from api.requestlog import RequestLog, trusted_networks
from api.envelope import (
    Envelope,
    current_context,
    current_tenant,
    resolve_provider,
    resolve_subject,
)
from messaging.outbox import OutboxWorker
from optinbase import db, i18n, process
from workers.housekeeping import run_periodic
from optinbase.settings import Settings, get_settings
from tenants.keys import KeyAuthenticator
from tenants.service import TenantDirectory


# Who calls, as resolved by the envelope (api.envelope): the handlers' `ctx` and `tenant`.
CALLER = {"ctx": Provide(current_context, sync_to_thread=False),
          "tenant": Provide(current_tenant, sync_to_thread=False)}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    # Built now, so an unusable SMTP_URL or MAIL_FROM stops the start-up.
    worker = OutboxWorker.from_settings(settings) if settings.outbox_worker else None
    # The text catalogues are read now (tens of ms): a broken one stops the start-up,
    # and the first page does not wait for them.
    for language in i18n.LANGUAGES:
        i18n.translations(language)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        await db.start(max_size=settings.db_pool_max)
        process.started()
        stop, worker_task = asyncio.Event(), None
        if worker is not None:  # in-process delivery; `optinbase worker` scales it out
            worker_task = asyncio.gather(worker.run_forever(stop), run_periodic(stop))
        try:
            yield
        finally:
            stop.set()
            if worker_task is not None:
                await worker_task
            await db.stop()

    v1 = Router(
        path="/",
        route_handlers=[
            TenantController,
            PurposeController,
            NoticeController,
            ContactController,
            ConsentCheckController,
            LedgerController,
            SegmentController,
            SuppressionController,
            RequestController,
            ImportController,
            InboundController,
            WebhookController,
            ChangeController,
            InboundEndpointController,
            FormController,
            ReconsentController,
            ContactAttemptController,
        ],
        middleware=[*cors.middleware(settings.cors_origins),
                    DefineMiddleware(Envelope, resolve=resolve_api_key,
                                     max_body_bytes=settings.max_body_bytes, idempotent=True)],
        dependencies=CALLER,
        parameters=docs.HEADERS,
        security=[{"apiKey": []}],
    )
    pages = Router(
        path="/",
        route_handlers=[PublicPages, PublicRequestPages, PublicReconsentPages],
        middleware=[DefineMiddleware(SameOrigin, public_url=settings.public_url,
                                     origins=settings.form_origins),
                    DefineMiddleware(Envelope, resolve=resolve_subject,
                                     max_body_bytes=settings.max_body_bytes)],
        dependencies=CALLER,
        include_in_schema=False,
        opt={"page": True},  # errors answer the error page to browsers (api.problems)
    )
    # Forms embedded on tenants' sites: each checks the Origin against its own
    # allowed origins (api.controllers.public_forms), not the pages' SameOrigin.
    embedded = Router(
        path="/",
        route_handlers=[PublicForms],
        middleware=[DefineMiddleware(Envelope, resolve=resolve_subject,
                                     max_body_bytes=settings.max_body_bytes)],
        dependencies=CALLER,
        include_in_schema=False,
        opt={"page": True},
    )
    # E-mail providers' events: no key, the endpoint's id names the tenant.
    inbound = Router(
        path="/",
        route_handlers=[ProviderEvents],
        middleware=[DefineMiddleware(Envelope, resolve=resolve_provider,
                                     max_body_bytes=settings.max_body_bytes)],
        dependencies=CALLER,
        security=[],
    )
    key_authenticator = KeyAuthenticator(recheck_seconds=settings.key_cache_seconds)
    app = Litestar(
        route_handlers=[health, ready, scrape, landing, assets_router(), ledger_public_key,
                        docs.assets_router(), v1, pages, embedded, inbound,
                        *admin_handlers(settings, key_authenticator)],
        lifespan=[database],
        template_config=TemplateConfig(
            directory=rendering.TEMPLATES, engine=JinjaTemplateEngine
        ),
        exception_handlers={Exception: to_problem},
        openapi_config=docs.openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
    )
    docs.document(app)
    # Around everything Litestar answers, unmatched routes and errors included:
    # the client address first (api.clients), the security headers last (api.headers).
    # Inside them, the consent check's steady state skips the route pipeline
    # (api.quickcheck); everything else reaches Litestar as before.
    quick = QuickCheck(app.asgi_handler, app, cors=bool(settings.cors_origins))
    app.asgi_handler = SecurityHeaders(TrueClient(quick, settings.trusted_proxies),
                                       production=settings.production)
    app.state.settings = settings
    app.state.key_authenticator = key_authenticator
    app.state.tenant_directory = TenantDirectory(ttl_seconds=settings.key_cache_seconds)
    # Outermost: request id, the one log line and the metrics of every answer.
    app.asgi_handler = RequestLog(app.asgi_handler, trusted_networks(settings))
    return app
