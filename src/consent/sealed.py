"""Fixed-layout link tokens sealed with an HMAC-SHA256 (first 128 bits) under
SECRET_KEY and a domain string per kind of link, so a token of one kind never
passes for another. Used by double-opt-in confirmations, request links and,
to verify, subscriber links (`consent.tokens`, which makes its own in bulk, in
Python and in SQL, with the same layout)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Optional

MAC_BYTES = 16


def _mac(secret_key: str | bytes, domain: bytes, body: bytes) -> bytes:
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return hmac.new(key, domain + body, hashlib.sha256).digest()[:MAC_BYTES]


def seal(secret_key: str | bytes, domain: bytes, body: bytes) -> str:
    return base64.urlsafe_b64encode(body + _mac(secret_key, domain, body)).rstrip(b"=").decode()


def opened(token: str, body_size: int) -> Optional[bytes]:
    """The body of a token of that size, NOT verified: only to read which key
    verifies it (then `unseal`)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    return raw[:body_size] if len(raw) == body_size + MAC_BYTES else None


def unseal(secret_key: str | bytes, domain: bytes, token: str,
           body_size: int) -> Optional[bytes]:
    """The body if `token` is a genuine seal of `body_size` bytes, else None
    (`secret_key`: SECRET_KEY, or a key derived from it as bytes)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != body_size + MAC_BYTES:
        return None
    body, mac = raw[:body_size], raw[body_size:]
    return body if hmac.compare_digest(mac, _mac(secret_key, domain, body)) else None
