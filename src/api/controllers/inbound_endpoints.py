from litestar import Controller, Request, delete, get, post

from api.auth import requires
from api.params import Body, Ctx, Path, Tenant
from messaging.inbound import endpoints, receive
from messaging.inbound.endpoints import InboundEndpointIn, InboundEndpointOut
from messaging.inbound.handling import Summary


class InboundEndpointController(Controller):
    """A tenant's endpoints for its e-mail providers' events."""

    path = "/v1/inbound-endpoints"
    tags = ["inbound endpoints"]

    @post("/", guards=[requires("admin")])
    async def create(self, ctx: Ctx, request: Request,
                     data: Body[InboundEndpointIn]) -> InboundEndpointOut:
        return await endpoints.create(ctx, data, request.app.state.settings.public_url)

    @get("/", guards=[requires("admin")])
    async def index(self, ctx: Ctx, request: Request) -> list[InboundEndpointOut]:
        return await endpoints.list_endpoints(ctx, request.app.state.settings.public_url)

    @delete("/{endpoint_id:str}", guards=[requires("admin")])
    async def remove(self, ctx: Ctx, endpoint_id: Path[str]) -> None:
        await endpoints.disable(ctx, endpoint_id)


class ProviderEvents(Controller):
    """Where providers post (no bearer key: each provider's own proof)."""

    path = "/inbound"
    tags = ["inbound endpoints"]

    @post("/{provider:str}/{endpoint_id:str}", status_code=200)
    async def events(self, ctx: Ctx, tenant: Tenant, request: Request, provider: Path[str],
                     endpoint_id: Path[str]) -> Summary:
        return await receive.receive(
            ctx, tenant, provider, endpoint_id, dict(request.headers), await request.body(),
            sns_test_host=request.app.state.settings.inbound_sns_test_host)
