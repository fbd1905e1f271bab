"""Cost of the per-request bookkeeping (api.requestlog: request id, one JSON
log line, metrics) around a bare ASGI answer, in-process, no network:
`.venv/bin/python bench/requestlog.py`. Log lines go to /dev/null, so the
figure is formatting and bookkeeping, not a terminal's speed."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "src"))

from api.requestlog import RequestLog  # noqa: E402
from optinbase import logs  # noqa: E402

REQUESTS = 20_000


async def _bare(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _receive() -> dict:
    return {"type": "http.request", "body": b""}


async def _send(message: dict) -> None:
    pass


async def main() -> None:
    logs.configure()
    for handler in logging.getLogger().handlers:
        handler.stream = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    scope = {"type": "http", "method": "GET", "path": "/health", "headers": [],
             "client": ("127.0.0.1", 1), "path_template": "/health"}
    for name, app in (("bare answer", _bare), ("with RequestLog", RequestLog(_bare, []))):
        started = time.perf_counter()
        for _ in range(REQUESTS):
            await app(dict(scope), _receive, _send)
        print(f"{name}: {(time.perf_counter() - started) / REQUESTS * 1e6:.1f} µs per request")


if __name__ == "__main__":
    asyncio.run(main())
