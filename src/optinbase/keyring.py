"""Keys derived from SECRET_KEY, one per use.

The master key stays in the process: everything that leaves it (a limiter's
hashed subject in the database or Redis, a key handed to PostgreSQL to sign
export links in SQL) is made with a key derived for that use alone
(HKDF-Expand with SHA-256, RFC 5869 §2.3, one block; the label is the `info`),
so seeing one derived key — in a statement log, say — tells nothing about the
master key or about any other use.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache


@lru_cache(maxsize=64)
def _derive(master: bytes, label: str) -> bytes:
    prk = hmac.new(b"optinbase/keyring/v1", master, hashlib.sha256).digest()  # HKDF-Extract
    return hmac.new(prk, label.encode() + b"\x01", hashlib.sha256).digest()    # HKDF-Expand


def derive(secret_key: str, label: str) -> bytes:
    """32 bytes for `label` (e.g. "limits", "export-links"), stable for one SECRET_KEY."""
    return _derive(secret_key.encode(), label)
