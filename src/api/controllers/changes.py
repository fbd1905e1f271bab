from litestar import Controller, get

from api.auth import requires
from api.params import Ctx, Limit, Query
from consent import changes
from consent.changes import ChangePage


class ChangeController(Controller):
    """The change feed: poll with the last `next_cursor` to keep a copy."""

    path = "/v1/changes"
    tags = ["change feed"]

    @get("/", guards=[requires("consents:read")])
    async def index(self, ctx: Ctx, after: Query = None,
                    limit: Limit = 100) -> ChangePage:
        return await changes.page(ctx, after, limit)
