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
* **Owned leases.** A claim writes a fresh claim token and a lease (5 min);
  a send starts only while the lease outlasts it (its 60 s budget, after
  which it is cut off, plus a 30 s margin), else the worker first extends the
  lease under its token (`store.touch`) and drops the rows another worker has
  taken over meanwhile; outcomes are recorded only under the token. A worker
  that stalled past its lease sends nothing more of that batch.
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
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import httpx

from messaging import branded, egress, store, webhooks
from messaging.mail import Rendered, Undeliverable, mailbox, mailer_for, render
from optinbase import db, logs
from optinbase.settings import Settings
from tenants import envelope, repository

logger = logging.getLogger("optinbase.outbox")

TRANSACTIONAL, STANDARD, BULK = store.TRANSACTIONAL, store.STANDARD, store.BULK

MAX_ATTEMPTS = 10
LEASE = dt.timedelta(minutes=5)
SEND_BUDGET = 60.0  # seconds one send may take, well inside the lease
BATCH = 50  # rows per claim
SLICE_SECONDS = 10.0  # sending time per tenant and pass before the next tenant's turn
# A send starts only if the lease outlasts it by this much (else it is extended
# first): worker clocks may differ a little (keep them synchronised).
LEASE_MARGIN = dt.timedelta(seconds=30)
RECORD_EVERY = 10  # outcomes recorded together (at least once per turn)


def _endpoint_of(row: Any) -> Optional[str]:
    """The webhook endpoint a row goes to, if it says (a malformed payload
    fails at delivery, as that row's failure)."""
    try:
        payload = row["payload"]
        return str(uuid.UUID(str(payload["endpoint_id"]))) if row["kind"] == "webhook" else None
    except Exception:
        return None


@dataclass
class _Turn:
    """One tenant's claim in a pass: its rows, the lease they share, the
    webhook secrets they need, the rows still leased to the token, and the
    outcomes not recorded yet."""

    tenant_id: uuid.UUID
    token: uuid.UUID
    rows: list[Any]
    lease_end: dt.datetime
    secrets: dict[str, str]
    owned: set[Any]
    outcomes: list[tuple[Any, str, Optional[str], dt.datetime]] = field(default_factory=list)
    tenant: Optional[Any] = None  # its record: the brand its e-mails wear (messaging.branded)


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
    sender: Optional[str] = None,
) -> uuid.UUID:
    """Queue an e-mail in the caller's tenant transaction. `priority`:
    TRANSACTIONAL when a person waits for it, BULK for mass mailings.
    `sender="dpo"`: data-subject request mail, sent in the DPO's name with
    replies to the DPO (messaging.branded), never as the marketing sender."""
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
        json.dumps(logs.tagged({"text": text, "headers": headers or {},
                                **({"sender": sender} if sender else {})})),
        now, now,
    )
    await store.queued()
    return message_id


def _request_of(row: Any) -> Optional[str]:
    """The id of the request that queued this message (logs.tagged), if any."""
    payload = row["payload"]
    try:
        payload = json.loads(payload) if isinstance(payload, str) else payload
    except ValueError:
        return None
    value = payload.get("request_id") if isinstance(payload, dict) else None
    return value if isinstance(value, str) else None


LISTEN_RETRY_SECONDS = 5.0


async def _listen(stop: asyncio.Event) -> None:
    """PostgreSQL: a commit in any process that queued a message (its NOTIFY,
    store.queued) wakes this process's resting lanes. Without the listening
    connection (the database restarting) the lanes poll as before, and it is
    opened again after LISTEN_RETRY_SECONDS."""
    while not stop.is_set():
        try:
            async with db.listening(store.CHANNEL, store.wake) as lost:
                store.listening += 1
                try:
                    store.wake()  # what committed while nobody listened
                    await _first_of(stop, lost, timeout=None)
                finally:
                    store.listening -= 1
        except Exception as exc:  # the next attempt, or the poll, covers it
            logger.warning("outbox: not listening for new messages (%s); polling",
                           type(exc).__name__)
        await _first_of(stop, timeout=LISTEN_RETRY_SECONDS)


