"""Start a real `optinbase serve` process on a migrated SQLite file."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx

from tests.messaging.smtp import free_port

_SCRIPT = Path(sys.executable).with_name("optinbase")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "cli"]


class Running:
    def __init__(self, workdir: Path, base_url: str, env: dict[str, str]):
        self.workdir, self.base_url, self.env = workdir, base_url, env

    def log_text(self) -> str:
        return (self.workdir / "server.log").read_text(errors="replace")[-4000:]

    def cli(self, *args: str) -> str:
        result = subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=120,
                                cwd=self.workdir, env=self.env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout


@contextlib.contextmanager
def serving(workdir: Path, database_url: str = "", **extra_env: str) -> Iterator[Running]:
    """A server on `database_url` (default: a fresh SQLite file in `workdir`)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_OWNER_URL", "OPTINBASE_DB_ROLE", "SECRET_KEY", "OPTINBASE_ENV")}
    env.update(DATABASE_URL=database_url or f"sqlite:///{workdir / 'server.sqlite3'}",
               SECRET_KEY_FILE=str(workdir / "secret"), PUBLIC_URL=base_url, **extra_env)
    running = Running(workdir, base_url, env)
    running.cli("migrate")
    log = workdir / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([*COMMAND, "serve", "--port", str(port)], cwd=workdir,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
