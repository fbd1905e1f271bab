"""The outbox: enqueue inside the business transaction, deliver afterwards.

Delivery is organised so that one message, one tenant or one kind of work can
never hold up the others:

* **Per tenant, round-robin.** A worker pass asks which tenants have due rows
  (`store.due_tenants`), then serves each of them in turn — one claim of at most
  `batch` rows and at most `slice_seconds` of sending per tenant and pass, the
  first tenant served rotating from pass to pass. Every claim names its tenant
  (`tenant_id = $n ... FOR UPDATE SKIP LOCKED`), so claims route to one shard
  on Citus and any number of workers can run.
* **Priority classes.** `TRANSACTIONAL` (a person is waiting: double-opt-in
  confirmations, request verifications, consent receipts), `STANDARD`, `BULK`
  (retention re-permission mail). A claim takes lower classes first, and a
  second lane of each worker serves only `TRANSACTIONAL`, so a confirmation
  never waits behind 20,000 webhooks — not even behind a batch being sent.
* **Owned leases.** A claim writes a fresh claim token and a lease; before
  each send the worker confirms the row is still leased to its token and
  extends the lease (`store.touch`), a send is cut off well inside the lease,
  and the outcome is recorded only under that token. A worker that stalled
  past its lease finds its rows taken over and sends nothing more.
* **Every failure is the row's own.** Any exception while building or sending
  one message counts an attempt with exponential backoff (30 s doubling to
  1 h, ±10 %) and the row goes `dead` after `MAX_ATTEMPTS`; a message that can
  never be sent as it is (a line break in a header, an unusable address) is
  `dead` at once. Claims skip rows without attempts left. The pass goes on.
* **One Message-ID** per e-mail, fixed at its first claim, reused by every
  attempt, so receivers can recognise a message sent twice (delivery is at
  least once: a worker dying after the SMTP server took a message but before
  the outcome was recorded sends it again once its lease runs out).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import time
import uuid
from typing import Any, Callable, Optional

import httpx

from messaging import egress, store, webhooks
from messaging.mail import Undeliverable, mailbox, mailer_for, render
from optinbase import db
from optinbase.settings import Settings

logger = logging.getLogger("optinbase.outbox")

TRANSACTIONAL, STANDARD, BULK = store.TRANSACTIONAL, store.STANDARD, store.BULK

MAX_ATTEMPTS = 10
LEASE = dt.timedelta(minutes=5)
SEND_BUDGET = 60.0  # seconds one send may take, well inside the lease
BATCH = 50  # rows per claim
SLICE_SECONDS = 10.0  # sending time per tenant and pass before the next tenant's turn


def backoff(attempts: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, ... capped at 1 h, with ±10 % jitter so retries spread."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return dt.timedelta(seconds=seconds * random.uniform(0.9, 1.1))


async def enqueue_email(
    tenant_id: uuid.UUID,
    *,
    to: str,
    subject: str,
    text: str,
    headers: Optional[dict[str, str]] = None,
    contact_id: Optional[uuid.UUID] = None,
    priority: int = STANDARD,
) -> uuid.UUID:
    """Queue an e-mail in the caller's tenant transaction. `priority`:
    TRANSACTIONAL when a person waits for it, BULK for mass mailings."""
    db.require_tenant(tenant_id)
    if priority not in (TRANSACTIONAL, STANDARD, BULK):
        raise ValueError(f"unknown priority {priority!r}")
    message_id = uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    await db.execute(
        "INSERT INTO outbox_message (id, tenant_id, kind, priority, contact_id, recipient, subject,"
        " payload, status, attempts, next_attempt_at, created_at)"
        " VALUES ({}, {}, 'email', {}, {}, {}, {}, {}, 'pending', 0, {}, {})",
        message_id, tenant_id, priority, contact_id, to, subject,
        json.dumps({"text": text, "headers": headers or {}}), now, now,
    )
    return message_id


class OutboxWorker:
    """Delivers the outbox: `run_once` is one pass, `run_forever` polls with
    two lanes (everything by priority; transactional mail alone)."""

    def __init__(self, smtp_url: str, sender: str, poll_seconds: float = 1.0, *,
                 allow_private: bool = False, max_priority: int = BULK, batch: int = BATCH,
                 slice_seconds: float = SLICE_SECONDS, lease: dt.timedelta = LEASE,
                 send_budget: float = SEND_BUDGET):
        """Raises ValueError for an unusable SMTP_URL or sender (at start-up,
        not per message)."""
        if send_budget >= lease.total_seconds():
            raise ValueError("a send must fit inside the lease")
        self.smtp_url, self.sender = smtp_url, sender
        try:
            _, address = mailbox(sender, "MAIL_FROM")
        except Undeliverable as exc:
            raise ValueError(f"MAIL_FROM: {exc}") from None
        self.domain = address.rpartition("@")[2]
        self.mailer = mailer_for(smtp_url)
        self.poll_seconds = poll_seconds
        self.allow_private = allow_private
        self.max_priority = max_priority
        self.batch, self.slice_seconds = batch, slice_seconds
        self.lease, self.send_budget = lease, send_budget
        self._client: Optional[httpx.AsyncClient] = None
        self._first: Optional[uuid.UUID] = None  # tenant served first last pass

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> "OutboxWorker":
        return cls(settings.smtp_url, settings.mail_from,
                   allow_private=settings.webhook_allow_private, **options)

    def lane(self, max_priority: int) -> "OutboxWorker":
        """A sibling with its own connections, serving classes up to `max_priority`."""
        return OutboxWorker(self.smtp_url, self.sender, self.poll_seconds,
                            allow_private=self.allow_private, max_priority=max_priority,
                            batch=self.batch, slice_seconds=self.slice_seconds,
                            lease=self.lease, send_budget=self.send_budget)

    # --- one pass ---------------------------------------------------------------

    async def run_once(self, now: Optional[dt.datetime] = None) -> int:
        """One pass: one turn for every tenant with due rows. Returns how many
        messages were handed over."""
        now = now or dt.datetime.now(dt.timezone.utc)
        started = time.monotonic()

        def clock() -> dt.datetime:  # the pass's `now`, moving with real time
            return now + dt.timedelta(seconds=time.monotonic() - started)

        delivered = 0
        try:
            for tenant_id in self._round_robin(await store.due_tenants(now, self.max_priority)):
                try:
                    delivered += await self._serve(tenant_id, clock)
                except Exception:  # this tenant's turn ends; its leases run out, others go on
                    logger.exception("outbox: serving tenant %s failed", tenant_id)
        finally:
            await self.mailer.close()
        return delivered

    def _round_robin(self, due: list[tuple[uuid.UUID, int]]) -> list[uuid.UUID]:
        """Lower priority classes first; within a class, tenants after the one
        served first last time come first."""
        first = self._first
        order = sorted(due, key=lambda d: (d[1], first is not None and d[0] <= first, d[0]))
        tenants = [tenant_id for tenant_id, _ in order]
        if tenants:
            self._first = tenants[0]
        return tenants

    async def _serve(self, tenant_id: uuid.UUID, clock: Callable[[], dt.datetime]) -> int:
        token = uuid.uuid4()
        now = clock()
        async with db.tenant_transaction(tenant_id):
            rows = await store.claim(tenant_id, token, now, now + self.lease,
                                     max_priority=self.max_priority, limit=self.batch,
                                     max_attempts=MAX_ATTEMPTS, domain=self.domain)
        deadline = time.monotonic() + self.slice_seconds
        delivered = 0
        for index, row in enumerate(rows):
            if time.monotonic() > deadline:  # the next tenant's turn; the rest goes back
                await self._release(tenant_id, token, rows[index:])
                break
            delivered += await self._deliver(tenant_id, token, row, clock) in ("sent", "logged")
        return delivered

    async def _release(self, tenant_id: uuid.UUID, token: uuid.UUID, rows: list[Any]) -> None:
        async with db.tenant_transaction(tenant_id):
            for row in rows:
                await store.record(tenant_id, row["id"], token, "released")

    # --- one message ------------------------------------------------------------

    async def _deliver(self, tenant_id: uuid.UUID, token: uuid.UUID, row: Any,
                       clock: Callable[[], dt.datetime]) -> Optional[str]:
        """Sends one claimed row and records the outcome; returns it (None when
        the lease was taken over: nothing sent, nothing recorded)."""
        error: Optional[str] = None
        try:
            payload = row["payload"]
            payload = json.loads(payload) if isinstance(payload, str) else payload
            async with db.tenant_transaction(tenant_id):
                if not await store.touch(tenant_id, row["id"], token, clock() + self.lease):
                    logger.warning("outbox: lease on %s was taken over; not sending", row["id"])
                    return None
                secret = (await webhooks.endpoint_secret(tenant_id, payload["endpoint_id"])
                          if row["kind"] == "webhook" else None)
            async with asyncio.timeout(self.send_budget):
                status = await self._send(row, payload, secret)
        except webhooks.Cancelled as exc:
            status = "cancelled"
            logger.info("webhook %s not sent: %s", row["id"], exc)
        except Undeliverable as exc:
            status, error = "dead", f"undeliverable: {exc}"
        except Exception as exc:  # whatever it is, it is this row's failure
            status, error = "pending", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return await self._record(tenant_id, token, row, status, error, clock())

    async def _send(self, row: Any, payload: dict[str, Any], secret: Optional[str]) -> str:
        if row["kind"] == "webhook":
            await webhooks.post(self._http(), row, payload, secret or "")
            return "sent"
        if row["kind"] == "email":
            await self.mailer.send(render(self.sender, row["recipient"], row["subject"], payload,
                                          message_id=row["message_id"]))
            return self.mailer.status
        raise Undeliverable(f"unknown message kind {row['kind']!r}")

    async def _record(self, tenant_id: uuid.UUID, token: uuid.UUID, row: Any, status: str,
                      error: Optional[str], now: dt.datetime) -> Optional[str]:
        next_attempt = None
        if status == "pending":
            attempts = int(row["attempts"])
            logger.warning("delivery of %s failed (attempt %d): %s", row["id"], attempts, error)
            if attempts >= MAX_ATTEMPTS:
                status = "dead"
            else:
                next_attempt = now + backoff(attempts)
        elif status == "dead":
            logger.warning("message %s is undeliverable: %s", row["id"], error)
        async with db.tenant_transaction(tenant_id):
            kept = await store.record(tenant_id, row["id"], token, status,
                                      next_attempt_at=next_attempt,
                                      error=error[:1000] if error else None, at=now)
        if not kept:
            logger.warning("outbox: %s was taken over or removed before its outcome (%s)",
                           row["id"], status)
        return status

    def _http(self) -> httpx.AsyncClient:
        # One client per worker lane: connections to an integrator are reused.
        if self._client is None:
            self._client = egress.client(allow_private=self.allow_private,
                                         timeout=webhooks.TIMEOUT)
        return self._client

    async def close(self) -> None:
        await self.mailer.close()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- polling ------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event) -> None:
        """This lane, plus a transactional one beside it (when this one serves more)."""
        lanes = [self] + ([self.lane(TRANSACTIONAL)] if self.max_priority > TRANSACTIONAL else [])
        try:
            await asyncio.gather(*(lane._poll(stop) for lane in lanes))
        finally:
            for lane in lanes:
                await lane.close()

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:  # keep the worker alive; the next poll retries
                logger.exception("outbox worker pass failed")
                busy = 0
            if not busy:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
                except asyncio.TimeoutError:
                    pass
