import datetime as dt
from typing import Any, Optional
from uuid import UUID

from litestar import Controller, Response, get, post

from api import docs
from api.auth import requires
from api.params import Body, Ctx, FromQuery, Limit, Path, Query
from consent import consents, receipts
from consent.ledger import checkpoints, signing
from consent.ledger.chain import VerifyResult
from consent.schemas import (
    Channel,
    CheckBatchIn,
    CheckBatchOut,
    CheckItem,
    CheckOut,
    ConsentEventOut,
)
from optinbase import audit
from optinbase.cursors import Page


class ConsentCheckController(Controller):
    path = "/v1/consent-check"
    tags = ["consent check"]

    @get("/", guards=[requires("consents:read")])
    async def check_one(
        self,
        ctx: Ctx,
        channel: FromQuery[Channel],
        purpose: FromQuery[str],
        email: Query = None,
        phone: Query = None,
        contact_id: FromQuery[Optional[UUID]] = None,
        at: FromQuery[Optional[dt.datetime]] = None,
    ) -> CheckOut:
        """`at` (RFC 3339 with its zone): for `channel=phone`, the time of the
        intended call, which the calling rules are applied to (default now)."""
        item = CheckItem(
            channel=channel, purpose=purpose, email=email, phone=phone, contact_id=contact_id,
            at=at,
        )
        return await consents.check(ctx, item)

    @post("/", guards=[requires("consents:read")], status_code=200)
    async def check_many(self, ctx: Ctx, data: Body[CheckBatchIn]) -> CheckBatchOut:
        return CheckBatchOut(results=await consents.check_many(ctx, data.items))


class LedgerController(Controller):
    path = "/v1"
    tags = ["ledger"]

    @get("/consent-events/{event_id:uuid}", guards=[requires("consents:read")])
    async def event(self, ctx: Ctx, event_id: Path[UUID]) -> ConsentEventOut:
        return await consents.get_event(ctx, event_id)

    @get("/consent-events/{event_id:uuid}/receipt", guards=[requires("consents:read")],
         operation_class=docs.media_operation(answers=("application/json", "application/ld+json"),
                                              schema=docs.OBJECT))
    async def receipt(
        self, ctx: Ctx, event_id: Path[UUID], format: FromQuery[receipts.Format] = "kantara"
    ) -> Response[dict[str, Any]]:
        body = await receipts.receipt(ctx, event_id, format)
        media = "application/ld+json" if format == "iso27560" else "application/json"
        return Response(body, media_type=media)

    @get("/ledger/verify", guards=[requires("consents:read")], opt={"own_transaction": True})
    async def verify(self, ctx: Ctx) -> VerifyResult:
        """The chain and every published checkpoint, read in one snapshot."""
        return await consents.verify_ledger(ctx)

    @get("/ledger/checkpoints", guards=[requires("consents:read")])
    async def list_checkpoints(self, ctx: Ctx, limit: Limit = 100,
                               cursor: Query = None) -> checkpoints.CheckpointPage:
        """The tenant's published checkpoints, oldest first, from its checkpoint log."""
        return await checkpoints.list_page(ctx.tenant_id, limit, cursor)

    @get("/audit-events", guards=[requires("admin")])
    async def audit_events(self, ctx: Ctx, limit: Limit = 100, cursor: Query = None) -> Page:
        return await audit.list_events(ctx, limit, cursor)


@get("/v1/ledger/public-key", tags=["ledger"])
async def ledger_public_key() -> signing.PublicKeyOut:
    """The key that verifies checkpoints (log, receipts, webhooks). Public, no
    API key: whoever holds a receipt must be able to check it."""
    return signing.public_key()
