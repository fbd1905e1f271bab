"""The batch consent check (`POST /v1/consent-check`, 1,000 items) in
process, beside its anchor in the same run: the hand-written query a
developer would write for the same question on the same rows —
`SELECT ... WHERE email = ANY($1)` joined to consent_state — on the same
asyncpg connection, in the same tenant transaction.

Ours does more (each item may name an e-mail, a phone or an id, its own
channel and purpose, suppression and restriction, answers in order), so the
ratio says what that costs. Target: ours ≤ 1.5 × the anchor. Environment:
DATABASE_URL (application role), the seeded bench tenant. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

_ANCHOR = (
    "SELECT c.email, s.status FROM contact c"
    " LEFT JOIN consent_state s ON s.tenant_id = c.tenant_id AND s.contact_id = c.id"
    "  AND s.channel = 'email' AND s.purpose_id = $3"
    " WHERE c.tenant_id = $1 AND c.email = ANY($2::text[])"
)


async def measure(tenant_id: uuid.UUID, items: int, repeats: int) -> dict:
    from consent import checks
    from consent.schemas import CheckItem
    from optinbase import db
    from optinbase.context import TenantContext
    from tenants import repository

    await db.start(max_size=2)
    emails = [f"c{i:06d}@example.com" for i in range(0, items * 97, 97)]
    asked = [CheckItem(channel="email", purpose="newsletter", email=e) for e in emails]
    ours: list[float] = []
    anchor: list[float] = []
    try:
        ctx = TenantContext.for_system(await repository.tenant_by_id(tenant_id), "bench")
        async with db.tenant_transaction(tenant_id, write=False):
            purpose_id = await db.fetchval(
                "SELECT id FROM purpose WHERE tenant_id = {} AND key = 'newsletter'", tenant_id)
            connection = db.get_engine().current_transaction.get().connection
            for round_ in range(repeats + 2):  # two warm-up rounds
                start = time.perf_counter()
                results = await checks.check_many(ctx, asked)
                middle = time.perf_counter()
                rows = await connection.fetch(_ANCHOR, tenant_id, emails, purpose_id)
                end = time.perf_counter()
                if round_ >= 2:
                    ours.append(middle - start)
                    anchor.append(end - middle)
            assert sum(r.allowed for r in results) == len(rows) == items, "seeded rows missing"
    finally:
        await db.stop()
    ours_ms, anchor_ms = statistics.median(ours) * 1e3, statistics.median(anchor) * 1e3
    return {"items": items, "repeats": repeats, "ours_ms": round(ours_ms, 2),
            "anchor_ms": round(anchor_ms, 2), "ratio": round(ours_ms / anchor_ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant-id", required=True, type=uuid.UUID)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.tenant_id, args.items, args.repeats))))


if __name__ == "__main__":
    main()
