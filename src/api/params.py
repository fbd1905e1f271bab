"""Parameter declarations shared by the controllers (Litestar's explicit markers)."""

from typing import Annotated, Optional, TypeVar

from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from optinbase.context import TenantContext

T = TypeVar("T")

# The caller's tenant, resolved by api.auth from the key; never from the request.
Ctx = NamedDependency[TenantContext]
Limit = Annotated[int, QueryParameter(ge=1, le=500)]
Query = FromQuery[Optional[str]]
Path = FromPath
Body = JSONBody

__all__ = ["Body", "Ctx", "Limit", "Path", "Query", "FromQuery"]
