"""The database restarts under write load (issue 13, "What must be shown"):
a real `optinbase serve` on a PostgreSQL cluster of the test's own
(tests/faults/cluster.py) takes grants and withdrawals from several writers
while the cluster is stopped (fast shutdown: sessions cut) and started again.

* During the outage the API answers 503 with `Retry-After` — never 500 — and
  the server recovers by itself, with no restart of its own.
* Every write it acknowledged (2xx) is in the ledger afterwards, and the ledger
  verifies.
* A background import cut by the outage records its failure, with that reason,
  as soon as the database is back — not minutes later by housekeeping."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from optinbase.settings import get_settings
from tests.faults import cluster as clusters
from tests.processes import Installation

pytestmark = pytest.mark.skipif(clusters.available() is not None,
                                reason=clusters.available() or "")

WRITERS = 6
LOAD_BEFORE, OUTAGE, LOAD_AFTER = 1.5, 2.5, 2.0  # seconds


@pytest.fixture(scope="module")
def cluster():
    with clusters.own_cluster() as own:
        yield own


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    app_url, owner_url = cluster.prepare("optinbase_fault")
    installation = Installation(tmp_path_factory.mktemp("fault"), app_url, owner_url)
    installation.cli("migrate")
    installation.cli("tenants", "create", "fault", "--name", "Fault")
    key = installation.cli("keys", "create", "--tenant", "fault").strip().splitlines()[-1]
    # Small pool, no in-process outbox; imports over 64 KiB run in the background.
    with installation.serving(OUTBOX_WORKER="0", DATABASE_POOL_MAX="8",
                              IMPORT_INLINE_BYTES="65536") as serving:
        serving.key = key  # type: ignore[attr-defined]
        yield serving


def _http(server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.base_url, timeout=30,
                             headers={"Authorization": f"Bearer {server.key}"})


async def _setup(http: httpx.AsyncClient) -> tuple[str, list[str]]:
    purpose = await http.post("/v1/purposes", json={"key": "news", "name": "News"})
    assert purpose.status_code in (201, 409), purpose.text
    notice = await http.post("/v1/notices", json={"purpose": "news", "channels": ["email"],
                                                  "language": "en", "text": "Yes, news."})
    assert notice.status_code == 201, notice.text
    contacts = []
    for _ in range(WRITERS):
        made = await http.post("/v1/contacts", json={"email": f"{uuid.uuid4().hex}@example.com"})
        assert made.status_code == 201, made.text
        contacts.append(made.json()["id"])
    return notice.json()["id"], contacts


async def _until_ok(http: httpx.AsyncClient, path: str, seconds: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        answer = await http.get(path)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def _events(http: httpx.AsyncClient, contact: str) -> set[str]:
    seen, cursor = set(), None
    while True:
        page = (await http.get(f"/v1/contacts/{contact}/consent-events",
                               params={"limit": 500, **({"cursor": cursor} if cursor else {})})).json()
        seen |= {e["id"] for e in page["items"]}
        cursor = page.get("next_cursor")
        if not cursor:
            return seen


async def test_acknowledged_writes_survive_a_database_restart(cluster, server):
    async with _http(server) as http:
        notice, contacts = await _setup(http)
        acknowledged: dict[str, list[str]] = {c: [] for c in contacts}
        statuses: dict[int, int] = {}
        unavailable: list[httpx.Response] = []
        stop = asyncio.Event()

        async def writer(contact: str) -> None:
            n = 0
            while not stop.is_set():
                action = "grant" if n % 2 == 0 else "withdraw"
                body = {"channel": "email", "purpose": "news", "action": action, "method": "api",
                        **({"notice_id": notice} if action == "grant" else {})}
                answer = await http.post(f"/v1/contacts/{contact}/consents", json=body)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code == 201:
                    acknowledged[contact].append(answer.json()["id"])
                    n += 1
                elif answer.status_code == 503:
                    unavailable.append(answer)
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError((answer.status_code, answer.text))

        writers = [asyncio.create_task(writer(c)) for c in contacts]
        try:
            await asyncio.sleep(LOAD_BEFORE)
            before_outage = sum(map(len, acknowledged.values()))
            await asyncio.to_thread(cluster.stop)
            await asyncio.sleep(OUTAGE)
            during = (await http.get("/v1/ledger/verify"))
            ready, alive = await http.get("/ready"), await http.get("/health")
            page = await http.get("/p/fault/subscribe", headers={"Authorization": ""})
            await asyncio.to_thread(cluster.start)
            restarted = sum(map(len, acknowledged.values()))
            await asyncio.sleep(LOAD_AFTER)
        finally:
            stop.set()
            await asyncio.gather(*writers)
        after = sum(map(len, acknowledged.values()))

        assert during.status_code == 503, during.text
        assert int(during.headers["retry-after"]) > 0
        assert during.headers["content-type"] == "application/problem+json"
        assert (ready.status_code, alive.status_code) == (503, 200)  # not ready, but alive
        assert page.status_code == 503 and page.headers["retry-after"], page.text
        assert page.headers["content-type"].startswith("text/html")  # the error page
        assert unavailable, statuses
        assert all(a.headers.get("retry-after") for a in unavailable)
        assert before_outage > WRITERS, statuses  # there was load before...
        assert after > restarted, statuses  # ...and the server took writes again by itself
        for contact, ids in acknowledged.items():
            assert set(ids) <= await _events(http, contact), contact
        verify = await _until_ok(http, "/v1/ledger/verify")
        assert verify.status_code == 200 and verify.json()["ok"], verify.text
        assert verify.json()["events"] >= after


async def test_an_import_cut_by_a_restart_records_why_once_the_database_is_back(cluster, server):
    rows = "\n".join(f"imp{i}-{uuid.uuid4().hex[:8]}@example.com,Name{i}" for i in range(60_000))
    async with _http(server) as http:
        answer = await http.post("/v1/imports", content=("email,first_name\n" + rows + "\n").encode(),
                                 headers={"Content-Type": "text/csv"})
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["status"] in ("queued", "running"), job
        await asyncio.to_thread(cluster.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(cluster.start)
        back = time.monotonic()
        while True:
            shown = await http.get(f"/v1/imports/{job['id']}")
            if shown.status_code == 200 and shown.json()["status"] not in ("queued", "running"):
                break
            assert time.monotonic() - back < 20, shown.text
            await asyncio.sleep(0.25)
        report = shown.json()
        assert report["status"] == "failed", report
        assert "database" in report["detail"], report
        # Whole chunks committed before the restart stay, and the detail says how far it got.
        done = report["created"]
        assert done % get_settings().import_chunk_rows == 0 and done < 60_000 and report["finished_at"], report
        assert ("nothing was imported" if done == 0 else
                f"the first {done:,} of 60,000 rows are imported") in report["detail"], report
