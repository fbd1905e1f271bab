from litestar import Controller, get, post

from api.auth import requires
from consent import notices, purposes
from consent.schemas import NoticeIn, NoticeOut, PurposeIn, PurposeOut
from optinbase.context import TenantContext
from uuid import UUID


class PurposeController(Controller):
    path = "/v1/purposes"
    tags = ["purposes"]

    @post("/", guards=[requires("consents:write")])
    async def create(self, ctx: TenantContext, data: PurposeIn) -> PurposeOut:
        return await purposes.create_purpose(ctx, data)

    @get("/", guards=[requires("consents:read")])
    async def index(self, ctx: TenantContext) -> list[PurposeOut]:
        return await purposes.list_purposes(ctx)

    @get("/{key:str}", guards=[requires("consents:read")])
    async def show(self, ctx: TenantContext, key: str) -> PurposeOut:
        return await purposes.get_purpose(ctx, key)


class NoticeController(Controller):
    path = "/v1/notices"
    tags = ["notices"]

    @post("/", guards=[requires("consents:write")])
    async def create(self, ctx: TenantContext, data: NoticeIn) -> NoticeOut:
        return await notices.create_notice(ctx, data)

    @get("/", guards=[requires("consents:read")])
    async def index(self, ctx: TenantContext, purpose: str | None = None) -> list[NoticeOut]:
        return await notices.list_notices(ctx, purpose)

    @get("/{notice_id:uuid}", guards=[requires("consents:read")])
    async def show(self, ctx: TenantContext, notice_id: UUID) -> NoticeOut:
        return await notices.get_notice(ctx, notice_id)
