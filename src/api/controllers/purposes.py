from uuid import UUID

from litestar import Controller, Request, Response, get, post

from api.auth import requires
from api.listing import BARE_LIMIT, listing, paged
from api.params import Body, Ctx, OptionalLimit, Path, Query
from consent import notices, purposes
from consent.schemas import NoticeIn, NoticeOut, PurposeIn, PurposeOut
from optinbase.cursors import Page


class PurposeController(Controller):
    path = "/v1/purposes"
    tags = ["purposes"]

    @post("/", guards=[requires("consents:write")])
    async def create(self, ctx: Ctx, data: Body[PurposeIn]) -> PurposeOut:
        return await purposes.create_purpose(ctx, data)

    @get("/", guards=[requires("consents:read")])
    async def index(self, request: Request, ctx: Ctx, limit: OptionalLimit = None,
                    cursor: Query = None) -> Response[list[PurposeOut] | Page]:
        """A bare list (at most 1000, `Link` to the rest), or with `limit`/`cursor`
        a page `{items, next_cursor}` (api.listing)."""
        page = await purposes.list_purposes(ctx, limit or BARE_LIMIT, cursor)
        return listing(request, page, paged(limit, cursor))

    @get("/{key:str}", guards=[requires("consents:read")])
    async def show(self, ctx: Ctx, key: Path[str]) -> PurposeOut:
        return await purposes.get_purpose(ctx, key)


class NoticeController(Controller):
    path = "/v1/notices"
    tags = ["notices"]

    @post("/", guards=[requires("consents:write")])
    async def create(self, ctx: Ctx, data: Body[NoticeIn]) -> NoticeOut:
        return await notices.create_notice(ctx, data)

    @get("/", guards=[requires("consents:read")])
    async def index(self, request: Request, ctx: Ctx, purpose: Query = None,
                    limit: OptionalLimit = None,
                    cursor: Query = None) -> Response[list[NoticeOut] | Page]:
        """As purposes: a bare list, or a page with `limit`/`cursor`."""
        page = await notices.list_notices(ctx, purpose, limit or BARE_LIMIT, cursor)
        return listing(request, page, paged(limit, cursor))

    @get("/{notice_id:uuid}", guards=[requires("consents:read")])
    async def show(self, ctx: Ctx, notice_id: Path[UUID]) -> NoticeOut:
        return await notices.get_notice(ctx, notice_id)
