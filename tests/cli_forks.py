"""A fork server for `optinbase` commands, run by tests/processes.py (one per
test process): `python tests/cli_forks.py SOCKET`.

A fresh `optinbase` costs ~1.2 s of CPU before it does anything, nearly all of
it importing third-party libraries (Piccolo, which imports black, asyncpg,
redis, babel...); the suite runs a few hundred commands. This process imports
those libraries once and forks a child per command. The child is still a
process of its own: the command's argv, environment, working directory,
stdin/stdout/stderr and exit code are the caller's, and every module of
Optinbase itself (src/) is imported fresh in the child, after the command's
environment is in place — module-level settings (piccolo_conf's DATABASE_URL,
ARGON2_PROFILE...) read that environment, as in a new process. Nothing of the
project is imported here (a test checks it), nor any library that reads the
environment when imported (prometheus_client).

Protocol, per connection: the caller sends one JSON line {argv, env, cwd} with
its stdin, stdout and stderr file descriptors (SCM_RIGHTS); this process
answers "pid N\n" once the command runs, then "exit N\n" when it ends.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import signal
import socket
import sys
import traceback

# Third-party libraries `optinbase` imports (cli.main and api.app, measured with
# -X importtime): Piccolo Admin (with FastAPI) and Litestar are half of a server's start.
PRELOAD = (
    "piccolo_admin.endpoints", "litestar", "litestar.plugins.jinja", "litestar.openapi",
    "piccolo.conf.apps", "piccolo.table", "piccolo.columns", "piccolo.query",
    "piccolo.engine.postgres", "piccolo.engine.sqlite",
    "piccolo.apps.migrations.auto.migration_manager", "piccolo.apps.migrations.commands.forwards",
    "asyncpg", "aiosqlite", "msgspec", "httpx", "redis.asyncio", "argon2", "phonenumbers",
    "email_validator", "babel.dates", "babel.support", "babel.numbers", "jinja2", "uvicorn",
    "aiosmtplib", "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.serialization", "asyncio", "argparse", "csv", "sqlite3",
    "zoneinfo", "uuid", "decimal", "email.message", "logging.handlers",
    # Imported later, by a transport, a route or a plugin (measured: what a server's
    # start imports beyond the above, none of it reading the environment).
    "httpcore", "h11", "h2.connection", "certifi", "attrs", "pydantic.v1", "swagger_ui",
    "litestar.plugins.pydantic", "litestar.plugins.attrs", "babel.messages.mofile",
    "phonenumbers.timezone", "cryptography.hazmat.primitives.asymmetric.types", "gzip",
    "http.server", "wsgiref.simple_server", "_strptime", "timeit",
)


def _run_command(request: dict) -> int:
    """In the child: become the command's process, then run `optinbase ARGV`
    as its console script does (`sys.exit(main())`)."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = request["argv"]
    try:
        from cli.main import main

        return main(request["argv"][1:]) or 0
    except SystemExit as exc:  # argparse (--help, usage errors) and sys.exit
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except BaseException:  # what an uncaught exception does to a process
        traceback.print_exc()
        return 1


def _handle(conn: socket.socket) -> None:
    """In a handler process: read the request, fork the command, report on it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    buffered, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while not buffered.endswith(b"\n"):
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        buffered += chunk
    request = json.loads(buffered)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        code = 1
        try:
            code = _run_command(request)
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code if 0 <= code < 256 else 1)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())


def _reap(*_) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(path: str) -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    # What the preload made is the children's too, never garbage: out of the
    # cyclic collector's reach, a server's full collection at start-up
    # (optinbase.process.started) no longer walks it in every child (~0.3 s).
    gc.collect()
    gc.freeze()
    # Handlers are reaped as they end (their CPU time, and their command's, is
    # then this process's children's: /usr/bin/time on the test run counts it).
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        sys.stdout.flush()
        if os.fork() == 0:
            listener.close()
            try:
                _handle(conn)
            finally:
                os._exit(0)
        conn.close()


if __name__ == "__main__":
    sys.path.pop(0)  # tests/, whose packages (tests/optinbase...) would shadow src/'s
    serve(sys.argv[1])
