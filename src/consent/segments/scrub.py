"""What erasure does to saved segments: a rule may name the person.

An integrator who builds a segment for one person (`email eq anne@…`, a phone
in an `in` list, the address in the segment's name) has written their
identifier into the segment. Erasure replaces every string in the rules that
holds the person's e-mail or phone (any letter case), or is their external id,
with "" — such a condition now matches nobody, which is what it meant once the
person is gone — and the e-mail or phone in the name with "[erased]". An
external id is matched whole only (it may be as short as "42"), and names are
not touched: a rule `first_name eq Marie` is about many people, not this one.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable, Optional

from optinbase import audit, db
from optinbase.context import TenantContext

ERASED = "[erased]"


def _clean(node: Any, names_person: Callable[[str], bool]) -> tuple[Any, bool]:
    """`node` with every string that names the person blanked, and whether any was."""
    if isinstance(node, str):
        return ("", True) if names_person(node) else (node, False)
    if isinstance(node, list):
        cleaned = [_clean(item, names_person) for item in node]
        return [c for c, _ in cleaned], any(changed for _, changed in cleaned)
    if isinstance(node, dict):
        cleaned_items = {k: _clean(v, names_person) for k, v in node.items()}
        return ({k: c for k, (c, _) in cleaned_items.items()},
                any(changed for _, changed in cleaned_items.values()))
    return node, False


def _clean_name(name: str, needles: tuple[str, ...]) -> str:
    lowered = name.lower()
    for needle in needles:
        while needle in lowered:
            start = lowered.index(needle)
            name = name[:start] + ERASED + name[start + len(needle):]
            lowered = name.lower()
    return name


async def forget_in_segments(ctx: TenantContext, email: Optional[str], phone: Optional[str],
                             external_id: Optional[str]) -> None:
    """Blanks the person's identifiers in the tenant's segments (one read of
    the tenant's segments, one write per segment that named them)."""
    needles = tuple(v.lower() for v in (email, phone) if v)
    whole = external_id.strip().lower() if external_id else None
    if not needles and not whole:
        return

    def names_person(text: str) -> bool:
        lowered = text.lower()
        return lowered.strip() == whole or any(n in lowered for n in needles)

    rows = await db.fetch("SELECT id, name, rules FROM segment WHERE tenant_id = {}",
                          ctx.tenant_id)
    now = dt.datetime.now(dt.timezone.utc)
    for row in rows:
        rules = json.loads(row["rules"]) if isinstance(row["rules"], str) else row["rules"]
        cleaned, changed = _clean(rules, names_person)
        name = _clean_name(row["name"], needles)
        if not changed and name == row["name"]:
            continue
        await db.execute(
            "UPDATE segment SET name = {}, rules = {}, updated_at = {}"
            " WHERE tenant_id = {} AND id = {}",
            name, json.dumps(cleaned), now, ctx.tenant_id, row["id"])
        await audit.record(ctx, "segment.updated", "segment", row["id"],
                           {"by": "erasure"})
