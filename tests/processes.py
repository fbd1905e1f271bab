"""Real `optinbase` processes — the command line, the server, the outbox worker —
started the one way every test starts them.

An `Installation` is a working directory, a database and the environment its
processes get, as an operator would set them: `DATABASE_URL` for the server and
the worker (on PostgreSQL the application role, under row-level security),
`DATABASE_OWNER_URL` for migrations and management commands, a secret key file
of its own. None of the test run's own settings of that kind leak in; the rest
of its environment is passed on (ARGON2_PROFILE, which tests/conftest.py sets,
keeps the processes' hashing cheap).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx

from tests import databases
from tests.messaging.smtp import free_port

PORT_ATTEMPTS = 3  # `serving`: new free ports for a server that lost its own

# Every httpx client builds a TLS context unless given one: certifi's CAs loaded
# again, ~30 ms of CPU, even for the plain HTTP these tests speak to their servers.
# A health poll made ten of them a second while its server was starting.
TLS = ssl.create_default_context()


def http(base_url: str = "", **options) -> httpx.Client:
    """An HTTP client for a test's own servers (its TLS context built once)."""
    return httpx.Client(base_url=base_url, verify=TLS, **options)


_SCRIPT = Path(sys.executable).with_name("optinbase")
COMMAND = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "cli"]
# Settings each installation states for itself, never inherited from the test run.
_OWN = ("DATABASE_URL", "DATABASE_OWNER_URL", "OPTINBASE_DB_ROLE", "SECRET_KEY", "OPTINBASE_ENV",
        "PUBLIC_URL")


def _environment(workdir: Path, database_url: str, owner_url: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _OWN}
    env.update(DATABASE_URL=database_url, SECRET_KEY_FILE=str(workdir / "secret"), **extra)
    if owner_url and owner_url != database_url:
        env["DATABASE_OWNER_URL"] = owner_url
    return env


class _Forks:
    """The test process's fork server (tests/cli_forks.py says why and how),
    started on first use and stopped with the test process."""

    def __init__(self) -> None:
        self._server: subprocess.Popen | None = None
        self._socket = ""

    def _start(self) -> str:
        if self._server is None or self._server.poll() is not None:
            self._socket = os.path.join(tempfile.mkdtemp(prefix="optinbase-forks-"), "socket")
            self._server = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("cli_forks.py")), self._socket],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
            assert self._server.stdout.readline().strip() == "ready"
            atexit.register(stop, self._server)
        return self._socket

    def _send(self, argv: list[str], env: dict[str, str], cwd: Path,
              fds: list[int]) -> socket.socket:
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(self._start())
        request = json.dumps({"argv": ["optinbase", *argv], "env": env, "cwd": str(cwd)})
        socket.send_fds(conn, [request.encode() + b"\n"], fds)
        return conn

    def run(self, argv: list[str], *, stdin: str | None, timeout: float, cwd: Path,
            env: dict[str, str]) -> subprocess.CompletedProcess:
        """What `subprocess.run(argv, input=stdin, capture_output=True, text=True,
        timeout=timeout, cwd=cwd, env=env)` answers, the command forked."""
        with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, \
                tempfile.TemporaryFile() as err:
            inp.write((stdin or "").encode())
            inp.seek(0)
            command = Forked(self._send(argv, env, cwd, [inp.fileno(), out.fileno(), err.fileno()]),
                             argv)
            try:
                code = command.wait(timeout)
            except subprocess.TimeoutExpired:
                command.kill()
                command.wait(10)
                raise
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                [*COMMAND, *argv], code, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"))

    def spawn(self, argv: list[str], *, cwd: Path, env: dict[str, str], output) -> "Forked":
        """What `subprocess.Popen(argv, cwd=cwd, env=env, stdin=DEVNULL,
        stdout=output, stderr=STDOUT)` starts, the command forked."""
        with open(os.devnull, "rb") as nothing:
            return Forked(self._send(argv, env, cwd, [nothing.fileno(), output.fileno(),
                                                      output.fileno()]), argv)


