"""Argon2id password hashing for staff users.

Piccolo's `BaseUser` hard-codes PBKDF2 in five places; this subclass overrides
each of them, keeps accepting PBKDF2 hashes from before, and upgrades them to
argon2id on the next successful login. Hashing costs ~100 ms of CPU, so the
async paths run it in a worker thread rather than on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import hashlib
import hmac
import logging
from typing import Any, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from piccolo.apps.user.tables import BaseUser

from optinbase.settings import ARGON2_PROFILES, get_settings

logger = logging.getLogger(__name__)

# argon2id at the cost ARGON2_PROFILE names (optinbase.settings: the profiles, and
# the test profile refused in production). Every hash records its own parameters, so
# hashes of any profile verify, and passwords are re-hashed to the configured profile at
# the next login.
@functools.cache
def hasher() -> PasswordHasher:
    return PasswordHasher(**ARGON2_PROFILES[get_settings().argon2_profile])


_ARGON2_PREFIX = "$argon2id$"
_PBKDF2_PREFIX = "pbkdf2_sha256"


@functools.cache
def dummy_hash() -> str:
    """Verified against when the username (or an API key id, tenants.keys) is
    unknown, so timing does not tell.
    Made on first use, not at import: every command and worker would otherwise
    pay one argon2 hash (~0.1–0.4 s) at start-up."""
    return hasher().hash("optinbase-timing-equaliser")


def is_hashed(value: str) -> bool:
    return value.startswith(_ARGON2_PREFIX) or value.startswith(_PBKDF2_PREFIX)


def hash_secret(secret: str) -> str:
    return hasher().hash(secret)


def verify_secret(stored: str, secret: str) -> bool:
    """True when `secret` matches `stored` (argon2id or legacy PBKDF2)."""
    if stored.startswith(_PBKDF2_PREFIX):
        try:
            _, iterations, salt, digest = stored.split("$")
        except ValueError:
            return False
        candidate = hashlib.pbkdf2_hmac(
            "sha256", secret.encode(), salt.encode(), int(iterations)
        ).hex()
        return hmac.compare_digest(candidate, digest)
    try:
        return hasher().verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


class Argon2User(BaseUser, tablename="argon2_user_base"):
    """BaseUser with argon2id. Concrete tables subclass it with a tablename."""

    _min_password_length = 10

    def __init__(self, **kwargs: Any):
        password = kwargs.get("password")
        if password and not is_hashed(password):
            kwargs["password"] = hash_secret(password)
        # Skip BaseUser.__init__, which would PBKDF2 the argon2 hash again.
        super(BaseUser, self).__init__(**kwargs)

    def __setattr__(self, name: str, value: Any):
        if name == "password" and value and not is_hashed(value):
            value = hash_secret(value)
        # Skip BaseUser.__setattr__ (PBKDF2).
        super(BaseUser, self).__setattr__(name, value)

    @classmethod
    def _validate_password(cls, password: str) -> None:
        if not password:
            raise ValueError("A password must be provided.")
        if len(password) < cls._min_password_length:
            raise ValueError(
                f"The password is too short (min {cls._min_password_length})."
            )
        if len(password) > cls._max_password_length:
            raise ValueError(
                f"The password is too long (max {cls._max_password_length})."
            )
        if is_hashed(password):
            raise ValueError("Do not pass a hashed password.")

    @classmethod
    def hash_password(
        cls, password: str, salt: str = "", iterations: Optional[int] = None
    ) -> str:
        if len(password) > cls._max_password_length:
            raise ValueError("The password is too long.")
        return hash_secret(password)

    @classmethod
    async def update_password(cls, user: str | int, password: str) -> None:
        cls._validate_password(password)
        clause = cls.username == user if isinstance(user, str) else cls.id == user
        hashed = await asyncio.to_thread(hash_secret, password)
        await cls.update({cls.password: hashed}).where(clause).run()

    @classmethod
    async def create_user(cls, username: str, password: str, **extra: Any):
        if not username:
            raise ValueError("A username must be provided.")
        cls._validate_password(password)
        hashed = await asyncio.to_thread(hash_secret, password)
        user = cls(username=username, password=hashed, **extra)
        await user.save()
        return user

    @classmethod
    async def login(cls, username: str, password: str) -> Optional[int]:
        if len(username) > 100 or len(password) > cls._max_password_length:
            return None
        row = (
            await cls.select(cls._meta.primary_key, cls.password, cls.active)
            .where(cls.username == username)
            .first()
            .run()
        )
        stored = row["password"] if row else dummy_hash()
        ok = await asyncio.to_thread(verify_secret, stored, password)
        # A disabled account answers like a wrong password, after the same hash
        # work, so neither its existence nor its state shows.
        if not row or not ok or not row["active"]:
            return None
        if not stored.startswith(_ARGON2_PREFIX) or hasher().check_needs_rehash(stored):
            hashed = await asyncio.to_thread(hash_secret, password)
            await cls.update({cls.password: hashed}).where(
                cls.username == username
            ).run()
        await cls.update(
            {cls.last_login: datetime.datetime.now()}
        ).where(cls.username == username).run()
        return row["id"]
