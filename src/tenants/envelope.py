"""The envelope: the one home of "for which tenant, who acts, in which
transaction" for every entry point.

An API request, a public page, an admin request, a worker job and a command
all come here to turn what they were given (a key, a signed link's tenant, a
staff member's memberships, a job name, a slug typed by an operator) into a
`TenantContext` and a transaction whose row-level-security settings say the
same thing. No other module opens a transaction on tenant data
(`tests/optinbase/test_envelope.py` greps for it). The HTTP side —
buffering the answer until commit, idempotency, rendering errors — is
`api.envelope`; what a database failure means for a caller is
`db.domain_error_of`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from typing import AsyncIterator, Awaitable, Callable, Optional, TypeVar

from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import NotFound
from optinbase.i18n import N_
from tenants import repository
from tenants.repository import TenantRecord

logger = logging.getLogger("optinbase.envelope")
T = TypeVar("T")


@functools.lru_cache(maxsize=4096)
def _tenant_text(tenant_id: uuid.UUID) -> str:
    """A tenant id as the setting holds it, written once (every request asks)."""
    return str(tenant_id)


def _tenant_settings(tenant_id: uuid.UUID) -> dict[str, str]:
    return {"app.tenant_id": _tenant_text(tenant_id)}


def tenant(ctx: TenantContext, *, write: bool = True, snapshot: bool = False) -> db.transaction:
    """`ctx`'s tenant transaction (`async with envelope.tenant(ctx):`): row-level
    security sees that tenant only. `snapshot`: all its statements read one
    snapshot (see `db.transaction`). The primitive itself, not a generator
    around it: every API request opens one."""
    return db.transaction(_tenant_settings(ctx.tenant_id), write=write,
                          tenant_id=ctx.tenant_id, snapshot=snapshot)


# --- who acts ------------------------------------------------------------------


async def subject(tenant_id: uuid.UUID) -> tuple[TenantContext, TenantRecord]:
    """The person behind a signed link: the link names its tenant, which must
    still exist (a deleted tenant's links answer like forged ones)."""
    record = await repository.tenant_by_id(tenant_id)
    if record is None:
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    return TenantContext.for_subject(record), record


async def subject_at(slug: str) -> tuple[TenantContext, TenantRecord]:
    """A visitor of a tenant's public form (`/p/{slug}/...`)."""
    record = await repository.tenant_by_slug(slug) if slug.replace("-", "").isalnum() else None
    if record is None:
        raise NotFound("no such page", msgid=N_("error.no_page"))
    return TenantContext.for_subject(record), record


def provider(record: TenantRecord, name: str) -> tuple[TenantContext, TenantRecord]:
    """An e-mail provider posting a tenant's events to its inbound endpoint
    (the endpoint's public id names the tenant, `record` as the API's tenant
    cache holds it; the provider's own scheme is checked by the handler). The
    system acts, as for a background job."""
    return TenantContext.for_system(record, f"inbound_{name}"), record


async def operator(slug: str, command: str) -> tuple[TenantContext, TenantRecord]:
    """The operator naming a tenant on the command line."""
    record = await repository.tenant_by_slug(slug)
    if record is None:
        raise NotFound(f"no tenant {slug!r}")
    return TenantContext.for_operator(record, command), record


async def each_tenant(
    job: str, work: Callable[[TenantContext, TenantRecord], Awaitable[T]], *,
    write: bool = True, only: Optional[str] = None, strict: bool = False,
) -> list[T]:
    """Runs `work` for every tenant (oldest first; `only`: the tenant with that
    slug), each in its own transaction as the system acting for `job`, and
    returns what each returned. One tenant's failure is rolled back and logged
    and never stops the others' (`strict`: it stops the run, for a command
    whose operator must see it)."""
    results: list[T] = []
    for record in await repository.all_tenants():
        if only is not None and record.slug != only:
            continue
        ctx = TenantContext.for_system(record, job)
        try:
            async with tenant(ctx, write=write):
                results.append(await work(ctx, record))
        except Exception:
            if strict:
                raise
            logger.exception("%s failed for tenant %s", job, record.id)
    return results


# --- staff (the admin panel) ---------------------------------------------------


@contextlib.asynccontextmanager
async def staff(tenant_ids: list[uuid.UUID], *, write: bool) -> AsyncIterator[None]:
    """An admin request: agency staff see every tenant of their agency in one
    list, so row-level security admits the staff member's tenants (and the
    CRUD layer scopes the same list). Writes through a service narrow first
    (`acting`). Never READ ONLY: even a GET refreshes the session's expiry."""
    ids = "{" + ",".join(str(t) for t in tenant_ids) + "}" if tenant_ids else ""
    single = str(tenant_ids[0]) if len(tenant_ids) == 1 else ""
    async with db.transaction({"app.tenant_ids": ids, "app.tenant_id": single}, write=write,
                              read_only=False, admits=frozenset(tenant_ids)):
        yield


@contextlib.asynccontextmanager
async def acting(tenant_id: uuid.UUID, user_id: Optional[int], role: str, email: str = ""
                 ) -> AsyncIterator[TenantContext]:
    """Inside a staff transaction, act for one of its tenants through the same
    services as the API: the context carries the role's scopes, and the
    database sees that tenant alone until the block ends."""
    record = await repository.tenant_by_id(tenant_id)
    if record is None:
        raise NotFound("tenant not found")
    async with db.narrowed(tenant_id):
        yield TenantContext.for_staff(record, user_id, role, email)


# --- the control plane -----------------------------------------------------------


@contextlib.asynccontextmanager
async def control(*, agency_id: Optional[uuid.UUID] = None,
                  tenant_id: Optional[uuid.UUID] = None) -> AsyncIterator[None]:
    """Operator work on the control plane: creating tenants, agencies and
    staff (no tenant's rows visible), or an API key of one tenant or agency."""
    settings: dict[str, str] = {}
    if tenant_id is not None:
        settings["app.tenant_id"] = str(tenant_id)
    if agency_id is not None:
        settings["app.agency_id"] = str(agency_id)
    async with db.transaction(settings, write=True, tenant_id=tenant_id):
        yield


@contextlib.asynccontextmanager
async def key_lookup(key_id: str) -> AsyncIterator[None]:
    """Reading the one API key whose public id is presented: row-level
    security (policy `key_lookup`) shows that row only, never a listing."""
    async with db.transaction({"app.key_id": key_id}, write=True):
        yield


@contextlib.asynccontextmanager
async def delivery(tenant_id: uuid.UUID) -> AsyncIterator[None]:
    """The outbox worker's turn with one tenant's messages: that tenant's
    transaction, with nobody acting (the worker only moves what was queued;
    on PostgreSQL it changes delivery state through the owner's functions)."""
    async with db.transaction(_tenant_settings(tenant_id), write=True, tenant_id=tenant_id):
        yield
