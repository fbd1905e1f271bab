"""The public request pages in process: the form answers and e-mails alike
whether the address is known or not; GET never verifies; links are bound to
their use, their tenant and their time."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile

import pytest


from consent.requests import links
from optinbase import db, limits
from optinbase.settings import get_settings
from tests.factories import make_tenant, make_world

TOKEN = re.compile(r"/p/requests/(verify|status|package)/([A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def _no_rate_limit(monkeypatch):
    monkeypatch.setattr(limits, "REQUEST_FORM", limits.Limit("requests.address", 10_000, 600))


async def _mails(tenant_id, recipient):
    async with db.tenant_transaction(tenant_id, write=False):
        rows = await db.fetch("SELECT subject, payload FROM outbox_message WHERE tenant_id = {}"
                              " AND recipient = {} ORDER BY created_at", tenant_id, recipient)
    return [(r["subject"], json.loads(r["payload"]) if isinstance(r["payload"], str)
             else r["payload"]) for r in rows]


def _link(text, use):
    return next(m.group(2) for m in TOKEN.finditer(text) if m.group(1) == use)


async def _submit(client, slug, email, kind="access", **headers):
    return await client.post(f"/p/{slug}/requests", data={"kind": kind, "email": email,
                                                          "note": ""},
                             headers={"accept-language": "en", **headers})


async def test_the_answer_and_the_email_do_not_tell_whether_the_address_is_known(client):
    world = await make_world(await make_tenant())
    known, unknown = world.contact["email"], "stranger@example.net"
    pages = [await _submit(client, world.tenant.slug, address) for address in (known, unknown)]
    assert pages[0].status_code == pages[1].status_code == 200
    assert pages[0].text == pages[1].text
    [(subject_known, known_mail)] = await _mails(world.tenant.id, known)
    [(subject_unknown, unknown_mail)] = await _mails(world.tenant.id, unknown)
    assert subject_known == subject_unknown
    assert TOKEN.sub("LINK", known_mail["text"]) == TOKEN.sub("LINK", unknown_mail["text"])
    assert known_mail["headers"] == unknown_mail["headers"]

    # A duplicate answers the same and sends the link again (the trail says so).
    again = await _submit(client, world.tenant.slug, known)
    assert again.text == pages[0].text
    assert len(await _mails(world.tenant.id, known)) == 2
    listed = (await client.get("/v1/requests", headers=world.tenant.headers)).json()["items"]
    assert len(listed) == 2
    trail = (await client.get(f"/v1/requests/{[r for r in listed if r['email'] == known][0]['id']}",
                              headers=world.tenant.headers)).json()["events"]
    assert [e["action"] for e in trail] == [
        "received", "verification_sent", "duplicate_received", "verification_sent"]
    assert all(e["actor"] == "subject" for e in trail)


async def test_verify_status_and_package_links(client):
    world = await make_world(await make_tenant())
    email = world.contact["email"]
    await _submit(client, world.tenant.slug, email, kind="access")
    [(_, mail)] = await _mails(world.tenant.id, email)
    verify, status = _link(mail["text"], "verify"), _link(mail["text"], "status")

    for _ in range(2):  # mail scanners open links: a GET verifies nothing
        page = await client.get(f"/p/requests/verify/{verify}")
        assert page.status_code == 200 and "<form method=\"post\"" in page.text
    [request] = (await client.get("/v1/requests", headers=world.tenant.headers)).json()["items"]
    assert request["status"] == "unverified"
    state = await client.get(f"/p/requests/status/{status}", headers={"accept": "application/json"})
    assert state.json()["state"] == "unverified"

    done = await client.post(f"/p/requests/verify/{verify}")
    assert done.status_code == 200 and 'id="request-state"' in done.text
    request = (await client.get(f"/v1/requests/{request['id']}", headers=world.tenant.headers)).json()
    assert request["status"] == "verified" and request["verification"] == "link"
    assert request["contact_id"] == world.contact["id"]
    reused = await client.post(f"/p/requests/verify/{verify}")  # single use: changes nothing
    assert reused.status_code == 200
    assert [e["action"] for e in request["events"]].count("verified") == 1

    for wrong in (status, verify[:-2] + ("AA" if not verify.endswith("AA") else "BB"), "x"):
        assert (await client.post(f"/p/requests/verify/{wrong}")).status_code == 404

    await client.post(f"/v1/requests/{request['id']}/complete", headers=world.tenant.headers)
    page = await client.get(f"/p/requests/status/{status}")
    package_url = re.search(r'href="[^"]*/p/requests/package/([A-Za-z0-9_-]+)"', page.text)
    assert package_url, page.text
    download = await client.get(f"/p/requests/package/{package_url.group(1)}")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    data = json.loads(zipfile.ZipFile(io.BytesIO(download.content)).read("data.json"))
    assert data["contact"]["email"] == email
    trail = (await client.get(f"/v1/requests/{request['id']}", headers=world.tenant.headers)).json()
    assert trail["events"][-1]["action"] == "package_downloaded"


async def test_expired_and_foreign_links(client):
    world = await make_world(await make_tenant())
    other = await make_tenant()
    await _submit(client, world.tenant.slug, world.contact["email"])
    [request] = (await client.get("/v1/requests", headers=world.tenant.headers)).json()["items"]
    secret = get_settings().secret_key
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    import uuid
    expired = links.make(secret, "verify", world.tenant.id, uuid.UUID(request["id"]), past)
    assert (await client.get(f"/p/requests/verify/{expired}")).status_code == 410
    assert (await client.post(f"/p/requests/verify/{expired}")).status_code == 410
    # The same request id under another tenant: that tenant has no such request.
    for use in ("verify", "status", "package"):
        foreign = links.make(secret, use, other.id, uuid.UUID(request["id"]), future)
        method = client.post if use == "verify" else client.get
        assert (await method(f"/p/requests/{use}/{foreign}")).status_code == 404, use
    foreign = links.make(secret, "verify", other.id, uuid.UUID(request["id"]), future)
    # Both links name `other` (whose brand and legal block the page shows): its
    # page for another tenant's request id reads exactly like a missing id's.
    unknown = links.make(secret, "verify", other.id, uuid.uuid4(), future)
    shown, missing = (await client.get(f"/p/requests/verify/{foreign}"),
                      await client.get(f"/p/requests/verify/{unknown}"))
    assert shown.status_code == missing.status_code == 404 and shown.text == missing.text
    # A package link for a request with no package yet: not found, not a zip.
    premature = links.make(secret, "package", world.tenant.id, uuid.UUID(request["id"]), future)
    assert (await client.get(f"/p/requests/package/{premature}")).status_code == 404


async def test_bad_input_and_unknown_tenant(client):
    tenant = await make_tenant()
    bad = await _submit(client, tenant.slug, "not-an-address")
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    kind = await client.post(f"/p/{tenant.slug}/requests", json={"kind": "nope", "email": "a@b.fr"})
    assert kind.status_code == 422
    extra = await client.post(f"/p/{tenant.slug}/requests",
                              json={"kind": "access", "email": "a@b.fr", "admin": True})
    assert extra.status_code == 422
    assert (await client.get("/p/no-such-tenant/requests")).status_code == 404
    form = await client.get(f"/p/{tenant.slug}/requests", headers={"accept-language": "fr"})
    assert form.status_code == 200 and "Envoyer ma demande" in form.text
    assert (await client.get("/v1/requests", headers=tenant.headers)).json()["items"] == []


async def test_the_form_cannot_flood_an_inbox(client):
    tenant = await make_tenant()
    for _ in range(6):
        answer = await _submit(client, tenant.slug, "victim@example.org")
        assert answer.status_code == 200
    assert len(await _mails(tenant.id, "victim@example.org")) == 3  # RESENDS_PER_HOUR
