"""Bearer-key authentication: the API's resolver for the envelope — the only
place an API request gets its TenantContext — and the scope guard."""

from __future__ import annotations

from typing import Any, Optional

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Scope

from api.envelope import current_context, header
from optinbase.context import TenantContext
from optinbase.errors import Forbidden, Invalid, NotFound, Unauthorized
from tenants.keys import KeyAuthenticator, parse
from tenants.repository import TenantRecord
from tenants.service import TenantDirectory


def _bearer(scope: Scope) -> str:
    scheme, _, token = (header(scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send the API key as 'Authorization: Bearer <key>'.")
    return token.strip()


def cached_caller(scope: Scope, state: Any) -> Optional[tuple[TenantContext, TenantRecord]]:
    """What `resolve_api_key` would answer, when this process already knows it
    all: a tenant's key verified within the cache lifetime (so revocation
    still takes effect within it), its tenant cached, no X-Tenant. No I/O and
    no side effect (no failure counted): None means "ask `resolve_api_key`",
    also for every refusal, which is its to make."""
    if header(scope, b"x-tenant") is not None:
        return None
    try:
        key_id, secret = parse(_bearer(scope))
    except Unauthorized:
        return None
    key = state.key_authenticator.cached(key_id, secret)
    if key is None or key.tenant_id is None:
        return None
    tenant = state.tenant_directory.cached(key.tenant_id)
    if tenant is None:
        return None
    return TenantContext.for_api_key(tenant, key.key_id, key.scopes), tenant


async def resolve_api_key(scope: Scope) -> tuple[TenantContext, TenantRecord]:
    """The key's tenant; an agency key names one of its tenants in X-Tenant.
    Another agency's tenant reads as a missing one."""
    state = scope["app"].state
    authenticator: KeyAuthenticator = state.key_authenticator
    directory: TenantDirectory = state.tenant_directory
    token = _bearer(scope)
    client = scope.get("client")
    key = await authenticator.authenticate(token, client[0] if client else None)
    requested = header(scope, b"x-tenant")
    if key.tenant_id is not None:
        tenant = await directory.by_id(key.tenant_id)
        if requested and requested != tenant.slug:
            raise NotFound("tenant not found")
    else:
        if not requested:
            raise Invalid(
                "an agency key must name its tenant in the X-Tenant header",
                errors=[{"field": "X-Tenant", "message": "required with an agency key"}],
            )
        try:
            tenant = await directory.by_slug(requested)
        except NotFound:
            tenant = None
        if tenant is None or tenant.agency_id != key.agency_id:
            raise NotFound("tenant not found")
    return TenantContext.for_api_key(tenant, key.key_id, key.scopes), tenant


def requires(scope: str):
    """Route guard: the key must carry `scope` (or `admin`). Async on purpose:
    Litestar runs sync guards in a thread pool, a costly hop on every request."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if not current_context(connection).allows(scope):
            raise Forbidden(f"this API key lacks the {scope!r} scope")

    return guard
