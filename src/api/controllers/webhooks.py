from uuid import UUID

from litestar import Controller, Request, delete, get, post

from api.auth import requires
from api.params import Body, Ctx, Path
from messaging import webhooks
from messaging.webhooks import WebhookIn, WebhookOut


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post("/", guards=[requires("admin")])
    async def create(self, ctx: Ctx, request: Request, data: Body[WebhookIn]) -> WebhookOut:
        allow_private = request.app.state.settings.webhook_allow_private
        return await webhooks.create_endpoint(ctx.tenant_id, data, allow_private)

    @get("/", guards=[requires("admin")])
    async def index(self, ctx: Ctx) -> list[WebhookOut]:
        return await webhooks.list_endpoints(ctx.tenant_id)

    @delete("/{endpoint_id:uuid}", guards=[requires("admin")])
    async def remove(self, ctx: Ctx, endpoint_id: Path[UUID]) -> None:
        await webhooks.delete_endpoint(ctx.tenant_id, endpoint_id)
