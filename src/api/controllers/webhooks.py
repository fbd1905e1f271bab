from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post

from api.auth import requires
from api.listing import BARE_LIMIT, listing, paged
from api.params import Body, Ctx, OptionalLimit, Path, Query
from messaging import webhooks
from messaging.webhooks import WebhookIn, WebhookOut
from optinbase.cursors import Page


class WebhookController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post("/", guards=[requires("admin")])
    async def create(self, ctx: Ctx, request: Request, data: Body[WebhookIn]) -> WebhookOut:
        allow_private = request.app.state.settings.webhook_allow_private
        return await webhooks.create_endpoint(ctx.tenant_id, data, allow_private)

    @get("/", guards=[requires("admin")])
    async def index(self, request: Request, ctx: Ctx, limit: OptionalLimit = None,
                    cursor: Query = None) -> Response[list[WebhookOut] | Page]:
        """As purposes: a bare list, or a page with `limit`/`cursor` (api.listing)."""
        page = await webhooks.list_endpoints(ctx.tenant_id, limit or BARE_LIMIT, cursor)
        return listing(request, page, paged(limit, cursor))

    @delete("/{endpoint_id:uuid}", guards=[requires("admin")])
    async def remove(self, ctx: Ctx, endpoint_id: Path[UUID]) -> None:
        await webhooks.delete_endpoint(ctx.tenant_id, endpoint_id)
