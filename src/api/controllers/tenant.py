from typing import Any

from litestar import Controller, Request, get

from api.params import Ctx


class TenantController(Controller):
    path = "/v1/tenant"
    tags = ["tenant"]

    @get("/")
    async def show(self, ctx: Ctx, request: Request) -> dict[str, Any]:
        tenant = await request.app.state.tenant_directory.by_id(ctx.tenant_id)
        return {
            "id": str(tenant.id),
            "slug": tenant.slug,
            "name": tenant.name,
            "legal_name": tenant.legal_name,
            "dpo_email": tenant.dpo_email,
            "country": tenant.country,
            "settings": tenant.settings,
            "scopes": sorted(ctx.scopes),
        }
