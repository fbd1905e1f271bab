"""Limits hold across real server processes: two `optinbase serve` on one
database (and one SECRET_KEY, as deployed) count one client together, and
neither believes an X-Forwarded-For sent from 127.0.0.1 (uvicorn's default
trust in it is off)."""

from __future__ import annotations

import secrets

import pytest

from tests import processes
from tests.factories import make_notice, make_purpose, make_tenant, unique_slug
from tests.processes import Installation


@pytest.fixture
async def form(engine: str) -> tuple[str, dict]:
    tenant = await make_tenant(slug=unique_slug("guard-form"))
    await make_purpose(tenant, "news")
    notice = await make_notice(tenant, "news", ("email",))
    return tenant.slug, {"consents": [{"channel": "email", "purpose": "news",
                                       "notice_id": notice["id"]}]}


def test_two_servers_one_count_whatever_the_forwarding_header(engine, tmp_path, form):
    slug, body = form
    secret = secrets.token_urlsafe(48)  # a fresh one: counts of earlier runs are not ours
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        servers.append(Installation.on(engine, tmp_path / name))
    with servers[0].serving(SECRET_KEY=secret, OUTBOX_WORKER="0") as a, \
            servers[1].serving(SECRET_KEY=secret, OUTBOX_WORKER="0") as b, \
            processes.http(timeout=10) as http:
        statuses = []
        for i in range(12):
            server = (a, b)[i % 2]
            answer = http.post(f"{server.base_url}/p/{slug}/subscribe",
                               headers={"X-Forwarded-For": f"203.0.113.{i}"},
                               json={**body, "email": f"proc{i}@example.org"})
            statuses.append(answer.status_code)
    assert statuses == [202] * 10 + [429, 429], statuses
