"""The outbox: enqueue inside the business transaction, deliver afterwards.

Workers claim due messages in small batches (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so any number of workers can run; SQLite's write lock serialises
claims), send outside any transaction, then record the outcome. A claim is a
lease: a worker that dies mid-send leaves rows in `sending` whose lease runs
out, and another worker takes them again — delivery is at least once.
Failures are retried with exponential backoff; nothing is dropped until the
attempts run out, and even then the row stays (`dead`) for staff to see.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import uuid
from typing import Any, Optional

import httpx

from messaging import webhooks
from messaging.mail import DeliveryError, build_message, mailer_for
from optinbase import db
from tenants import envelope

logger = logging.getLogger("optinbase.outbox")

MAX_ATTEMPTS = 10
LEASE = dt.timedelta(minutes=5)
BATCH = 50


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
) -> uuid.UUID:
    """Queue an e-mail in the caller's tenant transaction."""
    db.require_tenant(tenant_id)
    message_id = uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    await db.execute(
        "INSERT INTO outbox_message (id, tenant_id, kind, contact_id, recipient, subject,"
        " payload, status, attempts, next_attempt_at, created_at)"
        " VALUES ({}, {}, 'email', {}, {}, {}, {}, 'pending', 0, {}, {})",
        message_id, tenant_id, contact_id, to, subject,
        json.dumps({"text": text, "headers": headers or {}}), now, now,
    )
    return message_id


_CLAIM = (
    "UPDATE outbox_message SET status = 'sending', locked_until = {}, attempts = attempts + 1"
    " WHERE id IN (SELECT id FROM outbox_message"
    "  WHERE (status = 'pending' AND next_attempt_at <= {})"
    "     OR (status = 'sending' AND locked_until < {})"
    "  ORDER BY next_attempt_at LIMIT {}{lock})"
    " RETURNING id, tenant_id, kind, recipient, subject, payload, attempts"
)


class OutboxWorker:
    def __init__(self, smtp_url: str, sender: str, poll_seconds: float = 1.0):
        self.mailer = mailer_for(smtp_url)
        self.sender = sender
        self.poll_seconds = poll_seconds
        self._client: Optional[httpx.AsyncClient] = None

    async def claim(self, now: dt.datetime, limit: int = BATCH) -> list[Any]:
        lock = db.row_lock(skip_locked=True)
        async with envelope.worker("outbox"):
            return await db.fetch(_CLAIM.replace("{lock}", lock), now + LEASE, now, now, limit)

    async def run_once(self, now: Optional[dt.datetime] = None) -> int:
        """Claims and delivers one batch; returns how many were handed over."""
        now = now or dt.datetime.now(dt.timezone.utc)
        delivered = 0
        for row in await self.claim(now):
            payload = row["payload"]
            payload = json.loads(payload) if isinstance(payload, str) else payload
            status = self.mailer.status
            try:
                if row["kind"] == "webhook":
                    await webhooks.post(self._http(), row, payload)
                    status = "sent"
                elif row["kind"] == "email":
                    await self.mailer.send(
                        build_message(self.sender, row["recipient"], row["subject"], payload)
                    )
                else:
                    raise DeliveryError(f"unknown message kind {row['kind']!r}")
            except DeliveryError as exc:
                await self._failed(row, str(exc), now)
                continue
            except webhooks.Cancelled as exc:
                status = "cancelled"
                logger.info("webhook %s not sent: %s", row["id"], exc)
            await self._done(row["id"], status)
            delivered += status != "cancelled"
        return delivered

    def _http(self) -> httpx.AsyncClient:
        # One client per worker: connections to an integrator are reused.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=webhooks.TIMEOUT, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _done(self, message_id: Any, status: str) -> None:
        async with envelope.worker("outbox"):
            await db.execute(
                "UPDATE outbox_message SET status = {}, sent_at = {}, locked_until = NULL,"
                " last_error = NULL WHERE id = {}",
                status, dt.datetime.now(dt.timezone.utc), message_id,
            )

    async def _failed(self, row: Any, error: str, now: dt.datetime) -> None:
        attempts = int(row["attempts"])
        status = "dead" if attempts >= MAX_ATTEMPTS else "pending"
        logger.warning("delivery of %s failed (attempt %d): %s", row["id"], attempts, error)
        async with envelope.worker("outbox"):
            await db.execute(
                "UPDATE outbox_message SET status = {}, next_attempt_at = {}, locked_until = NULL,"
                " last_error = {} WHERE id = {}",
                status, now + backoff(attempts), error[:1000], row["id"],
            )

    async def run_forever(self, stop: asyncio.Event) -> None:
        try:
            await self._poll(stop)
        finally:
            await self.close()

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
