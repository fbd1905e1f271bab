"""The tenant's time zone (setting `time_zone`, an IANA name): dates shown to
people are in it, never raw UTC. Default: Europe/Paris for a French tenant,
else UTC — read at use, so a tenant that never set it follows its country."""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

PARIS = "Europe/Paris"
_NAME = re.compile(r"\A[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*\Z")


def default_time_zone(country: Any) -> str:
    return PARIS if str(country or "").upper() == "FR" else "UTC"


@functools.cache
def _names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_time_zone(name: Any) -> bool:
    """An IANA zone name this installation knows (`Europe/Paris`, `UTC`); no
    path, no POSIX TZ string."""
    return (isinstance(name, str) and len(name) <= 64 and bool(_NAME.match(name))
            and name in _names())


def time_zone_of(tenant: Any) -> zoneinfo.ZoneInfo:
    """The zone a tenant's dates are shown in (UTC without a tenant)."""
    if tenant is None:
        return zoneinfo.ZoneInfo("UTC")
    name = (getattr(tenant, "settings", None) or {}).get("time_zone")
    if not is_time_zone(name):  # never set (or set by hand to nonsense): the default
        name = default_time_zone(getattr(tenant, "country", ""))
    return zoneinfo.ZoneInfo(name)
