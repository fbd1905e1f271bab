"""Segment count and export benchmark on a real server, beside anchors measured
in the same run (see bench/README.md, "Bulk figures").

* count: `GET /v1/segments/{id}/count` (a demographic rule; the count asks for
  valid e-mail/newsletter consent) against the equivalent hand-written SQL run
  under the same application role and RLS, alternated, medians;
* export: `GET /v1/segments/{id}/export?format=csv` of the whole audience read
  by curl, rows/s, and the server's resident memory sampled every 10 ms (peak
  above idle); beside a raw `COPY (hand-written audience query) TO STDOUT` with
  no links and no HTTP.

    python bench/audience.py --url http://127.0.0.1:18083 --key KEY --pid PID \
        --tenant-id UUID --import-summary results/import.json --out results/bulk.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

import httpx

DEMOGRAPHIC = {"type": "all", "rules": [
    {"type": "field", "field": "country", "op": "in", "value": ["FR", "BE"]},
    {"type": "field", "field": "birth_year", "op": "between", "value": [1970, 1999]},
]}
EVERYONE = {"type": "all", "rules": []}
PARAMS = {"channel": "email", "purpose": "newsletter"}

# What a DBA would write for the same question, by hand: consent valid now,
# the demographic filter, nobody restricted or on the suppression list.
HAND_COUNT = """
SELECT count(*) FROM contact c
JOIN consent_state s ON s.tenant_id = c.tenant_id AND s.contact_id = c.id
WHERE c.tenant_id = $1 AND c.country IN ('FR', 'BE') AND c.birth_year BETWEEN 1970 AND 1999
  AND s.channel = 'email'
  AND s.purpose_id = (SELECT id FROM purpose WHERE tenant_id = $1 AND key = 'newsletter')
  AND s.status = 'granted' AND (s.expires_at IS NULL OR s.expires_at > now())
  AND c.restricted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM suppression x WHERE x.tenant_id = c.tenant_id
                  AND x.identifier_hash IN (c.email_hash, c.phone_hash)
                  AND x.channel IN ('email', 'all'))"""
HAND_EXPORT = """
SELECT c.id, c.email, c.phone, c.external_id, c.first_name, c.last_name, c.locale, c.country,
       c.postal_code, c.birth_year, c.gender, c.language, c.attributes, c.source,
       c.created_at, c.last_activity_at, s.since
FROM contact c
JOIN consent_state s ON s.tenant_id = c.tenant_id AND s.contact_id = c.id
WHERE c.tenant_id = '{tenant}' AND s.channel = 'email'
  AND s.purpose_id = (SELECT id FROM purpose WHERE tenant_id = '{tenant}' AND key = 'newsletter')
  AND s.status = 'granted' AND (s.expires_at IS NULL OR s.expires_at > now())
  AND c.restricted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM suppression x WHERE x.tenant_id = c.tenant_id
                  AND x.identifier_hash IN (c.email_hash, c.phone_hash)
                  AND x.channel IN ('email', 'all'))"""


def _log(message: str) -> None:
    print(f"[bench audience {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class PeakRss(threading.Thread):
    """Samples a process's resident memory every 10 ms until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._stop_event = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


async def _app_connection(tenant_id: uuid.UUID):
    """A connection as the application role inside a read-only tenant transaction."""
    import asyncpg

    conn = await asyncpg.connect(os.environ["DATABASE_URL"])
    await conn.execute(f"BEGIN READ ONLY; SELECT set_config('app.tenant_id', '{tenant_id}', true)")
    return conn


async def hand_count(tenant_id: uuid.UUID) -> tuple[int, float]:
    conn = await _app_connection(tenant_id)
    try:
        started = time.perf_counter()
        value = await conn.fetchval(HAND_COUNT, tenant_id)
        return value, time.perf_counter() - started
    finally:
        await conn.close()


async def raw_copy(tenant_id: uuid.UUID) -> tuple[int, float]:
    conn = await _app_connection(tenant_id)
    try:
        async def discard(_: bytes) -> None:
            pass

        started = time.perf_counter()
        status = await conn.copy_from_query(HAND_EXPORT.format(tenant=tenant_id), output=discard,
                                            format="csv", header=True)
        return int(status.split()[-1]), time.perf_counter() - started
    finally:
        await conn.close()


