"""`format=meta` and `format=google` exports of a `social_ads` audience: each
platform's header and normalisation, only people whose social-ads consent is
valid, no clear identifier in the file, and no other channel's consent used."""

from __future__ import annotations

import csv
import io

from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant

EVERYONE = {"type": "all", "rules": []}


async def _audience(client):
    tenant = await make_tenant()
    await make_purpose(tenant, "ads")
    ads = await make_notice(tenant, purpose="ads", channels=("social_ads",),
                            text="Show me offers on social networks.")
    email_notice = await make_notice(tenant, purpose="ads", channels=("email",),
                                     text="Send me offers by e-mail.")
    mary = await make_contact(tenant, email="John_Smith@gmail.com", phone="+1 650 555 1212",
                              first_name="Mary", last_name="Smith", country="US",
                              postal_code="94035-1234", birth_year=1980, gender="F",
                              attributes={"city": "Menlo Park"})
    await grant(tenant, mary["id"], ads["id"], channel="social_ads", purpose="ads")
    # Consent by e-mail only: never in an ad-platform file.
    other = await make_contact(tenant, email="other@example.org")
    await grant(tenant, other["id"], email_notice["id"], channel="email", purpose="ads")
    # Social ads granted, but no e-mail nor phone: nothing to match on.
    nameless = await make_contact(tenant, email=None, external_id="crm-7", first_name="Nobody")
    await grant(tenant, nameless["id"], ads["id"], channel="social_ads", purpose="ads")
    response = await client.post("/v1/segments", json={"name": "all", "rules": EVERYONE},
                                 headers=tenant.headers)
    return tenant, response.json()["id"]


async def _export(client, tenant, segment_id, fmt, channel="social_ads"):
    return await client.get(f"/v1/segments/{segment_id}/export",
                            params={"channel": channel, "purpose": "ads", "format": fmt},
                            headers=tenant.headers)


async def test_meta_customer_file(client):
    tenant, segment_id = await _audience(client)
    response = await _export(client, tenant, segment_id, "meta")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "meta.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["email", "phone", "fn", "ln", "ct", "zip", "country", "doby", "gen"]
    # Meta's documented examples, end to end from a stored contact.
    assert rows == [{
        "email": "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
        "phone": "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
        "fn": "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",
        "ln": "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd",
        "ct": "0007a3d64c01e23d5075203c5977c14e4f7e01a3fc570686fcc50b5e1dd42685",
        "zip": "1794327a4d443904421f5ca1f3d72d0a62ba2f0770d80755ec2220fc0efb052e",
        "country": "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
        "doby": "051c2e380d07844ffaca43743957f8c0efe2bdf74c6c1e6a9dcccb8d1a3c596b",
        "gen": "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
    }]
    for clear in ("john_smith", "6505551212", "Mary", "Smith", "Menlo", "94035", "other@"):
        assert clear.lower() not in response.text.lower()


async def test_google_customer_match_file(client):
    tenant, segment_id = await _audience(client)
    response = await _export(client, tenant, segment_id, "google")
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert rows[1:] == [[
        # john_smith@gmail.com: Gmail's local part keeps its underscore, loses dots only.
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
        "1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8",  # +16505551212
        "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec",  # mary
        "6627835f988e2c5e50533d491163072d3f4f41f5c8b04630150debb3722ca2dd",  # smith
        "us", "94035-1234",  # Google: country and zip are not hashed
    ]]


async def test_platform_files_need_the_social_ads_channel(client):
    tenant, segment_id = await _audience(client)
    for fmt in ("meta", "google"):
        response = await _export(client, tenant, segment_id, fmt, channel="email")
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "social_ads" in response.json()["detail"]
    bad = await _export(client, tenant, segment_id, "tiktok")
    assert bad.status_code in (400, 422)


async def test_another_tenants_segment_is_absent(client):
    tenant, segment_id = await _audience(client)
    stranger = await make_tenant()
    await make_purpose(stranger, "ads")
    response = await _export(client, stranger, segment_id, "meta")
    assert response.status_code == 404
