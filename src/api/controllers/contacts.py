from uuid import UUID

from litestar import Controller, delete, get, patch, post

from api.auth import requires
from api.params import Body, Ctx, Limit, Path, Query
from consent import consents, contacts, erasure
from consent.requests import execution
from consent.schemas import (
    ConsentEventOut,
    ConsentIn,
    ConsentStateOut,
    ContactIn,
    ContactOut,
    ContactPatch,
)
from optinbase.cursors import Page


class ContactController(Controller):
    path = "/v1/contacts"
    tags = ["contacts"]

    @post("/", guards=[requires("contacts:write")])
    async def create(self, ctx: Ctx, data: Body[ContactIn]) -> ContactOut:
        return await contacts.create_contact(ctx, data)

    @get("/", guards=[requires("contacts:read")])
    async def index(
        self, ctx: Ctx, email: Query = None, phone: Query = None, external_id: Query = None,
        limit: Limit = 50, cursor: Query = None,
    ) -> Page:
        return await contacts.list_contacts(
            ctx, email=email, phone=phone, external_id=external_id, limit=limit, cursor=cursor
        )

    @get("/{contact_id:uuid}", guards=[requires("contacts:read")])
    async def show(self, ctx: Ctx, contact_id: Path[UUID]) -> ContactOut:
        return await contacts.get_contact(ctx, contact_id)

    @patch("/{contact_id:uuid}", guards=[requires("contacts:write")])
    async def update(
        self, ctx: Ctx, contact_id: Path[UUID], data: Body[ContactPatch]
    ) -> ContactOut:
        return await contacts.patch_contact(ctx, contact_id, data)

    @delete("/{contact_id:uuid}", guards=[requires("contacts:write")], status_code=204)
    async def erase(self, ctx: Ctx, contact_id: Path[UUID]) -> None:
        """An erasure (GDPR Art. 17), not a soft delete: see consent/erasure.py."""
        await erasure.erase_contact(ctx, contact_id)

    @delete("/{contact_id:uuid}/restriction", guards=[requires("contacts:write")],
            status_code=204)
    async def lift_restriction(self, ctx: Ctx, contact_id: Path[UUID]) -> None:
        """Ends a GDPR Art. 18 restriction set by a request; the person is told."""
        await execution.lift_restriction(ctx, contact_id)

    @post("/{contact_id:uuid}/consents", guards=[requires("consents:write")])
    async def record_consent(
        self, ctx: Ctx, contact_id: Path[UUID], data: Body[ConsentIn]
    ) -> ConsentEventOut:
        return await consents.record_consent(ctx, contact_id, data)

    @get("/{contact_id:uuid}/consents", guards=[requires("consents:read")])
    async def consent_states(self, ctx: Ctx, contact_id: Path[UUID]) -> list[ConsentStateOut]:
        return await consents.list_states(ctx, contact_id)

    @get("/{contact_id:uuid}/consent-events", guards=[requires("consents:read")])
    async def consent_events(
        self, ctx: Ctx, contact_id: Path[UUID], limit: Limit = 100, cursor: Query = None
    ) -> Page:
        return await consents.list_events(ctx, contact_id, limit, cursor)
