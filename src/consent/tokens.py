"""Signed links for subscribers: `/p/unsubscribe/{token}`, `/p/preferences/{token}`.

A token names one tenant, contact, purpose and channel and carries an
HMAC-SHA256 of them, so the public pages need no login and nobody can forge or
alter one. It never expires: an unsubscribe link must keep working in an old
e-mail. Rotating SECRET_KEY invalidates every link.

Layout (urlsafe base64, no padding): version | tenant | purpose | channel | contact
| first 16 bytes of the MAC (128 bits). The contact comes last so an export can
MAC its shared prefix once and only the contact per row.

Keys (issue 13 §4): version 2 links are keyed with a key of their own tenant,
purpose and channel, `scope_key` = HMAC(keyring "subscriber-links", tenant |
purpose | channel), never with SECRET_KEY. The CSV export hands that key to
PostgreSQL to sign in SQL (where a statement log may keep it): it signs links
of that one tenant, purpose and channel, and tells nothing about SECRET_KEY or
any other key. Version 1 links (keyed with SECRET_KEY itself, sent before)
still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Any, NamedTuple, Optional

from consent import sealed
from optinbase import keyring

_VERSION_1 = b"\x01"  # keyed with SECRET_KEY: verified, no longer made
_VERSION = b"\x02"
_DOMAIN = b"optinbase-subscriber-link\x00"
_MAC_BYTES = sealed.MAC_BYTES
_LENGTH = 1 + 16 + 16 + 1 + 16 + _MAC_BYTES
# A channel is one byte in the token: its place here. Append only — links
# already sent must keep meaning the same channel.
CHANNEL_CODES = ("email", "sms", "phone", "postal", "social_ads", "push")


class LinkToken(NamedTuple):
    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    purpose_id: uuid.UUID
    channel: str


def scope_key(secret_key: str, scope: bytes) -> bytes:
    """The key of one tenant | purpose | channel (`scope`: their 33 bytes)."""
    return hmac.new(keyring.derive(secret_key, "subscriber-links"), scope,
                    hashlib.sha256).digest()


class Signer:
    """Tokens for one tenant, purpose and channel (an export builds one per run)."""

    def __init__(self, secret_key: str, tenant_id: uuid.UUID, purpose_id: uuid.UUID, channel: str):
        scope = tenant_id.bytes + purpose_id.bytes + bytes([CHANNEL_CODES.index(channel)])
        self.prefix = _VERSION + scope
        # HMAC (RFC 2104) spelt out so the keyed, prefix-fed hash states are built
        # once: half the per-row cost of hmac.copy(). verify_token goes through sealed.unseal.
        key = self._key = scope_key(secret_key, scope).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + _DOMAIN + self.prefix)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def sql_settings(self) -> dict[str, str]:
        """What `LINK_TOKEN_SQL` reads (hex, set for one transaction): the
        token prefix, the inner hash's keyed head (K^ipad || domain || prefix)
        and the outer key (K^opad) — K being this scope's key, not SECRET_KEY."""
        key = self._key
        return {
            "optinbase.link_prefix": self.prefix.hex(),
            "optinbase.link_inner": (bytes(b ^ 0x36 for b in key) + _DOMAIN + self.prefix).hex(),
            "optinbase.link_outer": bytes(b ^ 0x5C for b in key).hex(),
        }

    def token(self, contact_id: Any) -> str:
        """`contact_id`: a UUID (uuid's or asyncpg's) or its text."""
        if isinstance(contact_id, str):
            contact = bytes.fromhex(contact_id.replace("-", ""))
        else:
            contact = contact_id.bytes
        inner = self._inner.copy()
        inner.update(contact)
        outer = self._outer.copy()
        outer.update(inner.digest())
        raw = self.prefix + contact + outer.digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# The same token computed by PostgreSQL for the contact id `{id}` (a uuid
# expression), from `Signer.sql_settings()`: prefix || contact || first 16
# bytes of sha256(K^opad || sha256(K^ipad || domain || prefix || contact)),
# base64url without padding (66 bytes: never padded). encode() wraps lines at
# 76 characters, hence the newline removed; replace() rather than translate(),
# which costs as much as both hashes. The settings are read in uncorrelated
# subqueries, which PostgreSQL evaluates once per query.
LINK_TOKEN_SQL = (
    "replace(replace(replace(encode("
    "(SELECT decode(current_setting('optinbase.link_prefix'), 'hex')) || uuid_send({id})"
    " || substring(sha256((SELECT decode(current_setting('optinbase.link_outer'), 'hex'))"
    " || sha256((SELECT decode(current_setting('optinbase.link_inner'), 'hex'))"
    " || uuid_send({id}))) FROM 1 FOR 16), 'base64'), '+', '-'), '/', '_'), E'\\n', '')"
)


def make_token(
    secret_key: str, tenant_id: uuid.UUID, contact_id: uuid.UUID, purpose_id: uuid.UUID,
    channel: str,
) -> str:
    return Signer(secret_key, tenant_id, purpose_id, channel).token(contact_id)


def verify_token(secret_key: str, token: str) -> Optional[LinkToken]:
    """The link's subject, or None for anything not signed with this key."""
    body = sealed.opened(token, _LENGTH - _MAC_BYTES)
    if body is None or body[:1] not in (_VERSION, _VERSION_1):
        return None
    key = secret_key.encode() if body[:1] == _VERSION_1 else scope_key(secret_key, body[1:34])
    body = sealed.unseal(key, _DOMAIN, token, _LENGTH - _MAC_BYTES)
    if body is None:
        return None
    channel_index = body[33]
    if channel_index >= len(CHANNEL_CODES):
        return None
    return LinkToken(
        tenant_id=uuid.UUID(bytes=body[1:17]),
        contact_id=uuid.UUID(bytes=body[34:50]),
        purpose_id=uuid.UUID(bytes=body[17:33]),
        channel=CHANNEL_CODES[channel_index],
    )
