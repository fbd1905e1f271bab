"""What the issue-13 defences cost and show, in process, on a fresh SQLite file
(or DATABASE_URL / DATABASE_OWNER_URL of an empty prepared PostgreSQL):

  * API key failures: the time of an unknown key id and of a real id with a
    wrong secret (each a fresh guess, from a fresh client address so the
    failure limit does not step in), with the argon2 profile of ARGON2_PROFILE
    (default: the production one). The two must be one time class.
  * the shared limiters: one `limits.spend` on the database and, when
    REDIS_URL answers, on Redis.

    .venv/bin/python bench/security.py [--samples 15] [--hits 2000]

Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
CLI = str(ROOT / ".venv" / "bin" / "optinbase")


def _setup() -> str:
    """Migrates the database and makes one tenant and key (the CLI, as an operator would)."""
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    subprocess.run([CLI, "migrate"], check=True, capture_output=True)
    slug = f"bench-{secrets.token_hex(3)}"
    subprocess.run([CLI, "tenants", "create", slug, "--name", "Bench"], check=True,
                   capture_output=True)
    made = subprocess.run([CLI, "keys", "create", "--tenant", slug], check=True,
                          capture_output=True, text=True)
    return made.stdout.strip().splitlines()[-1]


def _ms(values: list[float]) -> dict:
    values = sorted(values)
    return {"median_ms": round(statistics.median(values) * 1e3, 1),
            "p90_ms": round(values[int(len(values) * 0.9) - 1] * 1e3, 1)}


async def _failure(authenticator, key: str, client: str) -> float:
    from optinbase.errors import Unauthorized

    start = time.perf_counter()
    try:
        await authenticator.authenticate(key, client)
    except Unauthorized:
        return time.perf_counter() - start
    raise AssertionError("a forged key was accepted")


async def main(samples: int, hits: int) -> dict:
    full_key = _setup()
    from optinbase import db, limits
    from optinbase.settings import get_settings
    from tenants.keys import KeyAuthenticator

    await db.start(max_size=4)
    try:
        authenticator = KeyAuthenticator()
        real_id = full_key.split("_")[1]
        unknown, wrong = [], []
        await _failure(authenticator, f"obk_{secrets.token_hex(8)}_{'x' * 43}", "warm-up")
        for i in range(samples):
            unknown.append(await _failure(
                authenticator, f"obk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)[:43]}",
                f"u{i}"))
            wrong.append(await _failure(
                authenticator, f"obk_{real_id}_{secrets.token_urlsafe(32)[:43]}", f"w{i}"))
        result = {"argon2_profile": os.environ.get("ARGON2_PROFILE", "rfc9106-low-memory"),
                  "engine": "postgres" if db.is_postgres() else "sqlite",
                  "unknown_key_id": _ms(unknown), "wrong_secret": _ms(wrong)}
        limit = limits.Limit("bench", 10 ** 9, 3600)
        start = time.perf_counter()
        for i in range(hits):
            await limits.spend(limit, f"subject-{i % 50}")
        result["limit_spend_database_us"] = round((time.perf_counter() - start) / hits * 1e6)
        if os.environ.get("BENCH_REDIS_URL"):
            os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
            get_settings.cache_clear()
            limits._redis = None
            start = time.perf_counter()
            for i in range(hits):
                await limits.spend(limit, f"subject-{i % 50}")
            result["limit_spend_redis_us"] = round((time.perf_counter() - start) / hits * 1e6)
        return result
    finally:
        await db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--hits", type=int, default=2000)
    options = parser.parse_args()
    redis_url = os.environ.pop("REDIS_URL", "")  # the database first, Redis after
    if redis_url:
        os.environ["BENCH_REDIS_URL"] = redis_url
    outcome = asyncio.run(main(options.samples, options.hits))
    for name, value in outcome.items():
        print(f"{name:28} {value}")
    print(json.dumps(outcome))
