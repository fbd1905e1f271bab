"""Messaging fixtures: an app that lets webhooks target this machine (the test
receivers listen on loopback), as WEBHOOK_ALLOW_PRIVATE=1 does in development."""

from __future__ import annotations

import dataclasses
from typing import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def private_client(backend: str) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_app
    from optinbase.settings import get_settings

    app = create_app(dataclasses.replace(get_settings(), webhook_allow_private=True))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
