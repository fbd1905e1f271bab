from litestar import get

from optinbase import db
from optinbase.errors import Unavailable


@get("/health", exclude_from_auth=True, sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", exclude_from_auth=True)
async def ready() -> dict[str, str]:
    try:
        await db.fetchval("SELECT 1")
    except Exception as exc:  # any failure to reach the database means not ready
        raise Unavailable(f"database unreachable: {type(exc).__name__}") from None
    return {"status": "ok"}
