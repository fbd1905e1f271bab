"""`optinbase import` as a real subprocess on the test database (both engines):
progress on stderr, a summary line, one-line refusals. A kill mid-import and
its resumption: test_chunked.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from optinbase import db
from optinbase.settings import get_settings
from tests.factories import make_tenant, make_world
from tests.processes import COMMAND

WHEN = "2026-01-15T10:00:00Z"
# Rows per committed chunk in this run (tests/conftest.py sets IMPORT_CHUNK_ROWS).
CHUNK_ROWS = get_settings().import_chunk_rows


def write_csv(path: Path, notice_id: str, rows: int, prefix: str, bad: int = 0) -> Path:
    with path.open("w") as out:
        out.write("email,first_name,consent_channel,consent_purpose,notice_id,collected_at\n")
        for i in range(rows):
            out.write(f"{prefix}{i}@example.com,P{i},email,newsletter,{notice_id},{WHEN}\n")
        for i in range(bad):
            out.write(f"not-an-address-{i},,,,,\n")
    return path


async def tenant_counts(tenant_id) -> tuple[int, int, int]:
    """(contacts, ledger events, import jobs) of the tenant, straight from the tables."""
    async with db.tenant_transaction(tenant_id, write=False):
        return tuple([
            int(await db.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = {{}}", tenant_id))
            for table in ("contact", "consent_event", "import_job")
        ])


async def test_cli_import_reports_progress_and_a_summary(client, cli_env, tmp_path):
    world = await make_world(await make_tenant())
    rows = 5 * CHUNK_ROWS
    path = write_csv(tmp_path / "people.csv", world.notice["id"], rows, "cli", bad=1)
    result = subprocess.run([*COMMAND, "import", str(path), "--tenant", world.tenant.slug],
                            env=cli_env, capture_output=True, timeout=600)
    stderr = result.stderr.decode()  # bytes: text mode would turn "\r" into "\n"
    assert result.returncode == 0, stderr
    total = f"{rows + 1:,}"
    steps = "".join(f"\r{done:,}/{total} rows" for done in range(CHUNK_ROWS, rows + 1, CHUNK_ROWS))
    assert f"\r0/{total} rows{steps}\r{total}/{total} rows\n" in stderr
    assert f"line {rows + 2}, email: is not a valid e-mail address" in stderr
    summary = result.stdout.decode().strip().splitlines()[-1]
    assert summary.endswith(f"done: {total} rows, {rows:,} created, 0 updated, 1 rejected"), summary
    assert await tenant_counts(world.tenant.id) == (rows + 1, rows + 1, 1)
    verify = (await client.get("/v1/ledger/verify", headers=world.tenant.headers)).json()
    assert verify["ok"] and verify["events"] == rows + 1
    again = subprocess.run([*COMMAND, "import", str(path), "--tenant", world.tenant.slug],
                           env=cli_env, capture_output=True, text=True, timeout=600)
    assert f"0 created, {rows:,} updated, 1 rejected" in again.stdout, again.stderr
    assert await tenant_counts(world.tenant.id) == (rows + 1, rows + 1, 2)


@pytest.mark.parametrize(("content", "args", "mentions"), [
    (b'email\n"unterminated\n', [], "line 2: malformed CSV"),
    (b"email\nren\xe9@example.com\n", [], "not UTF-8"),
    (b"email\na@example.com\n", ["--tenant-slug-is-wrong"], "unrecognized arguments"),
    (b"email\na@example.com\n", ["--format", "ndjson"], "not valid JSON"),
])
async def test_cli_refuses_bad_input_in_one_line(backend, cli_env, tmp_path, content, args, mentions):
    world = await make_world(await make_tenant())
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = subprocess.run([*COMMAND, "import", str(path), "--tenant", world.tenant.slug, *args],
                            env=cli_env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert mentions in result.stderr
    assert await tenant_counts(world.tenant.id) == (1, 1, 0)


async def test_cli_unknown_tenant_and_missing_file(cli_env, tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("email\na@example.com\n")
    for args, mentions in ((["--tenant", "nobody-here"], "format"),
                           (["--tenant", "nobody-here", "--format", "csv"], "no tenant")):
        result = subprocess.run([*COMMAND, "import", str(path), *args], env=cli_env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and mentions in result.stderr, result.stderr
    missing = subprocess.run([*COMMAND, "import", str(tmp_path / "none.csv"), "--tenant", "x"],
                             env=cli_env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "No such file" in missing.stderr
