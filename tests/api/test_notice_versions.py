"""Notice versioning (issue 17 §7), on both engines: the second notice for a
purpose and language is version 2, and `text_sha256` is the SHA-256 of the exact
text (accents, line breaks and trailing spaces included) — what a consent receipt
and the ledger point to. Versions count per purpose (unique index
`notice_tenant_purpose_version`), across its languages: a translation is the next
version of the purpose's wording; other purposes and tenants count apart."""

from __future__ import annotations

import hashlib

from tests.factories import make_purpose, make_tenant


async def _notice(client, tenant, text, language="fr", purpose="newsletter"):
    response = await client.post("/v1/notices", json={
        "purpose": purpose, "channels": ["email"], "language": language, "text": text},
        headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_second_notice_is_version_two_with_the_digest_of_its_exact_text(client):
    tenant, other = await make_tenant(), await make_tenant()
    for t in (tenant, other):
        await make_purpose(t)
    await make_purpose(tenant, "partners")
    first_text = "Oui, envoyez-moi la lettre d'information."
    second_text = "Oui, envoyez-moi la lettre d’information — chaque mois.\n  "
    first = await _notice(client, tenant, first_text)
    second = await _notice(client, tenant, second_text)
    assert (first["version"], second["version"]) == (1, 2)
    assert second["text_sha256"] == hashlib.sha256(second_text.encode("utf-8")).hexdigest()
    assert first["text_sha256"] == hashlib.sha256(first_text.encode("utf-8")).hexdigest()
    assert second["text_sha256"] != hashlib.sha256(second_text.strip().encode()).hexdigest()
    # Counted per purpose (its languages together), and per tenant.
    assert (await _notice(client, tenant, "Yes, the letter.", language="en"))["version"] == 3
    assert (await _notice(client, tenant, "Oui, partenaires.", purpose="partners"))["version"] == 1
    assert (await _notice(client, other, first_text))["version"] == 1
    assert (await _notice(client, tenant, "Quatrième version."))["version"] == 4
    stored = (await client.get(f"/v1/notices/{second['id']}", headers=tenant.headers)).json()
    assert stored["text"] == second_text and stored["text_sha256"] == second["text_sha256"]
