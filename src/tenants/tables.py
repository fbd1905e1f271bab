"""Control-plane tables: who the tenants are and who may act for them.

`ApiKey` carries `tenant_id` and sits under row-level security like every tenant
table; `Agency`, `Tenant`, staff users and memberships are read before a tenant is
known (key lookup, login, public URLs) and so are guarded by grants instead.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Optional

from piccolo.columns import (
    JSONB,
    UUID,
    ForeignKey,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.readable import Readable
from piccolo.table import Table
from piccolo_api.session_auth.tables import SessionsBase

from tenants.passwords import Argon2User


class Agency(Table, tablename="agency"):
    id = UUID(primary_key=True)
    slug = Varchar(length=63, unique=True)
    name = Varchar(length=200)
    created_at = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.name])


class Tenant(Table, tablename="tenant"):
    id = UUID(primary_key=True)
    slug = Varchar(length=63, unique=True, help_text="Used in public URLs.")
    name = Varchar(length=200)
    legal_name = Varchar(length=200, default="")
    dpo_email = Varchar(length=254, default="")
    country = Varchar(length=2, default="")
    agency = ForeignKey(
        Agency, null=True, on_delete=OnDelete.restrict, db_column_name="agency_id"
    )
    # Double-opt-in channels, token lifetimes, retention months, sender, locale.
    settings = JSONB(default={})
    # Keys the HMAC of suppressed identifiers; random per tenant so a hash
    # list leaked from one tenant says nothing about another.
    secret = Varchar(length=64, secret=True)
    created_at = Timestamptz()

    @classmethod
    def get_readable(cls) -> Readable:
        return Readable(template="%s", columns=[cls.name])


class StaffUser(Argon2User, tablename="staff_user"):
    """Tenant and agency staff; passwords hashed with argon2id."""


class StaffSession(SessionsBase, tablename="staff_session"):
    """Admin panel sessions (piccolo_api session auth): kept in the database so
    any number of app processes share them. The row keeps the SHA-256 of the
    token, never the token: whoever reads the table (a backup, the application
    role) holds no session. The token is 256 random bits, so a plain hash is
    enough (nothing to guess it from)."""

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    async def create_session(cls, user_id: int, expiry_date: Optional[datetime] = None,
                             max_expiry_date: Optional[datetime] = None) -> "StaffSession":
        token = secrets.token_urlsafe(32)
        session = cls(token=cls.digest(token), user_id=user_id)
        if expiry_date:
            session.expiry_date = expiry_date
        if max_expiry_date:
            session.max_expiry_date = max_expiry_date
        await session.save().run()
        session.token = token  # for the cookie piccolo_api sets; the row has the digest
        return session

    @classmethod
    async def get_user_id(cls, token: str,
                          increase_expiry: Optional[timedelta] = None) -> Optional[int]:
        return await super().get_user_id(cls.digest(token), increase_expiry)

    @classmethod
    async def remove_session(cls, token: str) -> None:
        await super().remove_session(cls.digest(token))


class Membership(Table, tablename="membership"):
    id = UUID(primary_key=True)
    user = ForeignKey(StaffUser, on_delete=OnDelete.cascade, db_column_name="user_id")
    tenant = ForeignKey(
        Tenant, null=True, on_delete=OnDelete.cascade, db_column_name="tenant_id"
    )
    agency = ForeignKey(
        Agency, null=True, on_delete=OnDelete.cascade, db_column_name="agency_id"
    )
    role = Varchar(length=16, choices=None)
    created_at = Timestamptz()


class ApiKey(Table, tablename="api_key"):
    id = UUID(primary_key=True)
    tenant = ForeignKey(
        Tenant, null=True, on_delete=OnDelete.cascade, db_column_name="tenant_id"
    )
    agency = ForeignKey(
        Agency, null=True, on_delete=OnDelete.cascade, db_column_name="agency_id"
    )
    name = Varchar(length=200, default="")
    key_id = Varchar(length=32, unique=True, help_text="Public part of the key.")
    secret_hash = Varchar(length=200, secret=True)
    scopes = JSONB(default=[])
    created_at = Timestamptz()
    last_used_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
