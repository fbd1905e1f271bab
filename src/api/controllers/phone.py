"""Calls made to a contact (phone canvassing: consent.phone, consent.calling)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, get, post

from api.auth import requires
from api.params import Body, Ctx, Path
from consent import phone
from consent.schemas import AttemptIn, AttemptOut


class ContactAttemptController(Controller):
    path = "/v1/contacts/{contact_id:uuid}/contact-attempts"
    tags = ["phone canvassing"]

    @post("/", guards=[requires("consents:write")])
    async def create(self, ctx: Ctx, contact_id: Path[UUID], data: Body[AttemptIn]) -> AttemptOut:
        """Records a call or attempted call; `outcome: refused` starts the
        sixty-day pause, and every attempt counts towards four in thirty days."""
        return await phone.record_attempt(ctx, contact_id, data)

    @get("/", guards=[requires("consents:read")])
    async def index(self, ctx: Ctx, contact_id: Path[UUID]) -> list[AttemptOut]:
        return await phone.list_attempts(ctx, contact_id)
