"""The fork server that runs the tests' `optinbase` commands (tests/cli_forks.py)
preloads third-party libraries only: every module of the project is imported
in the forked command, after its environment is set, as in a new process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.processes import Installation

PROJECT = {"admin", "api", "cli", "consent", "messaging", "optinbase", "tenants", "workers"}
FORKS = Path(__file__).resolve().parents[1] / "cli_forks.py"


def test_the_fork_server_preloads_nothing_of_the_project():
    code = ("import runpy, sys; sys.path.pop(0); m = runpy.run_path(sys.argv[1]); "
            "[__import__(n) for n in m['PRELOAD']]; print(' '.join(sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code, str(FORKS)], capture_output=True,
                            text=True, check=True).stdout.split()
    top = {name.split(".")[0] for name in loaded}
    assert not top & PROJECT, top & PROJECT
    assert "prometheus_client" not in top  # it reads its environment when imported


def test_a_forked_command_has_its_own_environment_cwd_stdin_and_exit_code(tmp_path):
    install = Installation(tmp_path, f"sqlite:///{tmp_path}/x.sqlite3")
    assert install.run("migrate").returncode == 0
    assert (tmp_path / "x.sqlite3").exists()  # its DATABASE_URL, read when piccolo_conf loads
    other = Installation(tmp_path, "sqlite:///other.sqlite3")  # relative: its working directory
    assert other.run("migrate").returncode == 0 and (tmp_path / "other.sqlite3").exists()
    refused = install.run("tenants", "create", "Not A Slug!", "--name", "X")
    assert refused.returncode == 1 and refused.stderr.startswith("optinbase: ")
    usage = install.run("no-such-command")
    assert usage.returncode == 2 and "see optinbase --help" in usage.stderr
    assert "usage: optinbase" in install.run("--help").stdout
