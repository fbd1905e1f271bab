"""Inbound provider events per second: Optinbase's `POST /inbound/{provider}/{id}`
beside a bare Litestar endpoint doing the same authenticity check and payload
reading (messaging.inbound.schemes and .providers) and nothing else, in the
same run, driven the same way.

Both apps run in this process and are driven through httpx's ASGI transport by
`--concurrency` workers for `--seconds` each (no sockets: the HTTP server's
own cost is out of both, so the ratio is what the envelope, the tenant
transaction and the handling cost). Each request is signed in the driver with
real keys before the clock starts (Mailgun: HMAC-SHA256; SendGrid: ECDSA
P-256, a batch of `--batch` events a request). Events are deliveries (recorded
once, nothing done) or hard bounces of known contacts (suppression, change
feed, audit), each with a fresh provider event id.

    DATABASE_URL=... DATABASE_OWNER_URL=... python bench/inbound.py \
        [--provider mailgun|sendgrid] [--kind delivered|hard_bounce] [--batch 50]

Without DATABASE_URL a SQLite file in a temporary directory is used. Prints
one JSON line (the summary) on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if not os.environ.get("DATABASE_URL"):
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-inbound-')}/db.sqlite3"
os.environ.setdefault("SECRET_KEY_FILE", str(Path(tempfile.mkdtemp()) / "secret"))
os.environ.setdefault("OUTBOX_WORKER", "0")
os.environ.setdefault("ARGON2_PROFILE", "owasp-minimum")
sys.path.insert(0, str(ROOT / "src"))


def _log(message: str) -> None:
    print(f"[bench inbound {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _migrate() -> None:
    command = [str(Path(sys.executable).with_name("optinbase")), "migrate"]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)


async def _world(contacts: int, provider: str, key: str) -> tuple[str, list[str]]:
    """A tenant, `contacts` people with an e-mail consent, and an endpoint."""
    from consent import contacts as contact_service
    from consent.schemas import ContactIn
    from messaging.inbound import endpoints
    from optinbase import db
    from optinbase.context import TenantContext
    from optinbase.settings import get_settings
    from tenants import service

    owner = db.engine_from_url(os.environ.get("DATABASE_OWNER_URL") or os.environ["DATABASE_URL"])
    app_engine = db.get_engine()
    db.use_engine(owner)
    await db.start(owner)
    record = await service.create_tenant(f"bench-{uuid.uuid4().hex[:8]}", "Bench")
    await db.stop(owner)
    db.use_engine(app_engine)
    await db.start(app_engine)
    ctx = TenantContext.for_operator(record, "bench")
    emails = [f"p{i}@example.com" for i in range(contacts)]
    async with db.tenant_transaction(record.id):
        for email in emails:
            await contact_service.create_contact(ctx, ContactIn(email=email))
        made = await endpoints.create(ctx, endpoints.InboundEndpointIn(
            provider=provider, signing_key=key if provider == "mailgun" else None,
            verification_key=key if provider == "sendgrid" else None),
            get_settings().public_url)
    return made.url.split("/inbound/", 1)[1], emails


def _bodies(provider: str, kind: str, batch: int, emails: list[str], count: int,
            signer) -> list[tuple[bytes, dict]]:
    """`count` signed requests (fresh event ids), made before any clock starts."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    out = []
    for n in range(count):
        stamp = str(int(time.time()))
        if provider == "mailgun":
            token = uuid.uuid4().hex
            signature = hmac.new(signer.encode(), (stamp + token).encode(),
                                 hashlib.sha256).hexdigest()
            event = ({"event": "delivered"} if kind == "delivered"
                     else {"event": "failed", "severity": "permanent"})
            body = json.dumps({"signature": {"timestamp": stamp, "token": token,
                                             "signature": signature},
                               "event-data": {**event, "recipient": emails[n % len(emails)],
                                              "id": uuid.uuid4().hex,
                                              "timestamp": time.time()}}).encode()
            out.append((body, {"content-type": "application/json"}))
        else:
            events = [{"email": emails[(n * batch + i) % len(emails)], "timestamp": int(stamp),
                       "event": "delivered" if kind == "delivered" else "bounce",
                       "type": "bounce", "sg_event_id": uuid.uuid4().hex}
                      for i in range(batch)]
            body = json.dumps(events).encode()
            sig = signer.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            out.append((body, {"content-type": "application/json",
                               "x-twilio-email-event-webhook-signature":
                                   base64.b64encode(sig).decode(),
                               "x-twilio-email-event-webhook-timestamp": stamp}))
    return out


