from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.response import Stream

from api import docs
from api.auth import requires
from api.params import Body, Ctx, FromQuery, Limit, Path, Query
from consent.schemas import Channel
from consent.segments import export as export_formats, service
from consent.segments.schemas import ExportFormat
from consent.segments.schemas import CountOut, SegmentIn, SegmentOut, SegmentPatch
from optinbase.cursors import Page


class SegmentController(Controller):
    path = "/v1/segments"
    tags = ["segments"]

    @post("/", guards=[requires("segments:write")])
    async def create(self, ctx: Ctx, data: Body[SegmentIn]) -> SegmentOut:
        return await service.create_segment(ctx, data)

    @get("/", guards=[requires("segments:read")])
    async def index(self, ctx: Ctx, limit: Limit = 50, cursor: Query = None) -> Page:
        return await service.list_segments(ctx, limit, cursor)

    @get("/{segment_id:uuid}", guards=[requires("segments:read")])
    async def show(self, ctx: Ctx, segment_id: Path[UUID]) -> SegmentOut:
        return await service.get_segment(ctx, segment_id)

    @patch("/{segment_id:uuid}", guards=[requires("segments:write")])
    async def update(
        self, ctx: Ctx, segment_id: Path[UUID], data: Body[SegmentPatch]
    ) -> SegmentOut:
        return await service.patch_segment(ctx, segment_id, data)

    @delete("/{segment_id:uuid}", guards=[requires("segments:write")])
    async def remove(self, ctx: Ctx, segment_id: Path[UUID]) -> None:
        await service.delete_segment(ctx, segment_id)

    @get("/{segment_id:uuid}/count", guards=[requires("segments:read")])
    async def count(
        self, ctx: Ctx, segment_id: Path[UUID], channel: FromQuery[Channel], purpose: FromQuery[str]
    ) -> CountOut:
        return await service.count(ctx, segment_id, channel, purpose)

    @get("/{segment_id:uuid}/export", guards=[requires("exports")],
         operation_class=docs.media_operation(answers=sorted(set(export_formats.MEDIA_TYPES.values()))))
    async def export(
        self, request: Request, ctx: Ctx, segment_id: Path[UUID], channel: FromQuery[Channel],
        purpose: FromQuery[str], format: FromQuery[ExportFormat] = "csv",
    ) -> Stream:
        settings = request.app.state.settings
        run = await service.start_export(
            ctx, segment_id, channel, purpose, format,
            secret_key=settings.secret_key, public_url=settings.public_url,
        )
        return Stream(
            run.chunks, media_type=run.media_type,
            headers={"Content-Disposition": f'attachment; filename="{run.filename}"'},
        )
