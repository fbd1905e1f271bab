from uuid import UUID

from litestar import Controller, Request, get, post

from api import docs
from api.auth import requires
from api.params import Ctx, Path
from consent.imports import jobs
from consent.schemas import ImportJobOut


class ImportController(Controller):
    path = "/v1/imports"
    tags = ["imports"]

    @post(
        "/", guards=[requires("imports")], status_code=202,
        # The body is the file itself (CSV or NDJSON), far above the JSON limit.
        # Its own format: the parser judges each line (api.guard skips it).
        opt={"max_body_bytes": jobs.MAX_BODY_BYTES, "raw_body": True},
        request_max_body_size=jobs.MAX_BODY_BYTES,
        # The two documented media types; their aliases (jobs.MEDIA_TYPES) are accepted too.
        operation_class=docs.media_operation(takes=("text/csv", "application/x-ndjson")),
    )
    async def create(self, ctx: Ctx, request: Request) -> ImportJobOut:
        return await jobs.submit(
            ctx, await request.body(), request.headers.get("content-type", ""),
            inline_max=request.app.state.settings.import_inline_bytes,
        )

    @get("/{import_id:uuid}", guards=[requires("imports")])
    async def show(self, ctx: Ctx, import_id: Path[UUID]) -> ImportJobOut:
        return await jobs.get_job(ctx, import_id)
