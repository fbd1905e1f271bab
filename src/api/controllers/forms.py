from uuid import UUID

from litestar import Controller, Request, get, patch, post

from api.auth import requires
from api.params import Body, Ctx, Path
from consent.forms import definitions
from consent.forms.schemas import FormIn, FormOut, FormPatch


class FormController(Controller):
    """Form definitions for the tenant's own websites: each change is a version."""

    path = "/v1/forms"
    tags = ["forms"]

    @post("/", guards=[requires("consents:write")])
    async def create(self, ctx: Ctx, request: Request, data: Body[FormIn]) -> FormOut:
        return await definitions.create(ctx, data, request.app.state.settings.public_url)

    @get("/", guards=[requires("consents:read")])
    async def index(self, ctx: Ctx, request: Request) -> list[FormOut]:
        return await definitions.list_forms(ctx, request.app.state.settings.public_url)

    @get("/{form_id:uuid}", guards=[requires("consents:read")])
    async def one(self, ctx: Ctx, request: Request, form_id: Path[UUID]) -> FormOut:
        return await definitions.get(ctx, form_id, request.app.state.settings.public_url)

    @patch("/{form_id:uuid}", guards=[requires("consents:write")])
    async def change(self, ctx: Ctx, request: Request, form_id: Path[UUID],
                     data: Body[FormPatch]) -> FormOut:
        return await definitions.patch(ctx, form_id, data, request.app.state.settings.public_url)
