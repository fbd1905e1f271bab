"""Re-consent: campaigns (API), the notice change that requires re-consent,
and the public page a re-consent e-mail links to (GET shows the new notice,
only POST grants)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post

from api.auth import requires
from api.controllers.public import client_of
from api.envelope import link_subject
from api.params import Body, Ctx, Limit, Path, Query, Tenant
from api.problems import wants_json
from api.rendering import page
from consent import campaigns, expiry, reconsent
from consent.campaigns import CampaignIn, CampaignOut
from consent.requests import links
from consent.schemas import Input
from optinbase.cursors import Page
from optinbase.i18n import N_


class ReconsentRequiredIn(Input):
    expires_at: dt.datetime


class ReconsentController(Controller):
    path = "/v1"
    tags = ["re-consent"]

    @post("/reconsent-campaigns", guards=[requires("consents:write")])
    async def create(self, ctx: Ctx, data: Body[CampaignIn]) -> CampaignOut:
        """Queues a re-consent e-mail to everyone in the segment's audience for
        the channel and purpose; answers the campaign with its progress."""
        return await campaigns.create_campaign(ctx, data)

    @get("/reconsent-campaigns", guards=[requires("consents:read")])
    async def index(self, ctx: Ctx, limit: Limit = 50, cursor: Query = None) -> Page:
        return await campaigns.list_campaigns(ctx, limit, cursor)

    @get("/reconsent-campaigns/{campaign_id:uuid}", guards=[requires("consents:read")])
    async def show(self, ctx: Ctx, campaign_id: Path[UUID]) -> CampaignOut:
        return await campaigns.get_campaign(ctx, campaign_id)

    @post("/notices/{notice_id:uuid}/require-reconsent", guards=[requires("consents:write")],
          status_code=200)
    async def require(self, ctx: Ctx, notice_id: Path[UUID],
                      data: Body[ReconsentRequiredIn]) -> expiry.ReconsentRequired:
        """Consents under older versions of this notice's purpose expire on `expires_at`."""
        return await expiry.require_reconsent(ctx, notice_id, data.expires_at)


class PublicReconsentPages(Controller):
    """Runs inside the envelope (api.envelope), like the other public pages."""

    path = "/p"
    include_in_schema = False

    @get("/reconsent/{token:str}", opt=link_subject(links.opener("reconsent")))
    async def show(self, request: Request, ctx: Ctx, tenant: Tenant,
                   token: Path[str]) -> Response:
        return _page(request, tenant, await reconsent.page(ctx, tenant, token, confirm=False))

    @post("/reconsent/{token:str}", status_code=200,
          opt=link_subject(links.opener("reconsent")))
    async def confirm(self, request: Request, ctx: Ctx, tenant: Tenant,
                      token: Path[str]) -> Response:
        ip, agent = client_of(request)
        return _page(request, tenant, await reconsent.page(
            ctx, tenant, token, confirm=True, ip=ip, user_agent=agent))


def _page(request: Request, tenant: Any, view: reconsent.ReconsentView) -> Response:
    if wants_json(request):
        return Response(msgspec.to_builtins(view))
    return page("reconsent.html", language=view.language, tenant=tenant,
                title=N_("reconsent.title"), view=view)