async def _first_of(*events: asyncio.Event, timeout: Optional[float]) -> None:
    """Until one of `events` is set, or `timeout` seconds."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


class OutboxWorker:
    """Delivers the outbox: `run_once` is one pass, `run_forever` polls with
    two lanes (everything by priority; transactional mail alone)."""

    def __init__(self, smtp_url: str, sender: str, poll_seconds: float = 1.0, *,
                 allow_private: bool = False, max_priority: int = BULK, batch: int = BATCH,
                 slice_seconds: float = SLICE_SECONDS, lease: dt.timedelta = LEASE,
                 send_budget: float = SEND_BUDGET):
        """Raises ValueError for an unusable SMTP_URL or sender (at start-up,
        not per message)."""
        if dt.timedelta(seconds=send_budget) + LEASE_MARGIN >= lease:
            raise ValueError("a send and its margin must fit inside the lease")
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
        if delivered:  # one line per pass, not per message
            logger.info("outbox pass", extra={"fields": {"delivered": delivered}})
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
        return await self._work(await self._claim(tenant_id, clock), clock)

    async def _claim(self, tenant_id: uuid.UUID, clock: Callable[[], dt.datetime]) -> "_Turn":
        """Leases a batch to a new token, with the secrets its webhooks need
        and the tenant's record, read in the claim's transaction — on Citus
        once it has committed: there a transaction whose shard placements
        the owner's claim wrote refuses the application role's reads ("…
        modified in this transaction by a different user"), and if that
        second read fails the rows go back at once (`released`: the attempt
        is given back), not when their lease runs out."""
        token, now = uuid.uuid4(), clock()
        apart = db.is_citus()
        async with envelope.delivery(tenant_id):
            rows = await store.claim(tenant_id, token, now, now + self.lease,
                                     max_priority=self.max_priority, limit=self.batch,
                                     max_attempts=MAX_ATTEMPTS, domain=self.domain)
            turn = _Turn(tenant_id, token, rows, now + self.lease, {},
                         owned={row["id"] for row in rows})
            if rows and not apart:
                await self._needs(turn)
        if rows and apart:
            try:
                async with envelope.delivery(tenant_id):
                    await self._needs(turn)
            except BaseException:
                turn.outcomes = [(row, "released", None, clock()) for row in rows]
                await asyncio.shield(self._flush(turn, clock))
                raise
        return turn

    @staticmethod
    async def _needs(turn: "_Turn") -> None:
        """What sending the turn's rows needs: its webhooks' secrets, the tenant's record."""
        endpoints = {e for e in map(_endpoint_of, turn.rows) if e}
        if endpoints:
            turn.secrets = await webhooks.endpoint_secrets(turn.tenant_id, endpoints)
        turn.tenant = await repository.tenant_by_id(turn.tenant_id)

    async def _work(self, turn: "_Turn", clock: Callable[[], dt.datetime]) -> int:
        """Sends the turn's rows while the lease surely holds (else extends it
        first, under the token, and skips rows taken over meanwhile), for at
        most `slice_seconds`; outcomes are recorded every `RECORD_EVERY` rows
        and at the end. Returns how many messages were handed over."""
        deadline = time.monotonic() + self.slice_seconds
        delivered = 0
        try:
            for index, row in enumerate(turn.rows):
                if time.monotonic() > deadline:  # the next tenant's turn; the rest goes back
                    turn.outcomes += [(r, "released", None, None) for r in turn.rows[index:]
                                      if r["id"] in turn.owned]
                    break
                if clock() + dt.timedelta(seconds=self.send_budget) + LEASE_MARGIN > turn.lease_end:
                    await self._flush(turn, clock, hold=turn.rows[index:])
                if row["id"] not in turn.owned:
                    logger.warning("outbox: lease on %s was taken over; not sending", row["id"])
                    continue
                status, error = await self._deliver(turn, row)
                turn.outcomes.append((row, status, error, clock()))
                delivered += status in ("sent", "logged")
                if len(turn.outcomes) >= RECORD_EVERY:
                    await self._flush(turn, clock)
        finally:
            await self._flush(turn, clock)
        return delivered

    async def _flush(self, turn: "_Turn", clock: Callable[[], dt.datetime],
                     hold: list[Any] = ()) -> None:
        """Records the outcomes waiting (each only under the turn's token) and,
        with `hold`, extends the lease of those rows: the ones still leased to
        the token stay the turn's, the others are dropped from it."""
        if not turn.outcomes and not hold:
            return
        outcomes, turn.outcomes = turn.outcomes, []
        async with envelope.delivery(turn.tenant_id):
            for row, status, error, at in outcomes:
                token = logs.request_id.set(_request_of(row))
                try:
                    status, next_attempt = self._settle(row, status, error, at)
                finally:
                    logs.request_id.reset(token)
                if not await store.record(turn.tenant_id, row["id"], turn.token, status,
                                          next_attempt_at=next_attempt,
                                          error=error[:1000] if error else None, at=at):
                    logger.warning("outbox: %s was taken over or removed before its outcome"
                                   " (%s)", row["id"], status)
            if hold:
                until = clock() + self.lease
                owned = await store.touch(turn.tenant_id, [r["id"] for r in hold], turn.token, until)
                turn.owned &= owned
                turn.lease_end = until

    @staticmethod
    def _settle(row: Any, status: str, error: Optional[str],
                now: dt.datetime) -> tuple[str, Optional[dt.datetime]]:
        """A failure's consequence: retry later with backoff, or dead."""
        if status == "pending":
            attempts = int(row["attempts"])
            logger.warning("delivery of %s failed (attempt %d): %s", row["id"], attempts, error)
            if attempts >= MAX_ATTEMPTS:
                return "dead", None
            return status, now + backoff(attempts)
        if status == "dead":
            logger.warning("message %s is undeliverable: %s", row["id"], error)
        return status, None

    # --- one message ------------------------------------------------------------

    async def _deliver(self, turn: "_Turn", row: Any) -> tuple[str, Optional[str]]:
        """Sends one leased row: (outcome, error). Never raises for the row."""
        token = logs.request_id.set(_request_of(row))  # the id of the request that queued it
        try:
            payload = row["payload"]
            async with asyncio.timeout(self.send_budget):
                if row["kind"] == "webhook":
                    secret = turn.secrets.get(str(payload["endpoint_id"]))
                    if secret is None:
                        raise webhooks.Cancelled("the webhook endpoint was deleted")
                    await webhooks.post(self._http(), row, payload, secret)
                    return "sent", None
                if row["kind"] == "email":
                    await self.mailer.send(self._dressed(turn, row, payload))
                    return self.mailer.status, None
                raise Undeliverable(f"unknown message kind {row['kind']!r}")
        except webhooks.Cancelled as exc:
            logger.debug("webhook %s not sent: %s", row["id"], exc)
            return "cancelled", None
        except Undeliverable as exc:
            return "dead", f"undeliverable: {exc}"
        except Exception as exc:  # whatever it is, it is this row's failure
            return "pending", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            logs.request_id.reset(token)

    def _dressed(self, turn: "_Turn", row: Any, payload: dict[str, Any]) -> Rendered:
        """The row's e-mail in its tenant's brand: sender, Reply-To and an HTML
        alternative (messaging.branded); bounces still come to MAIL_FROM."""
        headers = {name: value for name, value in (payload.get("headers") or {}).items()}
        reply = branded.reply_to(turn.tenant, payload)
        if reply and not any(k.lower() == "reply-to" for k in headers):
            headers["Reply-To"] = reply
        sender = branded.sender(self.sender, turn.tenant, payload)
        own = mailbox(self.sender, "MAIL_FROM")[1]
        if mailbox(sender, "sender")[1] != own:
            headers["Sender"] = self.sender
        text = payload.get("text", "")
        return render(sender, row["recipient"], row["subject"], {**payload, "headers": headers},
                      message_id=row["message_id"], envelope_from=own,
                      html=branded.html_body(text, turn.tenant,
                                             headers.get("Content-Language", "")))

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
        listener = [_listen(stop)] if db.is_postgres() else []
        try:
            await asyncio.gather(*(lane._poll(stop) for lane in lanes), *listener)
        finally:
            for lane in lanes:
                await lane.close()

    async def _poll(self, stop: asyncio.Event) -> None:
        queued = asyncio.Event()  # set by a commit that queued a message (store.queued)
        store.resting.add(queued)
        try:
            while not stop.is_set():
                queued.clear()  # what commits during the pass wakes the rest after it
                try:
                    busy = await self.run_once()
                except Exception:  # keep the worker alive; the next poll retries
                    logger.exception("outbox worker pass failed")
                    busy = 0
                if not busy:
                    await _first_of(stop, queued, timeout=self.poll_seconds)
        finally:
            store.resting.discard(queued)
