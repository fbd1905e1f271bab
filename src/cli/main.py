"""`optinbase` — the operator's command line. Every command exits non-zero with a
one-line reason on bad input."""

from __future__ import annotations

import argparse
import sys

from cli import data, operations, service, tenancy
from cli.runtime import CommandError
from optinbase import logs, readiness
from optinbase.errors import DomainError
from optinbase.settings import ConfigError, get_settings

# Commands that write the checkpoint log or the erasure journal refuse to start
# when either directory cannot be written, rather than failing later.
_WRITES_OUTSIDE_THE_DATABASE = ("serve", "worker", "ledger", "erasures", "restore")


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes get one line, like every other error (`--help` stays full)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="optinbase", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for module in (service, tenancy, data, operations):
        module.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure("INFO" if args.command in ("serve", "worker") else "WARNING")
    try:
        if args.command in _WRITES_OUTSIDE_THE_DATABASE:
            failures = readiness.storage(get_settings())
            if failures:
                raise CommandError("; ".join(f.detail for f in failures))
        args.fn(args)
    except (CommandError, DomainError, ConfigError) as exc:
        print(f"optinbase: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print(f"optinbase: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # a database refusing the connection, say
        print(f"optinbase: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
