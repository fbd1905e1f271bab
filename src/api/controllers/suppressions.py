from litestar import Controller, get, post

from api.auth import requires
from api.params import Body, Ctx, Query
from consent import suppression
from consent.schemas import SuppressionCheckOut, SuppressionIn, SuppressionOut


class SuppressionController(Controller):
    path = "/v1/suppressions"
    tags = ["suppression list"]

    @post("/", guards=[requires("contacts:write")])
    async def add(self, ctx: Ctx, data: Body[SuppressionIn]) -> SuppressionOut:
        return await suppression.add(ctx, data)

    @get("/check", guards=[requires("contacts:read")])
    async def check(self, ctx: Ctx, email: Query = None, phone: Query = None) -> SuppressionCheckOut:
        return await suppression.check(ctx, email, phone)
