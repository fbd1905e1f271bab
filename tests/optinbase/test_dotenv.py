"""`.env` is read at start-up, and never overrides the real environment."""

from __future__ import annotations

from optinbase import dotenv
from tests.processes import Installation


def test_lines_comments_quotes_and_export():
    assert dotenv.parse(
        "# a comment\n\nA=1\nexport B = two words  # trailing\nC='x # y'\nD=\"q\"\nnot a line\n"
    ) == {"A": "1", "B": "two words", "C": "x # y", "D": "q"}


def test_the_command_reads_dot_env_and_the_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path}/from-dotenv.sqlite3\n"
                                   "PORT=not-a-number\n")
    installed = Installation(tmp_path, "")
    installed.env.pop("DATABASE_URL")
    # PORT from .env would be refused; the environment's wins.
    assert "migrations applied" in installed.run("migrate", PORT="8000").stdout
    assert (tmp_path / "from-dotenv.sqlite3").exists()
