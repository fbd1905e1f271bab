"""Metrics in the Prometheus text format (`prometheus-client`), for `GET /metrics`.

Two kinds:
* **Counted where it happens**, per process: HTTP requests by method, route
  template and status class, their duration (histogram by route template),
  import rows processed and rejected, connections of the database pool in
  use. With several server processes (`optinbase serve --workers N`) they live
  in `PROMETHEUS_MULTIPROC_DIR` (the client library's multi-process mode;
  `serve` makes a fresh directory when none is set) and a scrape of any
  process sums every process's files.
* **Read at scrape time** from the database and the files beside it, by the
  process that answers: outbox depth by class, kind and status, age of the
  oldest due message per class, dead messages; open and overdue data-subject
  requests; age of the newest ledger checkpoint and of the stalest tenant's
  newest one. They are never stored per process, so they are never summed twice.

Labels are bounded: route templates (`/v1/contacts/{contact_id}`, never a raw
path), status classes (`2xx`), priority classes and kinds — no tenant slug, no
address, no id.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from optinbase import db
from optinbase.settings import get_settings

CONTENT_TYPE = CONTENT_TYPE_LATEST
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLASSES = {0: "transactional", 1: "standard", 2: "bulk"}
KINDS = ("email", "webhook")  # what the outbox delivers

REQUESTS = Counter("optinbase_http_requests", "HTTP requests answered",
                   ["method", "route", "status_class"])
DURATION = Histogram("optinbase_http_request_duration_seconds",
                     "Time to answer an HTTP request", ["route"],
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IMPORT_ROWS = Counter("optinbase_import_rows", "Rows of finished imports", ["outcome"])
POOL_IN_USE = Gauge("optinbase_db_pool_in_use", "Database connections checked out of the pool",
                    multiprocess_mode="livesum")
POOL_SIZE = Gauge("optinbase_db_pool_size", "Database connections open in the pool",
                  multiprocess_mode="livesum")


# Labelled children, looked up once: `labels()` takes a lock and builds a key
# on every call, a noticeable share of a request's bookkeeping. Bounded like
# the labels themselves (methods × route templates × status classes).
_counters: dict[tuple[str, str, int], Any] = {}
_histograms: dict[str, Any] = {}


# The pool gauges are read at most this often while requests are answered (and
# at every scrape): counting the pool walks each of its connections, twice.
POOL_EVERY_SECONDS = 1.0
_pool_read_at = 0.0


def record_request(method: Optional[str], route: str, status: int, seconds: float) -> None:
    global _pool_read_at
    method = method if method in METHODS else "OTHER"  # bounded: never a caller's word
    key = (method, route, status // 100)
    counter = _counters.get(key)
    if counter is None:
        counter = _counters[key] = REQUESTS.labels(method, route, f"{status // 100}xx")
    counter.inc()
    histogram = _histograms.get(route)
    if histogram is None:
        histogram = _histograms[route] = DURATION.labels(route)
    histogram.observe(seconds)
    now = time.monotonic()
    if now - _pool_read_at >= POOL_EVERY_SECONDS:
        _pool_read_at = now
        _pool()


def record_import(processed: int, rejected: int) -> None:
    IMPORT_ROWS.labels("processed").inc(processed)
    IMPORT_ROWS.labels("rejected").inc(rejected)


def _pool() -> None:
    pool = getattr(db.get_engine(), "pool", None)
    if pool is not None:
        size = pool.get_size()
        POOL_SIZE.set(size)
        POOL_IN_USE.set(size - pool.get_idle_size())


# --- read at scrape time ------------------------------------------------------

_SQLITE_OUTBOX = (
    "SELECT priority, kind, status, COUNT(*) AS n,"
    " MIN(CASE WHEN status = 'pending' AND next_attempt_at <= {} THEN next_attempt_at END)"
    " AS oldest FROM outbox_message WHERE status IN ('pending', 'sending', 'dead')"
    " GROUP BY priority, kind, status"
)
_SQLITE_REQUESTS = (
    "SELECT CASE WHEN due_at < {} THEN 'overdue' ELSE 'open' END AS status, COUNT(*) AS n"
    " FROM data_subject_request WHERE status IN ('unverified', 'verified') GROUP BY 1"
)


def _when(value: Any) -> Optional[dt.datetime]:
    if value is None or isinstance(value, dt.datetime):
        return value
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


async def _database_rows(now: dt.datetime) -> list[tuple[str, Optional[int], Optional[str],
                                                           str, float, Optional[float]]]:
    """(source, priority, kind, status, count, oldest due age): the outbox and
    the open requests, over every tenant."""
    if db.is_postgres():
        async with db.across_tenants():
            rows = await db.fetch("SELECT * FROM optinbase_ops_gauges({})", now)
        return [(r["source"], r["priority"], r["kind"], r["status"], float(r["n"]),
                 r["oldest_due_seconds"]) for r in rows]
    result = []
    for r in await db.fetch(_SQLITE_OUTBOX, now):
        oldest = _when(r["oldest"])
        result.append(("outbox", int(r["priority"]), r["kind"], r["status"], float(r["n"]),
                       (now - oldest).total_seconds() if oldest else None))
    for r in await db.fetch(_SQLITE_REQUESTS, now):
        result.append(("requests", None, None, r["status"], float(r["n"]), None))
    return result


async def oldest_due_seconds(now: dt.datetime) -> float:
    """Age of the oldest message waiting past its due time, any class (0: none)."""
    ages = [row[5] for row in await _database_rows(now) if row[0] == "outbox" and row[5]]
    return max(ages, default=0.0)


def _checkpoint_ages(directory: Path, now: float) -> tuple[Optional[float], Optional[float]]:
    """(age of the newest checkpoint of any tenant, age of the stalest
    tenant's newest one), from the checkpoint log files' modification times."""
    try:
        stamps = [entry.stat().st_mtime for entry in os.scandir(directory)
                  if entry.name.endswith(".jsonl")]
    except FileNotFoundError:
        return None, None
    if not stamps:
        return None, None
    return now - max(stamps), now - min(stamps)


def _families(rows: Iterable[tuple], checkpoint_ages: tuple) -> list[GaugeMetricFamily]:
    depth = GaugeMetricFamily("optinbase_outbox_messages",
                              "Outbox messages by priority class, kind and status",
                              labels=["class", "kind", "status"])
    oldest = GaugeMetricFamily("optinbase_outbox_oldest_due_seconds",
                               "Age of the oldest message waiting past its due time",
                               labels=["class", "kind"])
    dead = GaugeMetricFamily("optinbase_outbox_dead_messages",
                             "Messages given up on (kept for staff to see)")
    requests = GaugeMetricFamily("optinbase_requests_open",
                                 "Open data-subject requests (overdue: past their due date)",
                                 labels=["state"])
    counts: dict[tuple, float] = {}
    # Every class and kind is always there (0: nothing waits), so an alert on
    # webhooks backing up does not depend on one having waited once.
    ages: dict[tuple[str, str], float] = {(name, kind): 0.0 for name in CLASSES.values()
                                          for kind in KINDS}
    totals = {"open": 0.0, "overdue": 0.0}
    dead_total = 0.0
    for source, priority, kind, status, n, age in rows:
        if source == "requests":
            totals[status] = totals.get(status, 0.0) + n
            continue
        name = CLASSES.get(priority, "other")
        counts[(name, kind, status)] = counts.get((name, kind, status), 0.0) + n
        dead_total += n if status == "dead" else 0.0
        if age:
            ages[(name, kind)] = max(ages.get((name, kind), 0.0), age)
    for labels, n in sorted(counts.items()):
        depth.add_metric(list(labels), n)
    for labels, age in sorted(ages.items()):
        oldest.add_metric(list(labels), age)
    dead.add_metric([], dead_total)
    requests.add_metric(["open"], totals["open"] + totals["overdue"])
    requests.add_metric(["overdue"], totals["overdue"])
    families = [depth, oldest, dead, requests]
    newest, stalest = checkpoint_ages
    if newest is not None:
        family = GaugeMetricFamily("optinbase_ledger_checkpoint_age_seconds",
                                   "Age of the newest published ledger checkpoint"
                                   " (newest: any tenant; stalest: the tenant whose newest is"
                                   " oldest)", labels=["which"])
        family.add_metric(["newest"], newest)
        family.add_metric(["stalest"], stalest)
        families.append(family)
    return families


class _Snapshot:
    """A collector yielding families computed before the scrape."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return self.families


async def exposition() -> bytes:
    """The whole scrape: this process's (or every process's) counters and the
    gauges read now."""
    now = dt.datetime.now(dt.timezone.utc)
    _pool()
    families = _families(await _database_rows(now), _checkpoint_ages(
        Path(get_settings().ledger_checkpoint_dir), time.time()))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(_Snapshot(families))
    return generate_latest(registry)


class _Default:
    """The process's own metrics (the client library's default registry)."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()
