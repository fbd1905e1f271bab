"""End-to-end fixtures: real `optinbase` processes (tests/processes.py) on both
engines, beside this process, which writes the tests' set-up through the
domain services (tests/factories.py) into the same database.

That database is the session's test database (on PostgreSQL the processes
connect as the application role, management commands as the owner): the
processes see the whole run's data, so the tenants and addresses of these tests
are unique names (factories.unique_slug), and e-mail is read by recipient
(SmtpServer.mail_to) — a server also delivers what earlier tests left queued.
"""

from __future__ import annotations

from typing import AsyncIterator, Iterator

import pytest

from tests import databases
from tests.databases import BACKENDS
from tests.messaging.smtp import SmtpServer
from tests.processes import Installation


@pytest.fixture(scope="module", params=BACKENDS)
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The engine of this module's processes, and of this process's set-up: the
    module-wide counterpart of the `backend` fixture (a server may serve a
    whole module)."""
    async with databases.in_use(request.param):
        yield request.param


@pytest.fixture
def installation(engine: str, tmp_path) -> Installation:
    return Installation.on(engine, tmp_path)


@pytest.fixture(scope="module")
def server(engine: str, tmp_path_factory) -> Iterator[Installation]:
    """One server for the module; keys are re-checked every second so a
    revocation by the CLI shows quickly."""
    installed = Installation.on(engine, tmp_path_factory.mktemp("server"),
                                API_KEY_CACHE_SECONDS="1")
    with installed.serving() as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
