from typing import Any

from litestar import Controller, Request, get, patch

from api.auth import requires
from api.params import Body, Ctx
from tenants import service
from tenants.repository import TenantRecord
from tenants.schemas import TenantPatch


def _out(tenant: TenantRecord, scopes: frozenset[str]) -> dict[str, Any]:
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "legal_name": tenant.legal_name,
        "dpo_email": tenant.dpo_email,
        "country": tenant.country,
        "settings": tenant.settings,
        "scopes": sorted(scopes),
    }


class TenantController(Controller):
    path = "/v1/tenant"
    tags = ["tenant"]

    @get("/")
    async def show(self, ctx: Ctx, request: Request) -> dict[str, Any]:
        tenant = await request.app.state.tenant_directory.by_id(ctx.tenant_id)
        return _out(tenant, ctx.scopes)

    @patch("/", guards=[requires("admin")])
    async def update(self, ctx: Ctx, request: Request, data: Body[TenantPatch]) -> dict[str, Any]:
        """Name, legal name, DPO e-mail, country and settings (merged key by key):
        double-opt-in channels, link lifetimes, retention, package days, locale;
        branding of pages and e-mails (`logo_url`, `primary_color`, `accent_color`
        as #rrggbb, `footer_text`, `sender_name`, `reply_to`) and the Art. 13
        details pages show (`address`, `dpo_name`, `dpo_address`, `policy_url`)."""
        tenant = await service.update_tenant(ctx, data)
        request.app.state.tenant_directory.forget(tenant)
        return _out(tenant, ctx.scopes)
