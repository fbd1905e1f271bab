"""Piccolo Admin is built once per process: on first use outside production
(admin.mount says why), at start in production."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx

from admin import forms, mount
from optinbase.settings import get_settings


def _counting(monkeypatch) -> list[bool]:
    built: list[bool] = []
    real = mount.build_admin

    def build(production: bool):
        built.append(production)
        return real(production=production)

    monkeypatch.setattr(mount, "build_admin", build)
    return built


async def test_built_by_the_first_request_once_even_when_two_arrive_together(monkeypatch):
    built = _counting(monkeypatch)
    gate = mount.OnFirstUse(production=False)
    assert built == []
    transport = httpx.ASGITransport(app=gate)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answers = await asyncio.gather(client.get("/"), client.get("/"))
    assert [a.status_code < 500 for a in answers] == [True, True], answers
    assert built == [False]


def test_production_builds_it_at_start(monkeypatch):
    built = _counting(monkeypatch)
    monkeypatch.setattr(forms, "KEY_AUTHENTICATOR", forms.KEY_AUTHENTICATOR)  # put back after
    development = get_settings()
    mount.admin_handlers(development, key_authenticator=None)
    assert built == []
    mount.admin_handlers(dataclasses.replace(development, environment="production"),
                         key_authenticator=None)
    assert built == [True]
