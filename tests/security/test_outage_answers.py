"""What a database failure means for a caller (db.domain_error_of): every way
asyncpg reports a cut connection is "unavailable" (503 + Retry-After), seen in
the fault test (tests/faults) as a fast shutdown lands between two statements."""

from __future__ import annotations

import asyncpg
import pytest

from optinbase import db
from optinbase.errors import Unavailable


@pytest.mark.parametrize("exc", [
    asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.InterfaceError("connection is closed"),
    ConnectionRefusedError(111, "Connect call failed"),
])
def test_a_cut_connection_is_unavailable(exc):
    assert isinstance(db.domain_error_of(exc), Unavailable)


def test_other_client_errors_stay_unexpected():
    assert db.domain_error_of(asyncpg.InternalClientError("something else")) is None
