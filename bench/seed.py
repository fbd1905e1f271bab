"""Seeds a benchmark tenant with N contacts, each with a granted e-mail consent.

Runs as the owner role (DATABASE_OWNER_URL; RLS is forced on it too, so every
write happens inside `db.tenant_transaction(tenant_id)`).

* purpose and notice: through the service functions (`purposes.create_purpose`,
  `notices.create_notice`), exactly as the API creates them;
* the first `--real` contacts get their consent through `consents.record_consent`
  (the API's own path: `chain.append` + `apply_to_state`), which also creates
  the ledger head;
* the remaining events continue that chain: built in Python with the ledger's
  own `personal_digest` / `event_hash`, then COPY into a temporary table and
  INSERT ... SELECT into the RLS tables (COPY straight into an RLS table is
  refused); `consent_state` and `ledger_head` follow set-based, with the values
  `apply_to_state` would write. `optinbase ledger verify` checks the result.

Contact e-mails are `c%06d@example.com` (0 .. N-1), already in normalised form.
Writes a JSON summary to stdout (last line).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import sys
import time
import uuid

os.environ["OPTINBASE_DB_ROLE"] = "owner"  # before anything imports piccolo_conf

EMAIL_FORMAT = "c{:06d}@example.com"


def _progress(message: str) -> None:
    print(f"seed: {message}", file=sys.stderr, flush=True)


async def _email_hashes(conn, tenant_id: uuid.UUID, emails: list[str]) -> list[str] | None:
    """`contact.email_hash` as the contacts service writes it, when the schema and
    the code have it (keyed hash for the suppression list); None otherwise."""
    has_column = await conn.fetchval(
        "SELECT count(*) FROM information_schema.columns"
        " WHERE table_name = 'contact' AND column_name = 'email_hash'"
    )
    try:
        from consent import suppression

        hashes_of, tenant_key = suppression.hashes_of, suppression.tenant_key
    except (ImportError, AttributeError):
        return None
    if not has_column:
        return None
    key = await tenant_key(tenant_id)
    return [hashes_of(key, email, None)[0] for email in emails]


async def seed(slug: str, contacts: int, real: int, purpose_key: str, batch: int) -> dict:
    from consent import consents, notices, purposes
    from consent.ledger import chain, states
    from consent.schemas import ConsentIn, NoticeIn, PurposeIn
    from optinbase import db
    from optinbase.context import TenantContext
    from optinbase.normalise import normalise_email
    from tenants import repository

    started = time.perf_counter()
    await db.start(max_size=2)
    try:
        tenant = await repository.tenant_by_slug(slug)
        if tenant is None:
            raise SystemExit(f"seed: no tenant {slug!r}")
        tenant_id = tenant.id
        ctx = TenantContext.for_operator(tenant, "bench-seed")
        engine = db.get_engine()

        # 1. purpose and notice, through the service functions.
        async with db.tenant_transaction(tenant_id):
            purpose = await purposes.create_purpose(
                ctx, PurposeIn(key=purpose_key, name="Newsletter (benchmark)")
            )
            notice = await notices.create_notice(
                ctx,
                NoticeIn(
                    purpose=purpose_key, channels=["email"], language="en",
                    text="Yes, send me the newsletter by e-mail. (benchmark notice)",
                ),
            )
        purpose_id, notice_id = purpose.id, notice.id

        emails = [EMAIL_FORMAT.format(i) for i in range(contacts)]
        for sample in (emails[0], emails[-1]):
            assert normalise_email(sample) == sample, "seed e-mails must be in stored form"
        contact_ids = [uuid.uuid4() for _ in range(contacts)]
        now = dt.datetime.now(dt.timezone.utc)
        base = now - dt.timedelta(days=30)
        # One collected_at per contact, distinct and in the past.
        collected = [base + dt.timedelta(seconds=i) for i in range(contacts)]
        real = min(real, contacts)

        async with db.tenant_transaction(tenant_id):
            conn = engine.current_transaction.get().connection

            # 2. contacts: COPY into a temp table, INSERT ... SELECT under RLS.
            t0 = time.perf_counter()
            email_hashes = await _email_hashes(conn, tenant_id, emails)
            await conn.execute(
                "CREATE TEMP TABLE seed_contact (id uuid, email text, email_hash text,"
                " source text, created_at timestamptz, last_activity_at timestamptz)"
                " ON COMMIT DROP"
            )
            await conn.copy_records_to_table(
                "seed_contact",
                records=[
                    (contact_ids[i], emails[i], email_hashes[i] if email_hashes else None,
                     "bench-seed", now, None if i < real else collected[i])
                    for i in range(contacts)
                ],
            )
            hash_column = ", email_hash" if email_hashes else ""
            await conn.execute(
                "INSERT INTO contact (id, tenant_id, email, attributes, source, created_at,"
                f" updated_at, last_activity_at{hash_column})"
                " SELECT id, $1, email, '{}'::jsonb, source, created_at, created_at,"
                f" last_activity_at{hash_column} FROM seed_contact",
                tenant_id,
            )
            # Foreign-key checks below are planned from these statistics: without
            # them PostgreSQL seq-scans the fresh tables once per inserted row.
            await conn.execute("ANALYZE contact")
            t_contacts = time.perf_counter() - t0
            _progress(f"contacts: {contacts} in {t_contacts:.1f} s")

            # 3. the first `real` consents through the API's own code path.
            t0 = time.perf_counter()
            for i in range(real):
                await consents.record_consent(
                    ctx, contact_ids[i],
                    ConsentIn(channel="email", purpose=purpose_key, action="grant",
                              method="import", notice_id=notice_id, source="bench-seed",
                              collected_at=collected[i]),
                )
            t_real = time.perf_counter() - t0
            _progress(f"real path: {real} consents through record_consent in {t_real:.1f} s")

            # 4. the rest: continue the chain with the ledger's own hash functions.
            t0 = time.perf_counter()
            head = await conn.fetchrow(
                "SELECT seq, hash FROM ledger_head WHERE tenant_id = $1 FOR UPDATE", tenant_id
            )
            if head is None:
                await conn.execute(
                    "INSERT INTO ledger_head (id, tenant_id, seq, hash) VALUES ($1, $2, 0, $3)",
                    uuid.uuid4(), tenant_id, chain.GENESIS,
                )
                seq, prev = 0, chain.GENESIS
            else:
                seq, prev = int(head["seq"]), head["hash"]
            await conn.execute(
                "CREATE TEMP TABLE seed_event (id uuid, seq bigint, contact_id uuid,"
                " collected_at timestamptz, pii_salt text, personal_digest text,"
                " prev_hash text, hash text) ON COMMIT DROP"
            )
            fixed = {
                "tenant_id": tenant_id, "channel": "email", "purpose_id": purpose_id,
                "action": "granted", "notice_id": notice_id, "method": "import",
                "source": "bench-seed", "recorded_at": now, "actor": ctx.actor,
            }
            for start in range(real, contacts, batch):
                records = []
                for i in range(start, min(start + batch, contacts)):
                    seq += 1
                    salt = secrets.token_hex(16)
                    row = dict(fixed)
                    row.update(
                        id=uuid.uuid4(), seq=seq, collected_at=collected[i],
                        personal_digest=chain.personal_digest(salt, contact_ids[i], None, None),
                        prev_hash=prev,
                    )
                    prev = chain.event_hash(row)
                    records.append((row["id"], seq, contact_ids[i], collected[i], salt,
                                    row["personal_digest"], row["prev_hash"], prev))
                await conn.copy_records_to_table("seed_event", records=records)
            await conn.execute(
                "INSERT INTO consent_event (id, tenant_id, seq, contact_id, channel, purpose_id,"
                " action, notice_id, method, source, collected_at, recorded_at, actor, ip,"
                " user_agent, pii_salt, personal_digest, prev_hash, hash)"
                " SELECT id, $1, seq, contact_id, 'email', $2, 'granted', $3, 'import',"
                " 'bench-seed', collected_at, $4, $5, NULL, NULL, pii_salt, personal_digest,"
                " prev_hash, hash FROM seed_event ORDER BY seq",
                tenant_id, purpose_id, notice_id, now, ctx.actor,
            )
            await conn.execute("ANALYZE consent_event")
            _progress(f"events: chain built and inserted in {time.perf_counter() - t0:.1f} s")
            # What apply_to_state writes for a grant: status granted since collected_at.
            await conn.execute(
                "INSERT INTO consent_state (id, tenant_id, contact_id, channel, purpose_id,"
                " status, since, expires_at, event_id, updated_at)"
                " SELECT gen_random_uuid(), $1, contact_id, 'email', $2,"
                " $3, collected_at, NULL, id, $4 FROM seed_event",
                tenant_id, purpose_id, states.STATUS_OF["granted"], now,
            )
            await conn.execute(
                "UPDATE ledger_head SET seq = $1, hash = $2 WHERE tenant_id = $3",
                seq, prev, tenant_id,
            )
            t_bulk = time.perf_counter() - t0
            counts = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM contact) AS contacts,"
                " (SELECT count(*) FROM consent_event) AS events,"
                " (SELECT count(*) FROM consent_state WHERE status = 'granted') AS granted"
            )

        # Fresh statistics and visibility map: no autovacuum/analyze during the runs.
        t0 = time.perf_counter()
        async with engine.pool.acquire() as conn:
            for table in ("contact", "consent_event", "consent_state", "purpose", "notice",
                          "ledger_head", "api_key", "tenant"):
                await conn.execute(f"VACUUM (ANALYZE) {table}")
        t_vacuum = time.perf_counter() - t0
    finally:
        await db.stop()

    return {
        "tenant_id": str(tenant_id),
        "tenant_slug": slug,
        "purpose": purpose_key,
        "purpose_id": str(purpose_id),
        "notice_id": str(notice_id),
        "contacts": int(counts["contacts"]),
        "events": int(counts["events"]),
        "granted": int(counts["granted"]),
        "real_path_events": real,
        "email_format": EMAIL_FORMAT,
        "seconds": {
            "contacts_copy": round(t_contacts, 2),
            "real_path": round(t_real, 2),
            "bulk_events": round(t_bulk, 2),
            "vacuum_analyze": round(t_vacuum, 2),
            "total": round(time.perf_counter() - started, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=50,
                        help="consents recorded through consents.record_consent first")
    parser.add_argument("--purpose", default="newsletter")
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()
    result = asyncio.run(seed(args.tenant, args.contacts, args.real, args.purpose, args.batch))
    expected = args.contacts
    if (result["contacts"], result["events"], result["granted"]) != (expected,) * 3:
        print(f"seed: unexpected counts {result}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
