"""The admin's composite references read as names, on both engines: the ledger,
the consent states and the requests' trail list the contact's e-mail, the
purpose, the notice and the request instead of their UUIDs (admin.references),
an erased contact as such; the schema declares them as foreign keys so the SPA
links them. Every lookup is pinned to the row's own tenant: a row naming
another tenant's ids reads "not found" even for a staff member who sees both."""

from __future__ import annotations

import uuid

from admin import references
from consent.tables import Notice
from optinbase import db
from tenants import envelope
from tests.admin.scene import make_scene
from tests.admin.staff import login, make_staff
from tests.factories import grant, make_contact, make_request
from tests.statement_guard import statement_violations


async def test_ledger_states_and_requests_list_names_not_ids(client):
    scene = await make_scene()
    a, b = scene.a, scene.b
    gone = await make_contact(a.tenant, email="gone@example.fr")
    await grant(a.tenant, gone["id"], a.notice["id"])
    assert (await client.delete(f"/v1/contacts/{gone['id']}",
                                headers=a.tenant.headers)).status_code == 204
    request = await make_request(a.tenant, a.contact["email"], kind="access")
    mine = await login(client, await make_staff(tenant=a.tenant.slug))
    try:
        schema = (await mine.get("/tables/consent_event/schema/")).json()
        contact = schema["properties"]["contact_id"]
        assert contact["extra"]["foreign_key"]["to"] == "contact" and contact["title"] == "Contact"
        assert contact["extra"]["null_label"] == "erased contact"
        assert schema["properties"]["notice_id"]["extra"]["foreign_key"]["to"] == "notice"
        assert "purpose_id" in schema["extra"]["visible_column_names"]
        assert [o["column"] for o in schema["extra"]["order_by"]] == ["seq"]  # newest first
        assert schema["extra"]["order_by"][0]["ascending"] is False

        for table, column in (("audit_event", "at"), ("data_subject_request", "received_at"),
                              ("request_event", "at"), ("consent_state", "since")):
            order = (await mine.get(f"/tables/{table}/schema/")).json()["extra"]["order_by"]
            assert order == [{"column": column, "ascending": False}], table

        ledger = (await mine.get("/tables/consent_event/", __readable="true")).json()["rows"]
        assert ledger[0]["seq"] > ledger[-1]["seq"]
        [event] = [r for r in ledger if r["id"] == a.event["id"]]
        assert event["contact_id_readable"] == a.contact["email"]
        assert event["purpose_id_readable"] == "Newsletter (newsletter)"
        assert event["notice_id_readable"] == "newsletter v1 (en)"
        erased = [r for r in ledger if r["contact_id"] is None]
        assert erased and all(r["contact_id_readable"] == "erased contact" for r in erased)
        assert b.contact["email"] not in str(ledger)

        states = (await mine.get("/tables/consent_state/", __readable="true")).json()["rows"]
        assert {r["contact_id_readable"] for r in states} == {a.contact["email"]}
        single = (await mine.get(f"/tables/consent_event/{a.event['id']}/",
                                 __readable="true")).json()
        assert single["contact_id_readable"] == a.contact["email"]
        plain = (await mine.get("/tables/consent_event/")).json()["rows"]
        assert "contact_id_readable" not in plain[0]  # only when asked, as Piccolo does

        trail = (await mine.get("/tables/request_event/", __readable="true")).json()["rows"]
        assert {r["request_id"] for r in trail} == {request["id"]}
        assert trail[0]["request_id_readable"].startswith("access, received ")
        french = (await mine.http.get("/admin/api/tables/request_event/",
                                      params={"__readable": "true"},
                                      headers={"Accept-Language": "fr"})).json()["rows"]
        assert french[0]["request_id_readable"].startswith("access, reçue le ")
    finally:
        await mine.aclose()


async def test_another_tenants_ids_read_as_not_found(backend, monkeypatch):
    """A row of tenant A naming tenant B's contact, purpose, notice and request
    (the composite keys refuse to store one; here it is handed to the lookup
    directly), looked up for someone who sees both tenants: nothing of B's."""
    scene = await make_scene()
    a, b = scene.a, scene.b
    theirs = await make_request(b.tenant, b.contact["email"])
    sent: list[tuple[str, tuple]] = []
    fetch = db.fetch

    async def recording(text, *args):
        sent.append((db.compile_sql(text, "postgres"), args))
        return await fetch(text, *args)

    monkeypatch.setattr(db, "fetch", recording)
    forged = {"tenant": str(a.tenant.id), "contact_id": b.contact["id"],
              "purpose_id": b.purpose["id"], "notice_id": b.notice["id"]}
    own = {"tenant": str(a.tenant.id), "contact_id": a.contact["id"],
           "purpose_id": a.purpose["id"], "notice_id": a.notice["id"]}
    trail = {"tenant": str(a.tenant.id), "request_id": theirs["id"]}
    async with envelope.staff([a.tenant.id, b.tenant.id], write=False):
        await references.attach("consent_event", [forged, own])
        await references.attach("request_event", [trail])
    assert forged["contact_id_readable"] == "erased contact"
    assert forged["purpose_id_readable"] == forged["notice_id_readable"] == "not found"
    assert trail["request_id_readable"] == "not found"
    assert own["contact_id_readable"] == a.contact["email"]  # the same statements find A's
    assert b.contact["email"] not in str(forged)
    assert len(sent) == 4  # one statement per tenant and target
    for sql, args in sent:
        assert "tenant_id = $1" in sql and args[0] == a.tenant.id
        assert statement_violations(sql, args) == [], sql


async def test_a_row_without_its_tenant_gets_no_names(backend):
    row = {"contact_id": str(uuid.uuid4())}
    await references.attach("consent_event", [row])
    assert row == {"contact_id": row["contact_id"]}


async def test_the_notice_list_names_its_purpose_without_joining_it(client):
    """Piccolo reads a foreign key's readable through a join on the key alone
    (`notice.purpose_id = purpose.id`: two tables sharded by tenant, which
    Citus refuses); the notice's purpose is named like the composite
    references instead, within the row's tenant (consent.tables.Notice)."""
    query = str(Notice.select(*Notice._meta.columns, *(
        Notice._get_related_readable(c) for c in Notice._meta.foreign_key_columns)))
    assert " JOIN " in query and " JOIN \"purpose\"" not in query  # the tenant's name only
    scene = await make_scene()
    a, b = scene.a, scene.b
    mine = await login(client, await make_staff(tenant=a.tenant.slug))
    try:
        rows = (await mine.get("/tables/notice/", __readable="true")).json()["rows"]
        assert {r["id"] for r in rows} == {a.notice["id"]}
        assert rows[0]["purpose_readable"] == "Newsletter (newsletter)"
        assert rows[0]["tenant_readable"] == "Tenant"  # its name (make_tenant)
        single = (await mine.get(f"/tables/notice/{a.notice['id']}/", __readable="true")).json()
        assert single["purpose_readable"] == "Newsletter (newsletter)"
        assert str(b.purpose["id"]) not in str(rows)
    finally:
        await mine.aclose()
