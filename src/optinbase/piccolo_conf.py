"""Piccolo configuration: the engine comes from DATABASE_URL.

Migrations on PostgreSQL run as the owner role: `optinbase migrate` exports
OPTINBASE_DB_ROLE=owner, which picks DATABASE_OWNER_URL here.
"""

import os

from piccolo.conf.apps import AppRegistry

from optinbase.db import engine_from_url

_url = os.environ.get("DATABASE_URL") or "sqlite:///optinbase.sqlite3"
if os.environ.get("OPTINBASE_DB_ROLE") == "owner":
    _url = os.environ.get("DATABASE_OWNER_URL") or _url

DB = engine_from_url(_url)

APP_REGISTRY = AppRegistry(
    apps=["tenants.piccolo_app", "consent.piccolo_app", "messaging.piccolo_app"]
)
