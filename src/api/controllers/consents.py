from typing import Annotated, Optional
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import Parameter

from api.auth import requires
from consent import audit, consents
from consent.ledger import VerifyResult
from consent.schemas import (
    CheckBatchIn,
    CheckBatchOut,
    CheckItem,
    CheckOut,
    Channel,
    ConsentEventOut,
    Page,
)
from optinbase.context import TenantContext


class ConsentCheckController(Controller):
    path = "/v1/consent-check"
    tags = ["consent check"]

    @get("/", guards=[requires("consents:read")])
    async def check_one(
        self,
        ctx: TenantContext,
        channel: Channel,
        purpose: str,
        email: Optional[str] = None,
        phone: Optional[str] = None,
        contact_id: Optional[UUID] = None,
    ) -> CheckOut:
        item = CheckItem(
            channel=channel, purpose=purpose, email=email, phone=phone, contact_id=contact_id
        )
        return await consents.check(ctx, item)

    # A batch check reads only, yet is a POST: it runs in a read transaction.
    @post("/", guards=[requires("consents:read")], status_code=200)
    async def check_many(self, ctx: TenantContext, data: CheckBatchIn) -> CheckBatchOut:
        return CheckBatchOut(results=await consents.check_many(ctx, data.items))


class LedgerController(Controller):
    path = "/v1"
    tags = ["ledger"]

    @get("/consent-events/{event_id:uuid}", guards=[requires("consents:read")])
    async def event(self, ctx: TenantContext, event_id: UUID) -> ConsentEventOut:
        return await consents.get_event(ctx, event_id)

    @get("/ledger/verify", guards=[requires("consents:read")])
    async def verify(self, ctx: TenantContext) -> VerifyResult:
        return await consents.verify_ledger(ctx)

    @get("/audit-events", guards=[requires("admin")])
    async def audit_events(
        self, ctx: TenantContext, limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        cursor: Optional[str] = None,
    ) -> Page:
        return await audit.list_events(ctx, limit, cursor)
