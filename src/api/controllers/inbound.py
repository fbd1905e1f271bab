from litestar import Controller, post

from api.auth import requires
from api.params import Body, Ctx
from consent.journey import sms_stop
from consent.journey.sms_stop import InboundSmsIn, InboundSmsOut


class InboundController(Controller):
    """Messages forwarded by providers (authenticated with the tenant's key)."""

    path = "/v1/inbound"
    tags = ["inbound"]

    # 202 whatever the outcome: providers only need to know it was taken.
    @post("/sms", guards=[requires("consents:write")], status_code=202)
    async def sms(self, ctx: Ctx, data: Body[InboundSmsIn]) -> InboundSmsOut:
        return await sms_stop.receive(ctx, data)
