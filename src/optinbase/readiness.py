"""What `GET /ready` checks, each failure with a machine-readable reason:

* `database_unreachable` — `SELECT 1` fails (the other database checks are
  then skipped);
* `migrations_missing` — the code carries migrations the database lacks
  (a restore of an older backup, a deploy without `optinbase migrate`);
* `outbox_stalled` — a message has waited past its due time longer than
  `READY_OUTBOX_STALL_SECONDS` (default 900): no worker is delivering;
* `signing_key_missing` — the ledger signing key is not there any more where
  it was read from (`LEDGER_SIGNING_KEY`'s file, or the development key file
  beside the database), or does not sign: checkpoints could not be published;
* `checkpoint_log_unwritable`, `erasure_journal_unwritable` — LEDGER_CHECKPOINT_DIR
  or ERASURE_JOURNAL_DIR cannot be created or written: checkpoints, receipts
  and erasures would fail. The same check stops `serve`, `worker` and the
  ledger and erasure commands at start (`storage`), naming the path.

Load balancers read the status (200 or 503); operators read `reasons`.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import NamedTuple, Optional

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from optinbase import db, metrics, schema
from optinbase.settings import Settings, beside_database


class Failure(NamedTuple):
    reason: str
    detail: str


def _key_file(settings: Settings) -> Optional[Path]:
    """Where the signing key was read from, when it was a file."""
    value = os.environ.get("LEDGER_SIGNING_KEY", "").strip()
    if not value:
        return None if settings.production else beside_database(
            settings.database_url, ".optinbase-ledger-key")
    if value.startswith("-----BEGIN") or not ("/" in value or value.startswith(".")):
        return None  # the key itself, in the environment
    return Path(value)


def signing_key(settings: Settings) -> Optional[Failure]:
    path = _key_file(settings)
    if path is not None and not path.is_file():
        return Failure("signing_key_missing", f"no ledger signing key at {path}")
    try:
        Ed25519PrivateKey.from_private_bytes(settings.ledger_signing_key).sign(b"ready")
    except Exception as exc:  # any failure to sign means no checkpoints
        return Failure("signing_key_missing", f"the ledger signing key cannot sign: "
                                              f"{type(exc).__name__}")
    return None


def _writable(path: Path) -> Optional[str]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"{path} is not a writable directory ({exc.strerror or exc})"
    return None


def storage(settings: Settings) -> list[Failure]:
    """The directories kept outside the database, each writable (created if missing)."""
    found = []
    for reason, name, value in (
            ("checkpoint_log_unwritable", "LEDGER_CHECKPOINT_DIR", settings.ledger_checkpoint_dir),
            ("erasure_journal_unwritable", "ERASURE_JOURNAL_DIR", settings.erasure_journal_dir)):
        problem = _writable(Path(value).absolute())
        if problem is not None:
            found.append(Failure(reason, f"{name}: {problem}"))
    return found


async def failures(settings: Settings) -> list[Failure]:
    found: list[Failure] = []
    try:
        await db.fetchval("SELECT 1")
    except Exception as exc:  # any failure to reach the database means not ready
        found.append(Failure("database_unreachable", f"database unreachable: {type(exc).__name__}"))
    else:
        missing = await schema.pending()
        if missing:
            found.append(Failure("migrations_missing",
                                 f"{len(missing)} migration(s) missing, e.g. {missing[0]}"))
        else:
            waited = await metrics.oldest_due_seconds(dt.datetime.now(dt.timezone.utc))
            if waited > settings.ready_outbox_stall_seconds:
                found.append(Failure("outbox_stalled", f"a message has been due for {waited:.0f} s"
                                     f" (limit {settings.ready_outbox_stall_seconds} s)"))
    key = signing_key(settings)
    if key is not None:
        found.append(key)
    return found + storage(settings)
