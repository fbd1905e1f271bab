from litestar import Controller, delete, get, post

from api.auth import requires
from api.params import Body, Ctx, Limit, Query
from consent import suppression, suppression_list
from consent.schemas import (
    SuppressionCheckOut,
    SuppressionIn,
    SuppressionOut,
    SuppressionRemoveIn,
)
from optinbase.cursors import Page


class SuppressionController(Controller):
    path = "/v1/suppressions"
    tags = ["suppression list"]

    @post("/", guards=[requires("contacts:write")])
    async def add(self, ctx: Ctx, data: Body[SuppressionIn]) -> SuppressionOut:
        return await suppression.add(ctx, data)

    @get("/", guards=[requires("contacts:read")])
    async def index(self, ctx: Ctx, limit: Limit = 50, cursor: Query = None) -> Page:
        """Entries by keyed hash, channel, reason and date; never an address."""
        return await suppression_list.list_entries(ctx, limit, cursor)

    @delete("/", guards=[requires("contacts:write")], status_code=204)
    async def remove(self, ctx: Ctx, data: Body[SuppressionRemoveIn]) -> None:
        """Takes a person off the list (one channel, or every entry when no
        channel is named); `reason` is required and audited; 404 when not listed."""
        await suppression_list.remove(ctx, data)

    @get("/check", guards=[requires("contacts:read")])
    async def check(self, ctx: Ctx, email: Query = None, phone: Query = None) -> SuppressionCheckOut:
        return await suppression.check(ctx, email, phone)
