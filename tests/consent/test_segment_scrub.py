"""Erasure and saved segments (consent.segments.scrub): a rule that names the
erased person's e-mail, phone or external id is blanked, the segment still
validates and now matches nobody; rules about other people, a short external
id inside other values, and first names are left as they were."""

from __future__ import annotations

from tests.factories import make_contact, make_purpose, make_tenant


def _field(field: str, op: str, value) -> dict:
    return {"type": "field", "field": field, "op": op, "value": value}


async def test_segments_forget_the_erased_persons_identifiers_only(client):
    tenant = await make_tenant()
    h = tenant.headers
    await make_purpose(tenant)
    gone = await make_contact(tenant, email="Gone.Person@example.org", phone="+33612345601",
                              external_id="42", first_name="Marie")
    await make_contact(tenant, email="stays@example.org", external_id="420")
    named = (await client.post("/v1/segments", headers=h, json={
        "name": "Just gone.person@example.org", "rules": {"type": "any", "rules": [
            _field("email", "eq", "GONE.PERSON@example.org"),
            _field("phone", "in", ["+33612345601", "+33612345602"]),
            _field("external_id", "eq", "42")]}})).json()
    other = (await client.post("/v1/segments", headers=h, json={
        "name": "Maries and 420", "rules": {"type": "any", "rules": [
            _field("first_name", "eq", "Marie"), _field("external_id", "in", ["420", "4242"]),
            _field("email", "eq", "stays@example.org")]}})).json()

    assert (await client.delete(f"/v1/contacts/{gone['id']}", headers=h)).status_code == 204

    after = (await client.get(f"/v1/segments/{named['id']}", headers=h)).json()
    assert after["name"] == "Just [erased]"
    assert after["rules"]["rules"] == [_field("email", "eq", ""),
                                       _field("phone", "in", ["", "+33612345602"]),
                                       _field("external_id", "eq", "")]
    untouched = (await client.get(f"/v1/segments/{other['id']}", headers=h)).json()
    assert (untouched["name"], untouched["rules"]) == (other["name"], other["rules"])
    count = await client.get(f"/v1/segments/{named['id']}/count", headers=h,
                             params={"channel": "email", "purpose": "newsletter"})
    assert count.status_code == 200 and count.json()["count"] == 0, count.text  # still valid
    audit = (await client.get("/v1/audit-events", headers=h)).json()["items"]
    assert {"by": "erasure"} in [e["details"] for e in audit if e["action"] == "segment.updated"]
