"""Everything the admin's contact page shows, read through the consent services
for one tenant: the answer to "why may we (not) contact this person?" — each
consent state with the consent check's verdict (which already weighs expiry,
the suppression list and a GDPR Art. 18 restriction), the ledger history with
the notice version each event was given under, the person's data-subject
requests and their suppression entries. No Litestar, no HTML."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Optional

from consent import consents, contacts, notices, suppression_list
from consent.requests.records import COLUMNS, request_out
from consent.requests.schemas import RequestOut
from consent.schemas import (
    CheckItem,
    CheckOut,
    ConsentEventOut,
    ConsentStateOut,
    ContactOut,
    SuppressionEntryOut,
)
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import Invalid

HISTORY = 200  # ledger events shown, oldest first


@dataclass
class ContactFacts:
    contact: ContactOut
    restricted: bool = False
    # (state, the consent check's verdict for its channel and purpose)
    verdicts: list[tuple[ConsentStateOut, CheckOut]] = field(default_factory=list)
    events: list[ConsentEventOut] = field(default_factory=list)
    more_events: bool = False
    # notice id → (version, language)
    notices: dict[uuid.UUID, tuple[int, str]] = field(default_factory=dict)
    requests: list[RequestOut] = field(default_factory=list)
    suppressions: list[SuppressionEntryOut] = field(default_factory=list)

    def notice_label(self, notice_id: Optional[uuid.UUID]) -> str:
        if notice_id is None or notice_id not in self.notices:
            return ""
        version, language = self.notices[notice_id]
        return f"v{version} ({language})"


async def gather(ctx: TenantContext, contact_id: uuid.UUID) -> ContactFacts:
    """Raises NotFound for a contact this tenant does not have."""
    contact = await contacts.get_contact(ctx, contact_id)
    facts = ContactFacts(contact=contact)
    row = await db.fetchrow("SELECT restricted_at FROM contact WHERE tenant_id = {} AND id = {}",
                            ctx.tenant_id, contact_id)
    facts.restricted = row is not None and row["restricted_at"] is not None
    for state in await consents.list_states(ctx, contact_id):
        verdict = await consents.check(ctx, CheckItem(channel=state.channel,
                                                      purpose=state.purpose,
                                                      contact_id=contact_id))
        facts.verdicts.append((state, verdict))
    page = await consents.list_events(ctx, contact_id, HISTORY, None)
    facts.events, facts.more_events = page.items, page.next_cursor is not None
    facts.notices = await notices.versions_of(ctx, {e.notice_id for e in facts.events
                                                    if e.notice_id is not None})
    now = dt.datetime.now(dt.timezone.utc)
    # Linked once verified; before that a request only carries what the person typed.
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM data_subject_request WHERE tenant_id = {{}}"
        " AND (contact_id = {} OR email = {} OR phone = {}) ORDER BY received_at DESC",
        ctx.tenant_id, contact_id, contact.email, contact.phone,
    )
    facts.requests = [request_out(r, now) for r in rows]
    for name in ("email", "phone"):
        value = getattr(contact, name)
        if value:
            facts.suppressions += await suppression_list.entries_of(
                ctx, **{name: value, "email" if name == "phone" else "phone": None})
    return facts


async def find(ctx: TenantContext, query: str) -> list[ContactOut]:
    """Contacts of this tenant whose e-mail, phone or external id is `query`
    (normalised as the API does); an address that is not one finds nobody."""
    query = query.strip()
    if not query or "\x00" in query:  # PostgreSQL text cannot hold NUL: nobody has it
        return []
    name = "email" if "@" in query else "phone" if query.lstrip("+").replace(" ", "").isdigit() \
        else "external_id"
    try:
        page = await contacts.list_contacts(ctx, **{"email": None, "phone": None,
                                                     "external_id": None, name: query},
                                            limit=20, cursor=None)
    except Invalid:  # a malformed address or phone is nobody, not an error
        return []
    return page.items
