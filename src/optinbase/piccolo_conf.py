"""Piccolo configuration: the engine comes from DATABASE_URL.

Migrations on PostgreSQL run as the owner role: `optinbase migrate` points
Piccolo at DATABASE_OWNER_URL itself (`db.use_engine`); Piccolo's own command
line picks it with OPTINBASE_DB_ROLE=owner.
"""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from optinbase import dotenv


def engine_from_url(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        return SQLiteEngine(path=url[len("sqlite:///") :], timeout=30)
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
