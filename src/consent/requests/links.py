"""Signed, expiring links for data-subject requests and retention.

A link names its use (verify a request, see its status, download its package,
keep one's data on file, consent again: consent.reconsent), the tenant, one request or contact id and an expiry,
with an HMAC-SHA256 under SECRET_KEY. Nothing is stored: "single use" comes
from the request's state (a verify link only verifies an unverified request).
A link of one use is refused for another, and a link of one tenant can only
ever name that tenant's rows.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from typing import Callable, NamedTuple, Optional

from consent import sealed
from optinbase.context import TenantContext
from optinbase.errors import NotFound
from optinbase.i18n import N_
from optinbase.settings import get_settings

_DOMAIN = b"optinbase-request-link\x00"
_VERSION = b"\x01"
_LAYOUT = struct.Struct(">cB16s16sQ")  # version, use, tenant, subject, expiry (unix s)
USES = {"verify": 1, "status": 2, "package": 3, "keep": 4, "reconsent": 5}


class Link(NamedTuple):
    use: str
    tenant_id: uuid.UUID
    subject_id: uuid.UUID
    expires_at: dt.datetime


def make(secret_key: str, use: str, tenant_id: uuid.UUID, subject_id: uuid.UUID,
         expires_at: dt.datetime) -> str:
    body = _LAYOUT.pack(_VERSION, USES[use], tenant_id.bytes, subject_id.bytes,
                        int(expires_at.timestamp()))
    return sealed.seal(secret_key, _DOMAIN, body)


def read(secret_key: str, token: str, use: str) -> Optional[Link]:
    """The link if it is genuine and meant for `use` (expiry is the caller's
    call: an expired link still says which request it was for)."""
    body = sealed.unseal(secret_key, _DOMAIN, token, _LAYOUT.size)
    if body is None:
        return None
    version, code, tenant, subject, expires = _LAYOUT.unpack(body)
    if version != _VERSION or code != USES[use]:
        return None
    return Link(use, uuid.UUID(bytes=tenant), uuid.UUID(bytes=subject),
                dt.datetime.fromtimestamp(expires, dt.timezone.utc))


def open_link(token: str, use: str) -> Link:
    """`read` with this deployment's key; a forged, altered or other-use token
    answers as a link that does not exist."""
    link = read(get_settings().secret_key, token, use)
    if link is None:
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    return link


def opener(use: str) -> Callable[[str], uuid.UUID]:
    """The tenant a `use` link names, read without the database (what the
    envelope needs before it opens the tenant's transaction)."""
    return lambda token: open_link(token, use).tenant_id


def open_for(ctx: TenantContext, token: str, use: str) -> Link:
    """`open_link`, for the tenant the envelope resolved from the same token."""
    link = open_link(token, use)
    if link.tenant_id != ctx.tenant_id:
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    return link
