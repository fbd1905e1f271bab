"""Agencies, tenants and staff: creation and the cached directory used on every request."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
import uuid
from typing import Any, Optional

from optinbase import audit, db, i18n
from optinbase.context import TenantContext
from optinbase.errors import Conflict, Invalid, NotFound, invalid_field
from optinbase.normalise import normalise_email, single_line
from tenants import envelope, repository
from tenants.repository import TenantRecord
from tenants.schemas import TenantPatch, changes
from tenants.tables import Membership, StaffSession, StaffUser

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
ROLES = ("owner", "manager", "editor", "viewer", "dpo")
LEAST_ROLE = "viewer"  # what a staff member gets when no role is named
ROLE_HELP = ("viewer: reads everything; editor: also edits contacts, consents and segments;"
             " manager: also imports, exports, API keys and requests; dpo: as manager, and"
             " carries out erasures; owner: everything")

DEFAULT_SETTINGS: dict[str, Any] = {
    "double_opt_in_channels": [],
    "confirmation_token_hours": 72,
    "retention_months": 36,
    "default_locale": "fr",
    "sender": "",
}


def _check_slug(slug: str) -> None:
    if not SLUG.match(slug):
        raise invalid_field("slug", "must be 1-63 lower-case letters, digits or dashes")


def _check_time_zone(settings: dict[str, Any]) -> None:
    if "time_zone" in settings and not i18n.is_time_zone(settings["time_zone"]):
        raise invalid_field("settings.time_zone",
                            "must be an IANA time zone name such as Europe/Paris or UTC")


async def create_agency(slug: str, name: str) -> uuid.UUID:
    _check_slug(slug)
    if await repository.agency_by_slug(slug):
        raise Conflict(f"agency {slug!r} already exists")
    agency_id = uuid.uuid4()
    await repository.insert_agency(agency_id, slug, name or slug, dt.datetime.now(dt.timezone.utc))
    return agency_id


async def create_tenant(
    slug: str,
    name: str,
    *,
    agency_slug: Optional[str] = None,
    legal_name: str = "",
    dpo_email: str = "",
    country: str = "",
    settings: Optional[dict[str, Any]] = None,
) -> TenantRecord:
    _check_slug(slug)
    single_line(name, "name")
    single_line(legal_name, "legal_name")
    if dpo_email:
        dpo_email = normalise_email(dpo_email, "dpo_email")
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise invalid_field("country", "must be an ISO 3166-1 alpha-2 code such as FR")
    agency_id = None
    if agency_slug:
        agency = await repository.agency_by_slug(agency_slug)
        if agency is None:
            raise NotFound(f"no agency {agency_slug!r}")
        agency_id = agency["id"]
    if await repository.tenant_by_slug(slug):
        raise Conflict(f"tenant {slug!r} already exists")
    settings = {**DEFAULT_SETTINGS, "time_zone": i18n.default_time_zone(country),
                **(settings or {})}
    _check_time_zone(settings)
    record = TenantRecord(
        id=uuid.uuid4(),
        slug=slug,
        name=name or slug,
        legal_name=legal_name,
        dpo_email=dpo_email,
        country=country,
        agency_id=agency_id,
        settings=settings,
        secret=secrets.token_hex(32),
        created_at=dt.datetime.now(dt.timezone.utc),
    )
    await repository.insert_tenant(record)
    return record


async def update_tenant(ctx: TenantContext, patch: TenantPatch) -> TenantRecord:
    """Applies a tenant's own changes (settings merge key by key), audited with
    the names of what changed."""

    tenant_id = ctx.tenant_id
    record = await repository.tenant_by_id(tenant_id)
    if record is None:
        raise NotFound("tenant not found")
    values = changes(patch)
    if "settings" in values:
        _check_time_zone(changes(patch.settings))
        values["settings"] = {**record.settings, **changes(patch.settings)}
    if values.get("dpo_email"):
        try:
            values["dpo_email"] = normalise_email(values["dpo_email"])
        except ValueError as exc:
            raise invalid_field("dpo_email", str(exc)) from None
    if values:
        await repository.update_tenant(tenant_id, values)
        await audit.record(ctx, "tenant.updated", "tenant", tenant_id, {
            "fields": sorted(values),
            "settings": sorted(changes(patch.settings)) if "settings" in values else []})
    return await repository.tenant_by_id(tenant_id)



class TenantDirectory:
    """Tenants by id and slug, cached briefly: read on every request, rarely changed."""

    def __init__(self, ttl_seconds: float = 30.0):
        self.ttl = ttl_seconds
        self._by_id: dict[uuid.UUID, tuple[float, TenantRecord]] = {}
        self._by_slug: dict[str, tuple[float, TenantRecord]] = {}

    def _put(self, record: TenantRecord) -> TenantRecord:
        stamp = time.monotonic() + self.ttl
        self._by_id[record.id] = (stamp, record)
        self._by_slug[record.slug] = (stamp, record)
        return record

    def cached(self, tenant_id: uuid.UUID) -> Optional[TenantRecord]:
        """The record while it is fresh, without I/O; None: ask `by_id`."""
        hit = self._by_id.get(tenant_id)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    async def by_id(self, tenant_id: uuid.UUID) -> TenantRecord:
        hit = self.cached(tenant_id)
        if hit is not None:
            return hit
        record = await repository.tenant_by_id(tenant_id)
        if record is None:
            raise NotFound("tenant not found")
        return self._put(record)

    async def by_slug(self, slug: str) -> TenantRecord:
        hit = self._by_slug.get(slug)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        record = await repository.tenant_by_slug(slug) if SLUG.match(slug) else None
        if record is None:
            raise NotFound("tenant not found")
        return self._put(record)

    def forget(self, record: TenantRecord) -> None:
        self._by_id.pop(record.id, None)
        self._by_slug.pop(record.slug, None)


async def create_staff(
    email: str,
    password: str,
    *,
    tenant_slug: Optional[str] = None,
    agency_slug: Optional[str] = None,
    superuser: bool = False,
    role: str = LEAST_ROLE,
) -> int:
    """A staff user with one membership (tenant or agency) or superuser rights."""

    email = normalise_email(email)
    if role not in ROLES:
        raise invalid_field("role", f"must be one of {', '.join(ROLES)}")
    if sum(bool(x) for x in (tenant_slug, agency_slug, superuser)) != 1:
        raise Invalid("give exactly one of --tenant, --agency or --superuser")
    tenant_id = agency_id = None
    if tenant_slug:
        tenant = await repository.tenant_by_slug(tenant_slug)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_slug!r}")
        tenant_id = tenant.id
    if agency_slug:
        agency = await repository.agency_by_slug(agency_slug)
        if agency is None:
            raise NotFound(f"no agency {agency_slug!r}")
        agency_id = agency["id"]
    if await StaffUser.exists().where(StaffUser.username == email):
        raise Conflict(f"staff user {email!r} already exists")
    try:
        async with envelope.control():
            user = await StaffUser.create_user(
                username=email, password=password, email=email, active=True,
                admin=True, superuser=superuser,
            )
            if not superuser:
                await Membership.insert(
                    Membership(
                        user=user.id, tenant=tenant_id, agency=agency_id, role=role,
                        created_at=dt.datetime.now(dt.timezone.utc),
                    )
                )
    except ValueError as exc:
        raise invalid_field("password", str(exc)) from None
    return user.id


async def _membership_target(tenant_slug: Optional[str], agency_slug: Optional[str]
                             ) -> tuple[Optional[uuid.UUID], Optional[uuid.UUID]]:
    if bool(tenant_slug) == bool(agency_slug):
        raise Invalid("give exactly one of --tenant or --agency")
    if tenant_slug:
        tenant = await repository.tenant_by_slug(tenant_slug)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_slug!r}")
        return tenant.id, None
    agency = await repository.agency_by_slug(agency_slug or "")
    if agency is None:
        raise NotFound(f"no agency {agency_slug!r}")
    return None, agency["id"]


async def _staff(email: str) -> StaffUser:
    user = await StaffUser.objects().where(StaffUser.username == normalise_email(email)).first()
    if user is None:
        raise NotFound(f"no staff user {email!r}")
    return user


async def add_membership(email: str, *, tenant_slug: Optional[str] = None,
                         agency_slug: Optional[str] = None, role: str = LEAST_ROLE) -> None:
    """Another tenant or agency for an existing staff member (or a new role
    where they already have one: the membership is replaced)."""
    if role not in ROLES:
        raise invalid_field("role", f"must be one of {', '.join(ROLES)}")
    user = await _staff(email)
    tenant_id, agency_id = await _membership_target(tenant_slug, agency_slug)
    async with envelope.control():
        same = Membership.user == user.id
        same &= (Membership.tenant == tenant_id) if tenant_id else (Membership.agency == agency_id)
        await Membership.delete().where(same)
        await Membership.insert(Membership(user=user.id, tenant=tenant_id, agency=agency_id,
                                           role=role, created_at=dt.datetime.now(dt.timezone.utc)))


async def set_password(email: str, password: str) -> None:
    user = await _staff(email)
    try:
        await StaffUser.update_password(user.id, password)
    except ValueError as exc:
        raise invalid_field("password", str(exc)) from None


async def disable_staff(email: str) -> None:
    """No more logins, and the sessions already open end now."""
    user = await _staff(email)
    async with envelope.control():
        await StaffUser.update({StaffUser.active: False}).where(StaffUser.id == user.id)
        await StaffSession.delete().where(StaffSession.user_id == user.id)


async def list_staff() -> list[dict[str, Any]]:
    """Every staff member with their memberships (tenant or agency slug: role)."""
    users = await StaffUser.select(StaffUser.id, StaffUser.username, StaffUser.active,
                                   StaffUser.superuser).order_by(StaffUser.username)
    memberships = await db.fetch(
        "SELECT m.user_id, t.slug AS tenant, a.slug AS agency, m.role FROM membership m"
        " LEFT JOIN tenant t ON t.id = m.tenant_id LEFT JOIN agency a ON a.id = m.agency_id")
    held: dict[int, list[str]] = {}
    for m in memberships:
        where = f"tenant {m['tenant']}" if m["tenant"] else f"agency {m['agency']}"
        held.setdefault(m["user_id"], []).append(f"{where}: {m['role']}")
    return [{**u, "memberships": sorted(held.get(u["id"], []))} for u in users]


async def attach_tenant(slug: str, agency_slug: Optional[str]) -> None:
    """Puts a tenant under an agency (its staff then see it), or none."""
    tenant = await repository.tenant_by_slug(slug)
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    agency_id = None
    if agency_slug:
        agency = await repository.agency_by_slug(agency_slug)
        if agency is None:
            raise NotFound(f"no agency {agency_slug!r}")
        agency_id = agency["id"]
    await repository.set_tenant_agency(tenant.id, agency_id)
