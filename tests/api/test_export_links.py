"""The CSV export on PostgreSQL is written by PostgreSQL (COPY, links signed in
SQL): its links must be byte for byte the ones consent.tokens makes, open the
public pages, and its rows must be the batched (Python) export's rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

from consent.segments import audience, export
from consent.segments import rules as r
from consent.tokens import Signer, make_token
from optinbase import db
from optinbase.settings import get_settings
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant

EVERYONE = {"type": "all", "rules": []}
PARAMS = {"channel": "email", "purpose": "newsletter"}


async def _people(client):
    tenant = await make_tenant()
    purpose = await make_purpose(tenant)
    notice = await make_notice(tenant)
    people = []
    for i, fields in enumerate([
        {"first_name": 'Zoé "Z", Jr.\nsecond line', "country": "FR", "birth_year": 1980,
         "attributes": {"interest": "running", "n": 3}},
        {"phone": "+33612345678", "postal_code": "75011"},
        {"last_name": "", "locale": "fr"},
    ]):
        contact = await make_contact(tenant, **fields)
        await grant(tenant, contact["id"], notice["id"],
                    collected_at=f"2025-0{i + 1}-02T03:04:05.{i}5Z")
        people.append(contact)
    response = await client.post("/v1/segments", json={"name": "all", "rules": EVERYONE},
                                 headers=tenant.headers)
    assert response.status_code == 201, response.text
    return tenant, uuid.UUID(purpose["id"]), people, response.json()["id"]


async def _csv(client, tenant, segment_id):
    response = await client.get(f"/v1/segments/{segment_id}/export",
                                params={**PARAMS, "format": "csv"}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def test_links_are_the_python_tokens_and_open_the_public_pages(client):
    tenant, purpose_id, people, segment_id = await _people(client)
    settings = get_settings()
    rows = await _csv(client, tenant, segment_id)
    assert sorted(row["id"] for row in rows) == sorted(p["id"] for p in people)
    for row in rows:
        token = make_token(settings.secret_key, tenant.id, uuid.UUID(row["id"]), purpose_id,
                           "email")
        assert row["unsubscribe_url"] == f"{settings.public_url}/p/unsubscribe/{token}"
        assert row["preferences_url"] == f"{settings.public_url}/p/preferences/{token}"
    first = rows[0]
    path = first["preferences_url"].removeprefix(settings.public_url)
    assert (await client.get(path)).status_code == 200
    path = first["unsubscribe_url"].removeprefix(settings.public_url)
    assert (await client.get(path)).status_code == 200
    done = await client.post(path, content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200
    assert first["id"] not in {row["id"] for row in await _csv(client, tenant, segment_id)}


async def test_copy_export_has_the_batched_exports_rows(client, backend):
    """Same header and the same values as export.encode_csv (times may differ in
    trailing zeros of the fraction only: the same instant either way)."""
    tenant, purpose_id, people, segment_id = await _people(client)
    served = await _csv(client, tenant, segment_id)
    settings = get_settings()
    async with db.tenant_transaction(tenant.id, write=False):
        query = audience.export_query(
            r.parse(EVERYONE), tenant_id=tenant.id, channel="email", purpose_id=purpose_id,
            now=dt.datetime.now(dt.timezone.utc), postgres=db.is_postgres())
        links = export.Links(Signer(settings.secret_key, tenant.id, purpose_id, "email"),
                             settings.public_url)

        async def finished(rows: int, complete: bool) -> None:
            pass

        body = b"".join([c async for c in export.stream(query, "csv", links, finished)])
    batched = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    assert [list(row) for row in served[:1]] == [list(export.HEADER)]
    by_id = {row["id"]: row for row in batched}
    assert sorted(by_id) == sorted(row["id"] for row in served)
    for row in served:
        expected = by_id[row["id"]]
        for name in export.HEADER:
            if name in ("created_at", "last_activity_at", "consent_since") and row[name]:
                assert dt.datetime.fromisoformat(row[name]) == dt.datetime.fromisoformat(expected[name])
                assert row[name].endswith("+00:00") and "T" in row[name]
            else:
                assert row[name] == expected[name], name
    audited = [e for e in (await client.get("/v1/audit-events", params={"limit": 100},
                                            headers=tenant.headers)).json()["items"]
               if e["action"] == "segment.exported"]
    assert audited[-1]["details"]["rows"] == len(people) and audited[-1]["details"]["complete"]
    assert uuid.UUID(str(audited[-1]["object_id"])) == uuid.UUID(segment_id)
