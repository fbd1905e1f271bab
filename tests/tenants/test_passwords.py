"""Staff passwords: argon2id at rest, login, and the upgrade of legacy PBKDF2
hashes (Piccolo's BaseUser format) on the next successful login."""

from __future__ import annotations

import uuid

import pytest
from piccolo.apps.user.tables import BaseUser

from optinbase import db
from optinbase.settings import ConfigError, load_settings
from tenants import passwords
from tenants.tables import StaffUser

PASSWORD = "correct horse battery"


def new_username() -> str:
    return f"staff-{uuid.uuid4().hex[:12]}@example.com"


async def stored_password(username: str) -> str:
    return await db.fetchval("SELECT password FROM staff_user WHERE username = {}", username)


async def test_create_user_stores_argon2id(backend):
    username = new_username()
    user = await StaffUser.create_user(username=username, password=PASSWORD, email=username,
                                       active=True)
    stored = await stored_password(username)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert user.password == stored


async def test_login_right_wrong_and_unknown(backend):
    username = new_username()
    user = await StaffUser.create_user(username=username, password=PASSWORD, email=username,
                                       active=True)
    before = await stored_password(username)
    assert await StaffUser.login(username, PASSWORD) == user.id
    assert await StaffUser.login(username, PASSWORD + "!") is None
    assert await StaffUser.login(username, "") is None
    assert await StaffUser.login(new_username(), PASSWORD) is None
    # A current argon2id hash is not rewritten on login.
    assert await stored_password(username) == before


async def test_short_password_is_refused(backend):
    username = new_username()
    with pytest.raises(ValueError, match="short"):
        await StaffUser.create_user(username=username, password="short", email=username,
                                active=True)
    assert await StaffUser.exists().where(StaffUser.username == username).run() is False


async def test_legacy_pbkdf2_hash_logs_in_and_is_upgraded(backend):
    username = new_username()
    user = await StaffUser.create_user(username=username, password="placeholder-password",
                                       email=username, active=True)
    legacy = BaseUser.hash_password(PASSWORD)
    assert legacy.startswith("pbkdf2_sha256$")
    await db.execute("UPDATE staff_user SET password = {} WHERE username = {}", legacy, username)
    assert await stored_password(username) == legacy

    # A wrong password neither logs in nor touches the legacy hash.
    assert await StaffUser.login(username, "not the password") is None
    assert await stored_password(username) == legacy

    assert await StaffUser.login(username, PASSWORD) == user.id
    upgraded = await stored_password(username)
    assert upgraded.startswith("$argon2id$")
    assert PASSWORD not in upgraded
    # The upgraded hash still takes the same password, and only that one.
    assert await StaffUser.login(username, PASSWORD) == user.id
    assert await StaffUser.login(username, "placeholder-password") is None
    assert await stored_password(username) == upgraded


def test_profiles_and_the_test_profile_refused_in_production(monkeypatch):
    """The suite hashes at `test-only` cost (tests/conftest.py); a deployment
    gets RFC 9106's parameters unless it names another profile, and never the
    test one in production."""
    monkeypatch.delenv("ARGON2_PROFILE")
    assert load_settings().argon2_profile == "rfc9106-low-memory"
    monkeypatch.setenv("ARGON2_PROFILE", "md5")
    with pytest.raises(ConfigError, match="ARGON2_PROFILE must be one of"):
        load_settings()
    monkeypatch.setenv("OPTINBASE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example:587")
    for profile in ("rfc9106-low-memory", "owasp-minimum"):
        monkeypatch.setenv("ARGON2_PROFILE", profile)
        assert load_settings().argon2_profile == profile
    monkeypatch.setenv("ARGON2_PROFILE", "test-only")
    with pytest.raises(ConfigError, match="test-only is for test suites"):
        load_settings()


def test_a_hash_of_any_profile_verifies_and_is_marked_for_rehashing():
    current = passwords.hasher()
    assert current.hash(PASSWORD).startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    deployed = passwords.PasswordHasher(**passwords.ARGON2_PROFILES["rfc9106-low-memory"])
    stored = deployed.hash(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert passwords.verify_secret(stored, PASSWORD)
    assert not passwords.verify_secret(stored, PASSWORD + "!")
    assert current.check_needs_rehash(stored)  # upgraded (here: to the suite's) at login
