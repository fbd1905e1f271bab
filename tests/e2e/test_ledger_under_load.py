"""`GET /v1/ledger/verify` on a real server process while six writers grant
and withdraw through it and checkpoints are published whenever the chain
moved (as the worker does, every 50 ms): every verify reads one snapshot, after the log, so none reports a
break that is not there. On PostgreSQL this is the READ COMMITTED race of
issue 12 (events read, a grant commits, the head read one ahead)."""

from __future__ import annotations

import asyncio
import os

import httpx

from consent.ledger import checkpoint_log, checkpoints
from optinbase.context import TenantContext
from tests.processes import Installation
from tests.factories import make_contact, make_tenant, make_world


def _ctx(world) -> TenantContext:
    """The context a housekeeping job would have for this world's tenant."""
    return TenantContext.for_system(world.tenant, "test")


WRITERS = 6
VERIFIERS = 3
VERIFIES_EACH = 20  # 60 in all


async def test_verify_during_writes_and_publications_never_breaks(
        client, backend, tmp_path):
    world = await make_world(await make_tenant())
    contacts = [await make_contact(world.tenant) for _ in range(WRITERS)]
    with Installation.on(backend, tmp_path).serving(OUTBOX_WORKER="0") as server:
        stop = asyncio.Event()
        async with httpx.AsyncClient(base_url=server.base_url, headers=world.tenant.headers,
                                     timeout=120) as http:

            async def writer(contact: dict) -> int:
                written = 0
                while not stop.is_set():
                    action = "grant" if written % 2 == 0 else "withdraw"
                    body = {"channel": "email", "purpose": "newsletter", "action": action,
                            "method": "api"}
                    if action == "grant":
                        body["notice_id"] = world.notice["id"]
                    answer = await http.post(f"/v1/contacts/{contact['id']}/consents", json=body)
                    assert answer.status_code == 201, answer.text
                    written += 1
                return written

            async def verifier() -> list[dict]:
                answers = []
                for _ in range(VERIFIES_EACH):
                    answer = await http.get("/v1/ledger/verify")
                    assert answer.status_code == 200, answer.text
                    answers.append(answer.json())
                    await asyncio.sleep(0.05)
                return answers

            async def publisher() -> int:
                """Publishes whenever the chain moved, as the worker does (here
                every 50 ms, from this process, into the server's log)."""
                published = 0
                while not stop.is_set():
                    if await checkpoints.publish_now(_ctx(world), only_if_moved=True):
                        published += 1
                    await asyncio.sleep(0.05)
                return published

            writers = [asyncio.create_task(writer(c)) for c in contacts]
            publishing = asyncio.create_task(publisher())
            await asyncio.sleep(0.5)  # writes under way before the first verify
            try:
                rounds = await asyncio.gather(*(verifier() for _ in range(VERIFIERS)))
            finally:
                stop.set()
                written = await asyncio.gather(*writers)
                published = await publishing
            final = (await http.get("/v1/ledger/verify")).json()

    answers = [answer for answer in rounds for answer in answer]
    false_breaks = [answer for answer in answers if not answer["ok"]]
    print(f"\n{backend}: {len(answers)} verifies, {sum(written)} writes,"
          f" {published} checkpoints published, {len(false_breaks)} false breaks")
    assert false_breaks == []
    assert len(answers) == VERIFIERS * VERIFIES_EACH
    # The verifies really ran among the writes and checkpoints: they saw the chain grow.
    assert len({answer["events"] for answer in answers}) > 5
    assert published >= 5 and max(answer["checkpoints"] for answer in answers) >= 5
    assert final["ok"] is True and final["events"] == 1 + sum(written)
    assert final["checkpoints"] == len(checkpoint_log.path_for(world.tenant.id)
                                       .read_text().splitlines())
    assert os.environ.get("LEDGER_SIGNING_KEY") == server.env["LEDGER_SIGNING_KEY"]
