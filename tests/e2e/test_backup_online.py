"""`optinbase backup` and `restore` while a real server process serves the same
embedded database: writes go on during the backup, the restore rewinds what
the server sees, and the erasure made after the backup stays done."""

from __future__ import annotations

import sqlite3
import threading
import uuid


from optinbase import ed25519
from tests import processes
from tests.processes import Installation


def test_backup_and_restore_under_a_running_server(tmp_path):
    database = tmp_path / "optinbase.sqlite3"
    key = tmp_path / "ledger-key.pem"
    ed25519.load_or_create(key)
    install = Installation(tmp_path, f"sqlite:///{database}", LEDGER_SIGNING_KEY=str(key),
                           LEDGER_CHECKPOINT_DIR=str(tmp_path / "cp"),
                           ERASURE_JOURNAL_DIR=str(tmp_path / "journal"))
    install.cli("migrate")
    install.cli("tenants", "create", "online-shop", "--name", "Online Shop")
    secret = install.cli("keys", "create", "--tenant", "online-shop").strip().splitlines()[-1]
    mark = uuid.uuid4().hex[:8]
    person = {"email": f"online.{mark}@example.org", "first_name": f"Brunehilde{mark}"}
    with install.serving() as server:
        api = processes.http(base_url=server.base_url, timeout=30,
                           headers={"Authorization": f"Bearer {secret}"})
        contact = api.post("/v1/contacts", json=person).json()
        statuses: list[int] = []
        stop = threading.Event()

        def write() -> None:  # the server keeps taking writes during the backup
            with processes.http(base_url=server.base_url, timeout=30,
                              headers={"Authorization": f"Bearer {secret}"}) as own:
                while not stop.is_set():
                    statuses.append(own.post("/v1/contacts", json={
                        "email": f"busy.{uuid.uuid4().hex[:10]}@example.org"}).status_code)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            backed_up = install.cli("backup", str(tmp_path / "backup.sqlite3"))
        finally:
            stop.set()
            writer.join()
        assert "backed up to" in backed_up
        assert statuses and set(statuses) == {201}, statuses

        after = api.post("/v1/contacts", json={"email": f"after.{mark}@example.org"}).json()
        assert api.delete(f"/v1/contacts/{contact['id']}").status_code == 204

        # An older code's backup: it lacks the metrics migration (which creates
        # nothing on SQLite, so running it again is harmless).
        with sqlite3.connect(tmp_path / "backup.sqlite3") as backup:
            backup.execute("DELETE FROM migration WHERE app_name = 'messaging'"
                           " AND name = '2026-12-01T11:00:00:000000'")
        restored = install.cli("restore", str(tmp_path / "backup.sqlite3"))
        assert "1 migration(s) applied to the restored database" in restored, restored
        assert " 1 contacts erased again, 0 suppressions put back" in restored, restored
        # The running server reads the restored file: what came after the backup is gone,
        # the erasure made after it is not undone.
        assert api.get(f"/v1/contacts/{after['id']}").status_code == 404
        assert api.get(f"/v1/contacts/{contact['id']}").status_code == 404
        check = api.get("/v1/suppressions/check", params={"email": person["email"]}).json()
        assert check["suppressed"] is True
        assert api.get("/ready").status_code == 200
        assert api.get("/v1/ledger/verify").json()["ok"] is True
        assert api.post("/v1/contacts", json={"email": f"new.{mark}@example.org"}
                        ).status_code == 201  # and it goes on writing
    with sqlite3.connect(database) as conn:
        dump = "\n".join(conn.iterdump())
    raw = database.read_bytes() + (tmp_path / "optinbase.sqlite3-wal").read_bytes() \
        if (tmp_path / "optinbase.sqlite3-wal").exists() else database.read_bytes()
    for needle in (person["email"], person["first_name"]):
        assert needle not in dump and needle.encode() not in raw
    assert person["email"].encode() in (tmp_path / "backup.sqlite3").read_bytes()  # it was there
