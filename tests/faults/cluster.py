"""A PostgreSQL cluster of the test's own, to stop and start under load:
`pg_createcluster` on a free port in 5450-5499 — never the shared cluster
of the machine or of CI. Needs Debian's postgresql-common and root (the
cluster runs as `postgres`); without them the fault tests are skipped."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prepare-postgres.sh"
PORTS = range(5450, 5500)


def available() -> str | None:
    """Why this machine cannot run the fault tests, or None."""
    if shutil.which("pg_createcluster") is None:
        return "pg_createcluster (postgresql-common) is not installed"
    if os.geteuid() != 0:
        return "pg_createcluster needs root"
    return None


def _version() -> str:
    versions = sorted((p.name for p in Path("/usr/lib/postgresql").iterdir() if p.name.isdigit()),
                      key=int)
    return versions[-1]


def _free_port() -> int:
    # In random order: two test processes (xdist workers) rarely probe the same one.
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.skip("no free port in 5450-5499 for a test cluster")


@dataclass
class Cluster:
    version: str
    name: str
    port: int

    def _ctl(self, action: str, *args: str) -> None:
        subprocess.run(["pg_ctlcluster", self.version, self.name, action, *args], check=True,
                       capture_output=True, timeout=60)

    def stop(self) -> None:
        """A fast shutdown: sessions are cut, as in a crash-restart or a failover."""
        self._ctl("stop", "-m", "fast")

    def start(self) -> None:
        self._ctl("start")
        deadline = time.monotonic() + 30
        while subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode:
            assert time.monotonic() < deadline, "the test cluster did not come back"
            time.sleep(0.1)

    def prepare(self, database: str) -> tuple[str, str]:
        """(application URL, owner URL) of a fresh database (scripts/prepare-postgres.sh)."""
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        out = subprocess.run(["bash", str(SCRIPT), database], check=True, capture_output=True,
                             text=True, timeout=60, env={**os.environ, "PGADMIN_URL": admin})
        urls = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
        port = f"127.0.0.1:{self.port}/"
        return (urls["DATABASE_URL"].replace("127.0.0.1:5432/", port),
                urls["DATABASE_OWNER_URL"].replace("127.0.0.1:5432/", port))


@contextlib.contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A new cluster (trust authentication on loopback, initdb without fsync: a
    throw-away; the server itself keeps fsync on), dropped after."""
    cluster = Cluster(_version(), f"optinbase_fault_{os.getpid()}", _free_port())
    subprocess.run(["pg_createcluster", cluster.version, cluster.name, "-p", str(cluster.port),
                    "--", "--auth-host=trust", "--auth-local=trust", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    try:
        cluster.start()
        yield cluster
    finally:
        subprocess.run(["pg_dropcluster", "--stop", cluster.version, cluster.name],
                       capture_output=True, timeout=120)