class Forked:
    """A command the fork server runs, as much of `subprocess.Popen` as tests
    use: its pid, `poll`, `wait`, signals. It is the fork server's grandchild,
    not ours: its exit code comes over the connection ("exit N")."""

    def __init__(self, conn: socket.socket, argv: list[str]) -> None:
        self._conn, self.args, self.returncode = conn, argv, None
        self._buffer = b""
        self.pid = int(self._line(None).split()[1])

    def _line(self, timeout: float | None) -> str:
        """The next line the fork server sends ("" if it closed the connection)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._conn], [], [], left)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout)
            chunk = self._conn.recv(4096)
            if not chunk:
                return ""
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            line = self._line(timeout)
            # A handler that died without a word: count it as killed.
            self.returncode = int(line.split()[1]) if line else -signal.SIGKILL
            self._conn.close()
        return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


_forks = _Forks()


def optinbase(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess:
    """`optinbase ARGS` with exactly the environment `env`, waited for (forked);
    text output, "\r" kept."""
    return _forks.run(list(args), stdin=stdin, timeout=timeout, cwd=cwd, env=env)


def stop(process: "subprocess.Popen | Forked") -> int:
    """SIGTERM, as a service manager stops it (killed if still there after 20 s);
    the exit code."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


class Installation:
    def __init__(self, workdir: Path, database_url: str, owner_url: str = "", **env: str):
        self.workdir = workdir
        self.env = _environment(workdir, database_url, owner_url, **env)
        self.base_url = ""

    @classmethod
    def on(cls, backend: str, workdir: Path, **env: str) -> "Installation":
        """On the session's test database of `backend` (databases.engine_for
        made it), where the tests' own set-up is written: the processes see
        every tenant of the run, so tests name theirs uniquely."""
        _, url = databases.engines[backend]
        owner = databases.POSTGRES_OWNER_URL if backend == "postgres" else ""
        return cls(workdir, url, owner, **env)

    def run(self, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
        """`optinbase ARGS`, waited for; its exit code is the caller's to check.
        Forked from the test process's fork server (tests/cli_forks.py)."""
        return optinbase(*args, stdin=stdin, cwd=self.workdir, env={**self.env, **env})

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """`optinbase ARGS`, which must succeed; its standard output."""
        result = self.run(*args, stdin=stdin)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def python(self, code: str) -> str:
        """A Python program run as another process of this installation."""
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=120, cwd=self.workdir, env=self.env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    @contextlib.contextmanager
    def process(self, *args: str, log: str) -> Iterator[Forked]:
        """`optinbase ARGS` in the background (forked: tests/cli_forks.py), its
        output in `workdir/log`; stopped at the end of the block unless the
        test stopped it."""
        with open(self.workdir / log, "wb") as out:
            process = _forks.spawn(list(args), cwd=self.workdir, env=self.env, output=out)
        try:
            yield process
        finally:
            stop(process)

    def log_text(self, log: str = "server.log") -> str:
        return (self.workdir / log).read_text(errors="replace")[-4000:]

    @contextlib.contextmanager
    def serving(self, *args: str, startup_seconds: float = 120,
                **env: str) -> Iterator["Installation"]:
        """`optinbase serve [ARGS]` on a free port, once `/health` answers
        (within `startup_seconds`); `base_url` (also its PUBLIC_URL, for links
        in e-mails) says where."""
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            self.env.update(PUBLIC_URL=self.base_url, **env)
            with self.process("serve", "--port", str(port), *args, log="server.log") as server, \
                    http(self.base_url, timeout=1) as probe:
                if self._answering(server, probe, startup_seconds):
                    yield self
                    return
        raise AssertionError(f"no free port in {PORT_ATTEMPTS} tries: {self.log_text()}")

    def _answering(self, server: Forked, probe: httpx.Client, startup_seconds: float) -> bool:
        """Waits until the server answers `/health`; False if it lost its port
        (another process took it between `free_port` and the server's bind:
        the suite's own outgoing connections draw from the same range)."""
        deadline = time.monotonic() + startup_seconds
        while True:
            if server.poll() is not None:
                assert "address already in use" in self.log_text(), self.log_text()
                return False
            with contextlib.suppress(httpx.TransportError):
                if probe.get("/health").status_code == 200:
                    return True
            assert time.monotonic() < deadline, self.log_text()
            time.sleep(0.1)
