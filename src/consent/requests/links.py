"""Signed, expiring links for data-subject requests and retention.

A link names its use (verify a request, see its status, download its package,
keep one's data on file), the tenant, one request or contact id and an expiry,
with an HMAC-SHA256 under SECRET_KEY. Nothing is stored: "single use" comes
from the request's state (a verify link only verifies an unverified request).
A link of one use is refused for another, and a link of one tenant can only
ever name that tenant's rows.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import struct
import uuid
from typing import NamedTuple, Optional

_DOMAIN = b"optinbase-request-link\x00"
_VERSION = b"\x01"
_LAYOUT = struct.Struct(">cB16s16sQ")  # version, use, tenant, subject, expiry (unix s)
_MAC = 16
USES = {"verify": 1, "status": 2, "package": 3, "keep": 4}


class Link(NamedTuple):
    use: str
    tenant_id: uuid.UUID
    subject_id: uuid.UUID
    expires_at: dt.datetime


def make(secret_key: str, use: str, tenant_id: uuid.UUID, subject_id: uuid.UUID,
         expires_at: dt.datetime) -> str:
    body = _LAYOUT.pack(_VERSION, USES[use], tenant_id.bytes, subject_id.bytes,
                        int(expires_at.timestamp()))
    mac = hmac.new(secret_key.encode(), _DOMAIN + body, hashlib.sha256).digest()[:_MAC]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=").decode()


def read(secret_key: str, token: str, use: str) -> Optional[Link]:
    """The link if it is genuine and meant for `use` (expiry is the caller's
    call: an expired link still says which request it was for)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    if len(raw) != _LAYOUT.size + _MAC:
        return None
    body, mac = raw[:_LAYOUT.size], raw[_LAYOUT.size:]
    expected = hmac.new(secret_key.encode(), _DOMAIN + body, hashlib.sha256).digest()[:_MAC]
    if not hmac.compare_digest(mac, expected):
        return None
    version, code, tenant, subject, expires = _LAYOUT.unpack(body)
    if version != _VERSION or code != USES[use]:
        return None
    return Link(use, uuid.UUID(bytes=tenant), uuid.UUID(bytes=subject),
                dt.datetime.fromtimestamp(expires, dt.timezone.utc))
