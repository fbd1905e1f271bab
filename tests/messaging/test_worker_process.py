"""`optinbase worker` as a real process delivers what the API process queued."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.messaging.smtp import SmtpServer


def test_worker_command_delivers_the_outbox(tmp_path):
    server = SmtpServer().start()
    env = {k: v for k, v in os.environ.items() if k not in ("OPTINBASE_DB_ROLE", "DATABASE_OWNER_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/w.sqlite3", SECRET_KEY_FILE=str(tmp_path / "s"),
               SMTP_URL=server.url, MAIL_FROM="Acme <news@acme.example>")
    cli = [sys.executable, "-m", "cli"]
    try:
        for args in (["migrate"], ["tenants", "create", "acme", "--name", "Acme"]):
            assert subprocess.run(cli + args, env=env, capture_output=True, timeout=60).returncode == 0
        queue = (
            "import asyncio\n"
            "from optinbase import db\n"
            "from messaging.outbox import enqueue_email\n"
            "from tenants import repository\n"
            "async def main():\n"
            "    t = await repository.tenant_by_slug('acme')\n"
            "    async with db.tenant_transaction(t.id):\n"
            "        await enqueue_email(t.id, to='anne@example.org', subject='Bonjour', text='Salut')\n"
            "asyncio.run(main())\n"
        )
        assert subprocess.run([sys.executable, "-c", queue], env=env, timeout=60).returncode == 0
        worker = subprocess.Popen(cli + ["worker", "--poll", "0.2"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not server.messages and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            worker.terminate()
            worker.wait(timeout=20)
        assert worker.returncode == 0  # SIGTERM stops it cleanly
        [message] = server.messages
        assert message["To"] == "anne@example.org"
        assert message["From"] == "Acme <news@acme.example>"
        assert message["Subject"] == "Bonjour"
    finally:
        server.stop()
