"""Three tenants for the attack suite: A and A2 in one agency, B outside it, each
with a purpose, a notice, a contact and a granted consent (tests/factories.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.admin.staff import make_agency
from tests.factories import World, make_tenant, make_world


@dataclass
class Scene:
    agency: str
    a: World
    a2: World
    b: World


async def make_scene() -> Scene:
    agency = await make_agency()
    a = await make_world(await make_tenant(agency=agency))
    a2 = await make_world(await make_tenant(agency=agency))
    b = await make_world(await make_tenant())
    return Scene(agency, a, a2, b)


async def snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """Everything of a tenant the API shows, to prove the admin changed none of it."""
    headers = world.tenant.headers
    out = {}
    for path in ("/v1/tenant", "/v1/contacts", "/v1/purposes", "/v1/notices",
                 f"/v1/contacts/{world.contact['id']}/consent-events"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        out[path] = response.json()
    return out
