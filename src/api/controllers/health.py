"""`GET /health` (the process answers) and `GET /ready` (it can do its work:
`optinbase.readiness` says what is checked)."""

from litestar import Request, Response, get

from api import docs
from api.problems import problem
from optinbase import readiness


@get("/health", exclude_from_auth=True, sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", exclude_from_auth=True, responses={503: docs.PROBLEM_RESPONSES[503]})
async def ready(request: Request) -> Response[dict[str, str]]:
    """200 `{"status": "ok"}`, or 503 problem+json whose `reasons` name every
    failed check (`database_unreachable`, `migrations_missing`,
    `outbox_stalled`, `signing_key_missing`), each explained in `checks`."""
    failures = await readiness.failures(request.app.state.settings)
    if not failures:
        return Response({"status": "ok"})
    return problem(503, "; ".join(f.detail for f in failures), "not-ready",
                   reasons=[f.reason for f in failures],
                   checks=[{"reason": f.reason, "detail": f.detail} for f in failures])
