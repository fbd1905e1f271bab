"""`GET /ready` names what is wrong: a real server on a database of its own
(SQLite), broken one way after another — a stalled outbox, the signing key
gone, a migration missing, the database unreachable — each a 503 problem with
its machine-readable reason; and in-process on both engines."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import time
import uuid

import httpx

from optinbase import ed25519
from tests import processes
from tests.factories import make_request, make_tenant
from tests.processes import Installation


def _reasons(http: httpx.Client) -> list[str]:
    answer = http.get("/ready")
    assert answer.headers["x-request-id"]
    if answer.status_code == 200:
        assert answer.json() == {"status": "ok"}
        return []
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert [c["reason"] for c in body["checks"]] == body["reasons"]
    return body["reasons"]


def test_ready_names_each_failure(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    key = tmp_path / "ledger-key.pem"
    ed25519.load_or_create(key)
    install = Installation(tmp_path, f"sqlite:///{data}/optinbase.sqlite3",
                           LEDGER_SIGNING_KEY=str(key), READY_OUTBOX_STALL_SECONDS="1",
                           OUTBOX_WORKER="0", LEDGER_CHECKPOINT_DIR=str(tmp_path / "cp"),
                           ERASURE_JOURNAL_DIR=str(tmp_path / "journal"))
    install.cli("migrate")
    install.cli("tenants", "create", "ready-shop", "--name", "Ready Shop")
    secret = install.cli("keys", "create", "--tenant", "ready-shop").strip().splitlines()[-1]
    with install.serving() as server:
        http = processes.http(base_url=server.base_url, timeout=10)
        assert _reasons(http) == []
        asked = http.post("/v1/requests", json={"kind": "access", "email": "r@example.org"},
                          headers={"Authorization": f"Bearer {secret}"})
        assert asked.status_code == 201, asked.text  # queues a verification e-mail
        time.sleep(1.5)  # no worker runs (OUTBOX_WORKER=0): it waits past the limit
        assert _reasons(http) == ["outbox_stalled"]
        key.unlink()
        assert _reasons(http) == ["outbox_stalled", "signing_key_missing"]
        with sqlite3.connect(data / "optinbase.sqlite3") as conn:
            conn.execute("DELETE FROM migration WHERE id = (SELECT max(id) FROM migration)")
        assert _reasons(http) == ["migrations_missing", "signing_key_missing"]
        shutil.rmtree(data)
        data.write_text("not a directory")  # the database cannot be opened any more
        assert _reasons(http) == ["database_unreachable", "signing_key_missing"]
        assert http.get("/health").status_code == 200  # alive, not ready


async def test_ready_in_process(client, app, backend, tmp_path):
    assert (await client.get("/ready")).json() == {"status": "ok"}
    tenant = await make_tenant()
    await make_request(tenant, f"ready.{uuid.uuid4().hex[:8]}@example.org")  # due now
    settings = app.state.settings
    try:
        app.state.settings = dataclasses.replace(settings, ready_outbox_stall_seconds=-1)
        stalled = await client.get("/ready")
        assert stalled.status_code == 503 and stalled.json()["reasons"] == ["outbox_stalled"]
        app.state.settings = dataclasses.replace(settings, ledger_signing_key=b"short")
        broken = await client.get("/ready")
        assert broken.status_code == 503
        assert broken.json()["reasons"] == ["signing_key_missing"]
        assert broken.headers["retry-after"]
        blocked = tmp_path / "a-file"
        blocked.write_text("not a directory")
        app.state.settings = dataclasses.replace(settings, ledger_checkpoint_dir=str(blocked),
                                                 erasure_journal_dir=str(blocked / "journal"))
        unwritable = (await client.get("/ready")).json()
        assert unwritable["reasons"] == ["checkpoint_log_unwritable", "erasure_journal_unwritable"]
        assert str(blocked) in unwritable["detail"]
    finally:
        app.state.settings = settings
