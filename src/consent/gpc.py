"""Global Privacy Control (`Sec-GPC: 1`): what the browser's signal refuses.

GPC is a do-not-sell-or-share signal (GPC specification, W3C Privacy CG; in
California a valid opt-out of sale and sharing, Cal. Code Regs. tit. 11
§ 7025). In the EU it is an objection exercised "by automated means using
technical specifications" (GDPR Art. 21(5)), here to the two ways data leaves
the tenant for someone else's use:

* `social_ads` — uploading the person to an ad platform's custom audience is
  sharing with that platform (Meta, Google);
* partner transfers — a purpose whose notice names partners (CNIL: partners
  must be named at collection) hands the data to those partners for their own
  prospecting.

So on the public pages, with `Sec-GPC: 1`: a ticked box of either kind is
recorded as `refused`, with the signal as its proof (source `Sec-GPC: 1`),
never `requested`; the preference centre will not grant them; the
confirmation and unsubscribe pages refuse social ads for every purpose. The
tenant's own e-mail, SMS or post for a purpose without partners is not
sharing and stays the person's choice. As California's rules allow (§ 7025
(c)(3)), the person may still consent from a browser that does not send the
signal: the signal wins over a box ticked in the same request, never over a
later, separate consent.
"""

from __future__ import annotations

from typing import Any, Iterable

from optinbase import db
from optinbase.context import TenantContext

SOURCE = "Sec-GPC: 1"
SHARING_CHANNELS = frozenset({"social_ads"})


def refuses(channel: str, purpose: str, partner_purposes: Iterable[str]) -> bool:
    """Does the signal refuse this box (a channel of a purpose)?"""
    return channel in SHARING_CHANNELS or purpose in set(partner_purposes)


async def partner_purposes(ctx: TenantContext) -> set[str]:
    """Keys of the purposes whose newest notice names partners."""
    rows = await db.fetch(
        "SELECT p.key, n.version, n.partners FROM purpose p JOIN notice n"
        " ON n.tenant_id = p.tenant_id AND n.purpose_id = p.id WHERE p.tenant_id = {}",
        ctx.tenant_id)
    newest: dict[str, Any] = {}
    for row in rows:
        if row["key"] not in newest or row["version"] > newest[row["key"]]["version"]:
            newest[row["key"]] = row
    return {key for key, row in newest.items() if row["partners"]}
