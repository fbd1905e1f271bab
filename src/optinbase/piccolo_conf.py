"""Piccolo configuration: the engine comes from DATABASE_URL.

Migrations on PostgreSQL run as the owner role: `optinbase migrate` points
Piccolo at DATABASE_OWNER_URL itself (`db.use_engine`); Piccolo's own command
line picks it with OPTINBASE_DB_ROLE=owner.
"""

import os
import sqlite3

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from optinbase import dotenv


class SecureDeleteConnection(sqlite3.Connection):
    """Every connection zeroes what it deletes or moves (`secure_delete`).

    Erasure promises that the file's bytes no longer hold the person's data.
    Setting the pragma only in the erasing transaction is not enough: a row
    updated earlier (an outbox message marked sent, a request blanked) may
    have left its old copy in a page's free space, unzeroed, and the erasure's
    own deletes zero only the cells they free. Debian's SQLite is built with
    secure_delete on; others (macOS, python.org builds) are not. The pragma is
    per connection and Piccolo opens a connection per query, hence a factory."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA secure_delete = ON")


def engine_from_url(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        return SQLiteEngine(path=url[len("sqlite:///") :], timeout=30,
                            factory=SecureDeleteConnection)
    if url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": url})
    raise ValueError(f"unsupported DATABASE_URL scheme: {url.split(':', 1)[0]}")



dotenv.load()  # before anything reads the environment (this module is imported first)

_url = os.environ.get("DATABASE_URL") or "sqlite:///optinbase.sqlite3"
if os.environ.get("OPTINBASE_DB_ROLE") == "owner":
    _url = os.environ.get("DATABASE_OWNER_URL") or _url

try:
    DB = engine_from_url(_url)
except ValueError:  # reported in one line by settings.load_settings, which every entry point calls
    DB = None

APP_REGISTRY = AppRegistry(
    apps=["tenants.piccolo_app", "consent.piccolo_app", "messaging.piccolo_app"]
)