def main(args: argparse.Namespace) -> dict:
    headers = {"Authorization": f"Bearer {args.key}"}
    tenant_id = uuid.UUID(args.tenant_id)
    with httpx.Client(base_url=args.url, headers=headers, timeout=600) as client:
        def segment(name: str, rules: dict) -> str:
            response = client.post("/v1/segments", json={"name": name, "rules": rules})
            response.raise_for_status()
            return response.json()["id"]

        demographic, everyone = segment("FR+BE 1970-99", DEMOGRAPHIC), segment("everyone", EVERYONE)

        def our_count() -> tuple[int, float]:
            started = time.perf_counter()
            response = client.get(f"/v1/segments/{demographic}/count", params=PARAMS)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            return response.json()["count"], elapsed

        _log(f"count: {args.rounds} rounds of ours and the hand-written SQL, alternated")
        ours_count, hand_count_s, counts = [], [], set()
        our_count(), asyncio.run(hand_count(tenant_id))  # warm caches and plans alike
        for round_ in range(args.rounds):
            pair = [our_count, lambda: asyncio.run(hand_count(tenant_id))]
            for index, run in enumerate(pair if round_ % 2 == 0 else pair[::-1]):
                value, elapsed = run()
                counts.add(value)
                (ours_count if run is our_count else hand_count_s).append(elapsed)
        if len(counts) != 1:
            raise SystemExit(f"count mismatch between ours and the hand-written SQL: {counts}")

        total = client.get(f"/v1/segments/{everyone}/count", params=PARAMS).json()["count"]
        client.get(f"/v1/segments/{demographic}/export",  # warm the export path
                   params={**PARAMS, "format": "csv"}).raise_for_status()
        time.sleep(1)
        idle = rss_bytes(args.pid)
        exports = []
        for round_ in range(args.rounds):
            raw_rows, raw_s = asyncio.run(raw_copy(tenant_id))
            sampler = PeakRss(args.pid)
            sampler.start()
            url = f"{args.url}/v1/segments/{everyone}/export?channel=email&purpose=newsletter&format=csv"
            curl = subprocess.run(
                ["curl", "-sS", "--fail", "-o", "/dev/null", "-H", f"Authorization: Bearer {args.key}",
                 "-w", "%{size_download} %{time_total}", url],
                capture_output=True, text=True, check=True,
            )
            peak = sampler.stop()
            size, seconds = curl.stdout.split()
            audit = client.get("/v1/audit-events", params={"limit": 200}).json()
            while audit.get("next_cursor"):
                more = client.get("/v1/audit-events",
                                  params={"limit": 200, "cursor": audit["next_cursor"]}).json()
                audit = {"items": audit["items"] + more["items"], "next_cursor": more["next_cursor"]}
            done = [e for e in audit["items"] if e["action"] == "segment.exported"][-1]["details"]
            if done["rows"] != total or not done["complete"] or raw_rows != total:
                raise SystemExit(f"export wrote {done} / raw {raw_rows}; the audience is {total}")
            exports.append({
                "seconds": float(seconds), "bytes": int(size), "rows": total,
                "rows_per_s": total / float(seconds), "peak_rss_above_idle": peak - idle,
                "raw_copy_s": raw_s, "raw_copy_rows_per_s": raw_rows / raw_s,
            })
            _log(f"export {round_ + 1}: {total:,} rows in {float(seconds):.2f} s"
                 f" ({total / float(seconds):,.0f} rows/s), {int(size) / 1e6:.0f} MB,"
                 f" peak RSS +{(peak - idle) / 1e6:.1f} MB; raw COPY {raw_s:.2f} s")
    return {
        "count": {"value": counts.pop(), "ours_s": statistics.median(ours_count),
                  "hand_s": statistics.median(hand_count_s), "ours_runs": ours_count,
                  "hand_runs": hand_count_s},
        "export": {"idle_rss": idle, "runs": exports,
                   "median_rows_per_s": statistics.median(e["rows_per_s"] for e in exports),
                   "max_peak_rss_above_idle": max(e["peak_rss_above_idle"] for e in exports),
                   "median_raw_copy_rows_per_s": statistics.median(
                       e["raw_copy_rows_per_s"] for e in exports)},
    }


