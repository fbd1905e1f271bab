from typing import Optional
from uuid import UUID

from litestar import Controller, Response, get, post

from api import docs
from api.auth import requires
from api.params import Body, Ctx, Limit, Path, Query
from consent.requests import intake, lifecycle, records
from consent.requests.schemas import CloseIn, ExtendIn, RequestIn, RequestOut, VerifyIn
from optinbase.cursors import Page


class RequestController(Controller):
    """Data-subject requests (GDPR Art. 12, 15–21); see consent/requests/."""

    path = "/v1/requests"
    tags = ["data-subject requests"]

    @post("/", guards=[requires("requests:write")])
    async def create(self, ctx: Ctx, data: Body[RequestIn]) -> RequestOut:
        return await intake.receive(ctx, data, source="api")

    @get("/", guards=[requires("requests:read")])
    async def index(self, ctx: Ctx, status: Query = None, limit: Limit = 50,
                    cursor: Query = None) -> Page:
        """`status`: open, overdue, due_soon, or one status (unverified, verified,
        completed, rejected, lapsed). Ordered by due date."""
        return await records.list_requests(ctx, status=status, limit=limit, cursor=cursor)

    @get("/{request_id:uuid}", guards=[requires("requests:read")])
    async def show(self, ctx: Ctx, request_id: Path[UUID]) -> RequestOut:
        return await records.get_request(ctx, request_id)

    @post("/{request_id:uuid}/verify", guards=[requires("requests:write")], status_code=200)
    async def verify(self, ctx: Ctx, request_id: Path[UUID],
                     data: Body[Optional[VerifyIn]] = None) -> RequestOut:
        """The caller attests that it checked the person's identity."""
        return await intake.attest(ctx, request_id, data.note if data else "")

    @post("/{request_id:uuid}/extend", guards=[requires("requests:write")], status_code=200)
    async def extend(self, ctx: Ctx, request_id: Path[UUID], data: Body[ExtendIn]) -> RequestOut:
        return await lifecycle.extend(ctx, request_id, data)

    @post("/{request_id:uuid}/complete", guards=[requires("requests:write")], status_code=200)
    async def complete(self, ctx: Ctx, request_id: Path[UUID],
                       data: Body[Optional[CloseIn]] = None) -> RequestOut:
        return await lifecycle.complete(ctx, request_id, data or CloseIn())

    @post("/{request_id:uuid}/reject", guards=[requires("requests:write")], status_code=200)
    async def reject(self, ctx: Ctx, request_id: Path[UUID],
                     data: Body[Optional[CloseIn]] = None) -> RequestOut:
        return await lifecycle.reject(ctx, request_id, data or CloseIn())

    @get("/{request_id:uuid}/package", guards=[requires("requests:read")],
         operation_class=docs.media_operation(answers=("application/zip",), schema=docs.BINARY))
    async def package(self, ctx: Ctx, request_id: Path[UUID]) -> Response[bytes]:
        _, data = await lifecycle.package_of(ctx, request_id)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="request-{request_id}.zip"'})
