"""SECRET_KEY never reaches PostgreSQL (issue 13 §4): the CSV export signs its
links in SQL with a key of that tenant, purpose and channel alone, derived in
the process. Links sent before (keyed with SECRET_KEY itself) still work."""

from __future__ import annotations

import uuid

from consent import sealed, tokens
from optinbase import db
from optinbase.settings import get_settings
from tests.factories import make_contact, make_purpose, make_tenant
from tests.security.scenes import exported_csv


def _master_material(secret_key: str) -> list[str]:
    key = secret_key.encode().ljust(64, b"\0")
    return [secret_key, secret_key.encode().hex(), bytes(b ^ 0x36 for b in key).hex()[:64],
            bytes(b ^ 0x5C for b in key).hex()[:64]]


async def test_export_sends_a_scoped_key_never_the_master(client, monkeypatch):
    sent: list[str] = []
    real_fetch, real_undecoded, real_copy = db.fetch, db.fetch_undecoded, db.copy_out

    async def fetch(text, *args, **named):
        sent.append(repr((text, args, named)))
        return await real_fetch(text, *args, **named)

    async def fetch_undecoded(text, *args):
        sent.append(repr((text, args)))
        return await real_undecoded(text, *args)

    async def copy_out(text, args, sink, **options):
        sent.append(repr((text, args)))
        return await real_copy(text, args, sink, **options)

    monkeypatch.setattr(db, "fetch", fetch)
    monkeypatch.setattr(db, "fetch_undecoded", fetch_undecoded)
    monkeypatch.setattr(db, "copy_out", copy_out)
    tenant, purpose, answer = await exported_csv(client, email="export@example.org")
    assert "/p/unsubscribe/" in answer.text
    secret_key = get_settings().secret_key
    everything = "\n".join(sent)
    for material in _master_material(secret_key):
        assert material not in everything
    scope = tenant.id.bytes + uuid.UUID(purpose["id"]).bytes + bytes([0])
    if db.is_postgres():  # the scoped key is what PostgreSQL got, in its K^opad form
        scoped = tokens.scope_key(secret_key, scope).ljust(64, b"\0")
        assert bytes(b ^ 0x5C for b in scoped).hex() in everything


async def test_a_scoped_key_signs_nothing_else(client):
    """Whoever read one scope's key from a log cannot sign another purpose's
    (or tenant's) links with it."""
    secret_key = get_settings().secret_key
    tenant = await make_tenant()
    news = await make_purpose(tenant, "news")
    other = await make_purpose(tenant, "other")
    contact = await make_contact(tenant, email="scope@example.org")
    leaked = tokens.scope_key(secret_key, tenant.id.bytes + uuid.UUID(news["id"]).bytes
                              + bytes([0]))
    body = (b"\x02" + tenant.id.bytes + uuid.UUID(other["id"]).bytes + bytes([0])
            + uuid.UUID(contact["id"]).bytes)
    forged = sealed.seal(leaked, b"optinbase-subscriber-link\x00", body)
    assert tokens.verify_token(secret_key, forged) is None
    assert (await client.get(f"/p/preferences/{forged}")).status_code == 404
    genuine = tokens.make_token(secret_key, tenant.id, uuid.UUID(contact["id"]),
                                uuid.UUID(news["id"]), "email")
    assert (await client.get(f"/p/preferences/{genuine}")).status_code == 200


async def test_links_sent_before_still_work(client):
    """A version-1 link, keyed with SECRET_KEY as before this change."""
    secret_key = get_settings().secret_key
    tenant = await make_tenant()
    purpose = await make_purpose(tenant)
    contact = await make_contact(tenant, email="old-link@example.org")
    body = (b"\x01" + tenant.id.bytes + uuid.UUID(purpose["id"]).bytes + bytes([0])
            + uuid.UUID(contact["id"]).bytes)
    old = sealed.seal(secret_key, b"optinbase-subscriber-link\x00", body)
    subject = tokens.verify_token(secret_key, old)
    assert subject is not None and subject.contact_id == uuid.UUID(contact["id"])
    assert (await client.get(f"/p/unsubscribe/{old}")).status_code == 200
