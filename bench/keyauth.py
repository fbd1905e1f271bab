"""Per-request cost of API-key authentication on the cached path, in process.

After one real (argon2) verification through the database, times with
time.perf_counter:
  * `KeyAuthenticator.cached(key_id, secret)`      -- HMAC + dict lookup;
  * `await KeyAuthenticator.authenticate(full_key)` -- + key parsing (regex);
  * `api.auth.resolve_api_key`                      -- the whole auth wall of a
    request: header parsing, the above, the cached tenant lookup and the
    TenantContext (Litestar's own middleware machinery not included).
Each is run `--calls` times per repeat; the median repeat is reported, and the
best one beside it. Environment: DATABASE_URL (application role). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from types import SimpleNamespace


async def measure(full_key: str, calls: int, repeats: int) -> dict:
    from api.auth import resolve_api_key
    from optinbase import db
    from tenants.keys import KeyAuthenticator, parse
    from tenants.service import TenantDirectory

    await db.start(max_size=2)
    try:
        authenticator = KeyAuthenticator(recheck_seconds=3600)
        directory = TenantDirectory(ttl_seconds=3600)
        t0 = time.perf_counter()
        key = await authenticator.authenticate(full_key)  # argon2 verify + database read
        first_ms = (time.perf_counter() - t0) * 1e3
        key_id, secret = parse(full_key)
        assert authenticator.cached(key_id, secret) == key, "key not cached after a verify"
        scope = {
            "app": SimpleNamespace(state=SimpleNamespace(
                key_authenticator=authenticator, tenant_directory=directory)),
            "headers": [(b"authorization", f"Bearer {full_key}".encode())],
        }
        await resolve_api_key(scope)  # tenant into cache

        def run_cached() -> float:
            cached = authenticator.cached
            start = time.perf_counter()
            for _ in range(calls):
                cached(key_id, secret)
            return time.perf_counter() - start

        async def run_authenticate() -> float:
            authenticate = authenticator.authenticate
            start = time.perf_counter()
            for _ in range(calls):
                await authenticate(full_key)
            return time.perf_counter() - start

        async def run_wall() -> float:
            wall = resolve_api_key
            start = time.perf_counter()
            for _ in range(calls):
                await wall(scope)
            return time.perf_counter() - start

        timings: dict[str, list[float]] = {"cached": [], "authenticate": [], "auth_wall": []}
        for _ in range(repeats):
            timings["cached"].append(run_cached())
            timings["authenticate"].append(await run_authenticate())
            timings["auth_wall"].append(await run_wall())
    finally:
        await db.stop()

    def us(values: list[float], pick) -> float:
        return round(pick(values) / calls * 1e6, 3)

    return {
        "first_verify_ms": round(first_ms, 1),
        "calls": calls,
        "repeats": repeats,
        **{f"{name}_us": us(values, statistics.median) for name, values in timings.items()},
        **{f"{name}_best_us": us(values, min) for name, values in timings.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.key, args.calls, args.repeats))))


if __name__ == "__main__":
    main()
