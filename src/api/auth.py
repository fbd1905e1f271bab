"""Bearer-key authentication: the only place an API request gets its TenantContext."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from optinbase.context import TenantContext
from optinbase.errors import Forbidden, Invalid, NotFound, Unauthorized
from tenants.keys import KeyAuthenticator
from tenants.service import TenantDirectory


class ApiKeyAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        state = connection.app.state
        authenticator: KeyAuthenticator = state.key_authenticator
        directory: TenantDirectory = state.tenant_directory
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send the API key as 'Authorization: Bearer <key>'.")
        key = await authenticator.authenticate(token.strip())
        requested = connection.headers.get("x-tenant")
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
        context = TenantContext(
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            actor=f"api_key:{key.key_id}",
            scopes=key.scopes,
            country=tenant.country,
        )
        return AuthenticationResult(user=context, auth=key)


def requires(scope: str):
    """Route guard: the key must carry `scope` (or `admin`). Async on purpose:
    Litestar runs sync guards in a thread pool, a costly hop on every request."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        context: TenantContext = connection.user
        if not context.allows(scope):
            raise Forbidden(f"this API key lacks the {scope!r} scope")

    return guard


def current_context(request: ASGIConnection) -> TenantContext:
    return request.user
