"""The `optinbase` command line as real subprocesses against a fresh SQLite file
(and, when TEST_POSTGRES_URL is set, a PostgreSQL database of this run's own,
dropped at the end: concurrent runs never share it)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import uuid
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest

from optinbase import db
from tenants import repository
from tests import apps, databases
from tests.factories import (
    TenantFixture,
    grant,
    make_contact,
    make_notice,
    make_purpose,
)
from tests.processes import Installation

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"^obk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
PASSWORD = "a long enough password"


class Cli(Installation):
    """The command line under test: `cli(...)` runs a command, `cli.ok(...)` one
    that must succeed."""

    __call__ = Installation.run
    ok = Installation.cli

    def new_key(self, *args: str) -> str:
        last = self.ok("keys", "create", *args).splitlines()[-1]
        assert KEY.fullmatch(last), last
        return last


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    workdir = tmp_path_factory.mktemp("cli")
    runner = Cli(workdir, f"sqlite:///{workdir / 'x.sqlite3'}")
    assert "migrations applied" in runner.ok("migrate")
    runner.ok("tenants", "create", "acme", "--name", "Acme")
    return runner


@contextlib.asynccontextmanager
async def engine_on(url: str) -> AsyncIterator[None]:
    """This process works on the database the CLI wrote."""
    previous = db.get_engine()
    engine = db.engine_from_url(url)
    db.use_engine(engine)
    await db.start(engine)
    try:
        yield
    finally:
        await db.stop(engine)
        db.use_engine(previous)


@contextlib.asynccontextmanager
async def app_on(url: str, app) -> AsyncIterator[httpx.AsyncClient]:
    """The real app, in this process, on the database the CLI wrote (the
    session's app, reset as a new one would start: no key cached)."""
    async with engine_on(url):
        transport = httpx.ASGITransport(app=apps.reset(app), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


def bearer(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


async def test_key_created_by_cli_works_until_revoked(cli, app):
    cli.ok("tenants", "create", "keyco", "--name", "Key Co")
    result = cli("keys", "create", "--tenant", "keyco", "--name", "crm")
    assert result.returncode == 0, result.stderr
    key = result.stdout.splitlines()[-1]
    assert KEY.fullmatch(key)
    assert key not in result.stderr
    spare = cli.new_key("--tenant", "keyco", "--scope", "contacts:read")
    async with app_on(cli.env["DATABASE_URL"], app) as client:
        tenant = await client.get("/v1/tenant", headers=bearer(key))
        assert tenant.status_code == 200, tenant.text
        assert tenant.json()["slug"] == "keyco"
        limited = await client.get("/v1/tenant", headers=bearer(spare))
        assert limited.json()["scopes"] == ["contacts:read"]
    assert "revoked" in cli.ok("keys", "revoke", key.split("_")[1])
    cli.ok("keys", "revoke", spare)  # the full key is accepted too
    async with app_on(cli.env["DATABASE_URL"], app) as client:
        for revoked in (key, spare):
            response = await client.get("/v1/tenant", headers=bearer(revoked))
            assert response.status_code == 401, response.text


async def test_staff_create_reads_the_password_from_stdin(cli):
    out = cli.ok("staff", "create", "Dpo@Example.COM", "--tenant", "acme", "--role", "dpo",
                 "--password-stdin", stdin=PASSWORD + "\n")
    assert "created" in out
    from tenants.tables import Membership, StaffUser

    async with engine_on(cli.env["DATABASE_URL"]):
        user_id = await StaffUser.login("dpo@example.com", PASSWORD)
        assert user_id is not None
        assert await StaffUser.login("dpo@example.com", PASSWORD + "x") is None
        stored = await db.fetchval("SELECT password FROM staff_user WHERE id = {}", user_id)
        assert stored.startswith("$argon2id$")
        rows = await Membership.select(Membership.role, Membership.tenant.slug.as_alias("tenant")).where(
            Membership.user == user_id).run()
        assert rows == [{"role": "dpo", "tenant": "acme"}]


async def test_agency_tenants_and_agency_key(cli, app):
    assert "created" in cli.ok("agencies", "create", "bigagency", "--name", "Big Agency")
    cli.ok("tenants", "create", "client-a", "--name", "Client A", "--agency", "bigagency")
    agency_key = cli.new_key("--agency", "bigagency")
    async with app_on(cli.env["DATABASE_URL"], app) as client:
        inside = await client.get("/v1/tenant", headers=bearer(agency_key, **{"X-Tenant": "client-a"}))
        assert inside.status_code == 200, inside.text
        assert inside.json()["slug"] == "client-a"
        outside = await client.get("/v1/tenant", headers=bearer(agency_key, **{"X-Tenant": "acme"}))
        assert outside.status_code == 404


async def test_ledger_verify_reads_the_chain(cli):
    cli.ok("tenants", "create", "ledgerco", "--name", "Ledger Co")
    key = cli.new_key("--tenant", "ledgerco")
    async with engine_on(cli.env["DATABASE_URL"]):
        record = await repository.tenant_by_slug("ledgerco")
        tenant = TenantFixture(record.id, "ledgerco", key, bearer(key), record.country)
        await make_purpose(tenant)
        notice = await make_notice(tenant)
        for _ in range(2):
            contact = await make_contact(tenant)
            await grant(tenant, contact["id"], notice["id"])
    result = cli("ledger", "verify", "--tenant", "ledgerco")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "2 events" in result.stdout


BAD_INPUT = [
    (("tenants", "create", "Bad Slug", "--name", "X"), None, {}, "slug"),
    (("tenants", "create", "acme", "--name", "Again"), None, {}, "already exists"),
    (("keys", "create", "--tenant", "no-such-tenant"), None, {}, "no-such-tenant"),
    (("keys", "create", "--tenant", "acme", "--scope", "contacts:read", "--scope", "everything"),
     None, {}, "everything"),
    (("staff", "create", "short@example.com", "--tenant", "acme", "--password-stdin"),
     "short\n", {}, "password"),
    (("keys", "revoke", "0123456789abcdef"), None, {}, "0123456789abcdef"),
    (("keys", "revoke", "not-a-key-id"), None, {}, "not-a-key-id"),
    (("ledger", "verify", "--tenant", "no-such-tenant"), None, {}, "no-such-tenant"),
    (("keys", "create", "--tenant", "acme", "--expires-in-days", "0"), None, {},
     "--expires-in-days"),
    (("tenants", "create", "orphan", "--name", "O", "--agency", "no-such-agency"), None, {},
     "no-such-agency"),
    (("staff", "create", "role@example.com", "--tenant", "acme", "--role", "king",
      "--password-stdin"), PASSWORD + "\n", {}, "role"),
    (("migrate",), None, {"DATABASE_URL": "mysql://u@127.0.0.1/db"}, "DATABASE_URL"),
    (("tenants", "create", "mysqlco", "--name", "M"), None,
     {"DATABASE_URL": "mysql://u@127.0.0.1/db"}, "DATABASE_URL"),
    (("tenants", "create", "no-name"), None, {}, "--name"),
    (("keys", "create", "--tenant", "acme", "--expires-in-days", "soon"), None, {}, "soon"),
    (("frobnicate",), None, {}, "frobnicate"),
]


@pytest.mark.parametrize(("args", "stdin", "env", "names"), BAD_INPUT,
                         ids=[" ".join(case[0][:3]) for case in BAD_INPUT])
def test_bad_input_exits_nonzero_with_one_line(cli, args, stdin, env, names):
    result = cli(*args, stdin=stdin, **env)
    assert result.returncode != 0, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert names in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert not KEY.search(result.stdout)


def test_bad_input_changed_nothing(cli):
    # After the refused commands above (or on their own): no second acme, no short-password user.
    result = cli("tenants", "create", "acme", "--name", "Acme")
    assert result.returncode != 0
    assert cli("keys", "create", "--tenant", "no-such-tenant").returncode != 0
    staff = cli("staff", "create", "short@example.com", "--tenant", "acme", "--password-stdin",
                stdin=PASSWORD + "\n")
    assert staff.returncode == 0, staff.stderr  # the earlier short-password attempt left no row


@pytest.fixture(scope="module")
async def postgres_cli(tmp_path_factory) -> AsyncIterator[Cli]:
    """A fresh database of this run's own, named after the session's test
    database (`<test db>_cli_<random>`), dropped at the end."""
    if not databases.POSTGRES_URL:
        pytest.skip("the PostgreSQL CLI test needs TEST_POSTGRES_URL (a prepared server)")
    if databases.CITUS_URL:  # prepare-postgres.sh works on its own server (PGADMIN_URL)
        pytest.skip("the CLI test prepares a database of its own, not on a Citus cluster")
    name = f"{urlparse(databases.POSTGRES_URL).path.lstrip('/')}_cli_{uuid.uuid4().hex[:8]}"
    prepared = subprocess.run(
        [str(ROOT / "scripts" / "prepare-postgres.sh"), name],
        capture_output=True, text=True, timeout=120,
    )
    assert prepared.returncode == 0, prepared.stderr
    try:
        env = dict(line.split("=", 1) for line in prepared.stdout.splitlines() if "=" in line)
        assert env["DATABASE_URL"] != env["DATABASE_OWNER_URL"]
        yield Cli(tmp_path_factory.mktemp("pgcli"), env["DATABASE_URL"], env["DATABASE_OWNER_URL"])
    finally:
        # Its owner drops it, from the session's test database.
        owner = await asyncpg.connect(databases.POSTGRES_OWNER_URL)
        try:
            await owner.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await owner.close()


async def test_cli_on_postgres_migrates_and_serves_keys(postgres_cli, app):
    cli = postgres_cli
    assert "migrations applied" in cli.ok("migrate")
    cli.ok("agencies", "create", "pgagency", "--name", "PG Agency")
    cli.ok("tenants", "create", "pgco", "--name", "PG Co", "--agency", "pgagency")
    key = cli.new_key("--tenant", "pgco")
    agency_key = cli.new_key("--agency", "pgagency")  # RLS policy agency_keys
    cli.ok("staff", "create", "pg@example.com", "--tenant", "pgco", "--password-stdin",
           stdin=PASSWORD + "\n")
    # The app connects as the application role: migrate granted it what it needs.
    async with app_on(cli.env["DATABASE_URL"], app) as client:
        response = await client.get("/v1/tenant", headers=bearer(key))
        assert response.status_code == 200, response.text
        assert response.json()["slug"] == "pgco"
        via_agency = await client.get("/v1/tenant",
                                      headers=bearer(agency_key, **{"X-Tenant": "pgco"}))
        assert via_agency.status_code == 200, via_agency.text
        assert via_agency.json()["slug"] == "pgco"
        from tenants.tables import StaffUser

        assert await StaffUser.login("pg@example.com", PASSWORD) is not None
        # Under RLS with no tenant set, the app role sees no key rows at all.
        assert await db.fetchval("SELECT count(*) FROM api_key") == 0
    cli.ok("keys", "revoke", key.split("_")[1])
    async with app_on(cli.env["DATABASE_URL"], app) as client:
        assert (await client.get("/v1/tenant", headers=bearer(key))).status_code == 401


def test_listing_commands_show_what_exists_and_never_a_secret(cli):
    cli.ok("agencies", "create", "listing-agency", "--name", "Listing Agency")
    cli.ok("tenants", "create", "listed", "--name", "Listed SAS", "--country", "FR")
    key = cli.new_key("--tenant", "listed", "--name", "crm", "--scope", "contacts:read")
    tenants = cli.ok("tenants", "list")
    assert re.search(r"^listed\s+Listed SAS\s+-\s+FR", tenants, re.M), tenants
    assert "acme" in tenants
    cli.ok("tenants", "attach", "listed", "--agency", "listing-agency")
    assert re.search(r"^listed\s+Listed SAS\s+listing-agency\s", cli.ok("tenants", "list"), re.M)
    assert re.search(r"^listing-agency\s+Listing Agency\s+1\s", cli.ok("agencies", "list"), re.M)
    cli.ok("tenants", "attach", "listed", "--detach")
    assert re.search(r"^listing-agency\s+Listing Agency\s+0\s", cli.ok("agencies", "list"), re.M)
    keys = cli.ok("keys", "list", "--tenant", "listed")
    key_id = key.split("_")[1]
    assert re.search(rf"^{key_id}\s+crm\s+contacts:read\s", keys, re.M), keys
    assert key.split("_", 2)[2] not in keys and "argon2" not in keys  # the secret may hold "_"
    assert "no tenant" in cli("keys", "list", "--tenant", "nobody").stderr


def test_staff_get_the_least_privileged_role_unless_named_and_can_be_managed(cli):
    assert "viewer" in cli.ok("staff", "create", "--help")  # roles are listed in --help
    cli.ok("tenants", "create", "second-shop", "--name", "Second")
    cli.ok("staff", "create", "least@example.com", "--tenant", "acme", "--password-stdin",
           stdin=PASSWORD + "\n")
    listed = cli.ok("staff", "list")
    assert re.search(r"^least@example\.com\s+yes\s+-?\s*tenant acme: viewer$", listed, re.M), listed
    cli.ok("staff", "add-membership", "least@example.com", "--tenant", "second-shop",
           "--role", "editor")
    assert "tenant acme: viewer; tenant second-shop: editor" in cli.ok("staff", "list")
    cli.ok("staff", "add-membership", "least@example.com", "--tenant", "acme", "--role", "dpo")
    assert "tenant acme: dpo; tenant second-shop: editor" in cli.ok("staff", "list")
    cli.ok("staff", "set-password", "least@example.com", "--password-stdin",
           stdin="another long password\n")
    assert cli("staff", "set-password", "least@example.com", "--password-stdin",
               stdin="short\n").returncode == 1
    cli.ok("staff", "disable", "least@example.com")
    assert re.search(r"^least@example\.com\s+no\s", cli.ok("staff", "list"), re.M)
    assert "no staff user" in cli("staff", "disable", "nobody@example.com").stderr
    piped = cli("staff", "create", "piped@example.com", "--tenant", "acme", stdin="")
    assert piped.returncode == 1
    assert piped.stderr.strip() == ("optinbase: no terminal to ask the password on:"
                                    " give it with --password-stdin")


def test_serve_refuses_an_unmigrated_database_with_a_hint(tmp_path):
    fresh = Cli(tmp_path, f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    result = fresh("serve", "--port", "1")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "not migrated" in line and "optinbase migrate" in line
