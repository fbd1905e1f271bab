"""Staff users and logged-in admin clients, through the real login endpoint
(session cookie + CSRF token), on the app of the `client` fixture."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Optional

import httpx

from tenants import service
from tests.factories import as_owner

PASSWORD = "correct horse battery"


async def make_agency() -> str:
    slug = f"ag-{uuid.uuid4().hex[:8]}"
    async with as_owner():
        await service.create_agency(slug, "Agency " + slug)
    return slug


async def make_staff(*, tenant: Optional[str] = None, agency: Optional[str] = None,
                     superuser: bool = False, role: str = "manager") -> str:
    email = f"staff-{uuid.uuid4().hex[:10]}@example.com"
    async with as_owner():
        await service.create_staff(email, PASSWORD, tenant_slug=tenant, agency_slug=agency,
                                   superuser=superuser, role=role)
    return email


@dataclass
class Admin:
    """An admin session: every call goes under /admin/api with the CSRF header."""

    http: httpx.AsyncClient

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/admin/api{path}", params=params)

    async def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.request(
            method, f"/admin/api{path}", json=body,
            headers={"X-CSRFToken": self.http.cookies.get("csrftoken", "")},
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def new_http(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))


async def csrf(http: httpx.AsyncClient) -> str:
    response = await http.get("/admin/")
    assert response.status_code == 200
    return http.cookies["csrftoken"]


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Admin:
    http = new_http(client)
    token = await csrf(http)
    response = await http.post("/admin/public/login/", json={"username": email, "password": password},
                               headers={"X-CSRFToken": token})
    assert response.status_code == 200, response.text
    assert http.cookies.get("id")
    return Admin(http)
