"""Messaging fixtures: an app that lets webhooks target this machine (the test
receivers listen on loopback), as WEBHOOK_ALLOW_PRIVATE=1 does in development."""

from __future__ import annotations

import dataclasses
from typing import AsyncIterator

import httpx
import pytest


@pytest.fixture(scope="session")
def private_app():
    """Built once, as the session's `app` is (tests/apps.py)."""
    from api.app import create_app
    from optinbase.settings import get_settings

    return create_app(dataclasses.replace(get_settings(), webhook_allow_private=True))


@pytest.fixture
async def private_client(backend: str, private_app) -> AsyncIterator[httpx.AsyncClient]:
    from tests import apps

    transport = httpx.ASGITransport(app=apps.reset(private_app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