def report(imported: dict | None, audience: dict | None) -> str:
    lines = ["| figure | ours | anchor (same run) | ratio | goal | met |",
             "|---|---:|---:|---:|---|---|"]
    if imported:
        lines.append(
            f"| import {imported['rows']:,} contacts + 1 consent each, rows/s"
            f" | {imported['ours_rows_per_s']:,.0f} | {imported['anchor_rows_per_s']:,.0f}"
            " (raw COPY, plain table)"
            f" | {imported['ours_rows_per_s'] / imported['anchor_rows_per_s']:.3f}"
            f" | ≥ 100,000 rows/s | {'yes' if imported['ours_rows_per_s'] >= 100_000 else 'no'} |")
        if imported.get("floor_rows_per_s"):
            floor_ratio = imported["ours_rows_per_s"] / imported["floor_rows_per_s"]
            lines.append(
                f"| import, same rows, database statements alone (floor), rows/s"
                f" | {imported['ours_rows_per_s']:,.0f} | {imported['floor_rows_per_s']:,.0f}"
                f" (INSERT … SELECT into the 4 tables) | {floor_ratio:.2f}"
                f" | ≥ 0.9 | {'yes' if floor_ratio >= 0.9 else 'no'} |")
        if imported.get("ours_over_floor_without_feed"):
            lines.append(
                "| the same, floor without the change feed's rows (3 tables, as before the feed)"
                f" | | | {imported['ours_over_floor_without_feed']:.2f} | (≥ 0.9) | |")
        if imported.get("unsubscribe_p99_s") is not None:
            p99 = imported["unsubscribe_p99_s"]
            lines.append(
                f"| one-click unsubscribes of the same tenant during the import"
                f" ({imported['unsubscribes_during']}), p99 ms (p50, max)"
                f" | {p99 * 1000:,.0f} ({imported['unsubscribe_p50_s'] * 1000:,.0f},"
                f" {imported['unsubscribe_max_s'] * 1000:,.0f})"
                f" | {imported['unsubscribe_idle_p99_s'] * 1000:,.0f} (same, no import)"
                f" | {p99 / imported['unsubscribe_idle_p99_s']:.1f}"
                f" | ≤ 1,000 ms | {'yes' if p99 <= 1.0 else 'no'} |")
        if imported.get("bare_rows_per_s"):
            bare = imported["bare_rows_per_s"]
            lines.append(
                f"| import, database alone into the bare model (4 tables, primary keys only), rows/s"
                f" | {imported['ours_rows_per_s']:,.0f} | {bare:,.0f}"
                f" | {imported['ours_rows_per_s'] / bare:.2f} | ≥ 100,000 rows/s possible at all?"
                f" | {'yes' if bare >= 100_000 else 'no'} |")
        lines.append(
            f"| import CPU, s (Python / PostgreSQL backend) | {imported['python_cpu_s']:.1f}"
            f" / {imported['postgres_cpu_s']:.1f} | | | | |")
    if audience:
        count = audience["count"]
        ratio = count["ours_s"] / count["hand_s"]
        lines.append(
            f"| segment count ({count['value']:,} of the tenant), ms, median"
            f" | {count['ours_s'] * 1000:,.0f} | {count['hand_s'] * 1000:,.0f} (hand-written SQL)"
            f" | {ratio:.2f} | ≤ 1.5 × | {'yes' if ratio <= 1.5 else 'no'} |")
        exported = audience["export"]
        rows = exported["runs"][0]["rows"]
        rate, raw = exported["median_rows_per_s"], exported["median_raw_copy_rows_per_s"]
        lines.append(
            f"| export {rows:,} rows, HTTP CSV, rows/s, median | {rate:,.0f}"
            f" | {raw:,.0f} (raw COPY, no links, no HTTP) | {rate / raw:.2f}"
            f" | ≥ 300,000 rows/s | {'yes' if rate >= 300_000 else 'no'} |")
        peak = exported["max_peak_rss_above_idle"]
        lines.append(
            f"| export server peak RSS above idle, MB | {peak / 1e6:.1f}"
            f" | idle {exported['idle_rss'] / 1e6:.0f} MB | | ≤ 200 MB, flat"
            f" | {'yes' if peak <= 200e6 else 'no'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--tenant-id")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--import-summary", help="bench/imports.py's JSON summary")
    parser.add_argument("--out", required=True)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    imported = None
    if args.import_summary and os.path.exists(args.import_summary):
        with open(args.import_summary) as summary:
            imported = json.loads(summary.read().strip().splitlines()[-1])
    audience = None if args.report_only else main(args)
    with open(args.out, "w") as out:
        json.dump({"import": imported, "audience": audience}, out, indent=1)
    print(report(imported, audience))