def bare_app(provider: str, key: str):
    """The same check and reading, nothing else: no envelope, no database."""
    from litestar import Litestar, Request, post

    from messaging.inbound import providers, schemes

    @post("/inbound/{provider_name:str}/{endpoint_id:str}", status_code=200)
    async def events(request: Request, provider_name: str, endpoint_id: str) -> dict:
        body = await request.body()
        if provider == "mailgun":
            payload = providers.decode(body)
            schemes.verify_mailgun(key, payload.get("signature"))
            found = providers.mailgun(payload)
        else:
            schemes.verify_sendgrid(key, dict(request.headers), body)
            found = providers.sendgrid(providers.decode(body))
        return {"received": len(found)}

    return Litestar([events], debug=False, logging_config=None)


async def _drive(app, path: str, bodies: list[tuple[bytes, dict]], concurrency: int,
                 seconds: float) -> tuple[int, float, int]:
    """(requests done, elapsed seconds, failures) within `seconds`."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    queue = iter(bodies)
    done = failed = 0
    deadline = time.perf_counter() + seconds

    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        async def worker() -> None:
            nonlocal done, failed
            while time.perf_counter() < deadline:
                try:
                    body, headers = next(queue)
                except StopIteration:
                    return
                answer = await client.post(f"/inbound/{path}", content=body, headers=headers)
                done += 1
                failed += answer.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - started, failed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--provider", choices=("mailgun", "sendgrid"), default="mailgun")
    parser.add_argument("--kind", choices=("delivered", "hard_bounce"), default="hard_bounce")
    parser.add_argument("--batch", type=int, default=50, help="events per SendGrid request")
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    batch = args.batch if args.provider == "sendgrid" else 1

    _migrate()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from api.app import create_app
    from optinbase import db

    if args.provider == "mailgun":
        signer = key = "key-" + uuid.uuid4().hex
    else:
        signer = ec.generate_private_key(ec.SECP256R1())
        key = base64.b64encode(signer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    path, emails = await _world(args.contacts, args.provider, key)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _log(f"{args.contacts} contacts, endpoint {path.split('/')[0]}, {db.get_engine().engine_type}")
    # Enough signed requests for the fastest side: measured at ~3k req/s here.
    count = int(args.seconds * (6000 if batch == 1 else 400))
    results = {}
    for name, app in (("bare", bare_app(args.provider, key)), ("optinbase", create_app())):
        bodies = _bodies(args.provider, args.kind, batch, emails, count, signer)
        await _drive(app, path, bodies[:200], args.concurrency, args.seconds)  # warm-up
        done, elapsed, failed = await _drive(app, path, bodies[200:], args.concurrency,
                                             args.seconds)
        results[name] = {"requests": done, "seconds": round(elapsed, 2), "failed": failed,
                         "events_per_s": round(done * batch / elapsed, 1)}
        _log(f"{name}: {results[name]}")
    await db.stop()
    summary = {"provider": args.provider, "kind": args.kind, "events_per_request": batch,
               "engine": db.get_engine().engine_type, "concurrency": args.concurrency,
               **results,
               "ratio": round(results["optinbase"]["events_per_s"]
                              / results["bare"]["events_per_s"], 3)}
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
