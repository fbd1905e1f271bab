from uuid import UUID

from litestar import Controller, get, post

from api.auth import requires
from api.params import Body, Ctx, Path, Query
from consent import notices, purposes
from consent.schemas import NoticeIn, NoticeOut, PurposeIn, PurposeOut


class PurposeController(Controller):
    path = "/v1/purposes"
    tags = ["purposes"]

    @post("/", guards=[requires("consents:write")])
    async def create(self, ctx: Ctx, data: Body[PurposeIn]) -> PurposeOut:
        return await purposes.create_purpose(ctx, data)

    @get("/", guards=[requires("consents:read")])
    async def index(self, ctx: Ctx) -> list[PurposeOut]:
        return await purposes.list_purposes(ctx)

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
    async def index(self, ctx: Ctx, purpose: Query = None) -> list[NoticeOut]:
        return await notices.list_notices(ctx, purpose)

    @get("/{notice_id:uuid}", guards=[requires("consents:read")])
    async def show(self, ctx: Ctx, notice_id: Path[UUID]) -> NoticeOut:
        return await notices.get_notice(ctx, notice_id)
