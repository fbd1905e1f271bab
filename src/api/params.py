"""Parameter declarations shared by the controllers (Litestar's explicit markers)."""

from typing import Annotated, Optional, TypeVar

from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from optinbase.context import TenantContext
from tenants.repository import TenantRecord

T = TypeVar("T")

# Who calls and for which tenant, resolved by the envelope (api.envelope) from
# the key, the signed link or the form's slug; never from the request's body.
Ctx = NamedDependency[TenantContext]
Tenant = NamedDependency[TenantRecord]
Limit = Annotated[int, QueryParameter(ge=1, le=500)]
OptionalLimit = Annotated[Optional[int], QueryParameter(ge=1, le=500)]
Query = FromQuery[Optional[str]]
Path = FromPath
Body = JSONBody

__all__ = ["Body", "Ctx", "Limit", "OptionalLimit", "Path", "Query", "FromQuery", "Tenant"]
