"""Set-based writes of one chunk of valid import rows, in the caller's transaction
(consent.imports.runner gives each chunk its own, planned as `plan` says;
`prepare` once per transaction).

1. Match rows to existing contacts by e-mail, phone or external id (one query).
2. Resolve people in Python: rows naming one person merge; a row whose
   identifiers point at two different contacts is rejected, as is a row
   matching a contact whose stored identifiers are suppressed.
3. Drop consent events the ledger already holds (same contact, channel,
   purpose, notice and collected_at): re-importing a file appends nothing.
4. Upsert contacts: INSERT … ON CONFLICT (tenant_id, id) DO UPDATE, on
   PostgreSQL one statement with the rows as one array per column
   (optinbase.bulk; no staging table), executemany on SQLite. Empty cells
   keep stored values. A chunk naming nobody stored inserts its people and
   their states (bulk.new_rows: no conflict clause but on Citus).
5. Append ledger events (chained by a chain.Chain whose head is locked once
   the contacts are in, until the chunk's transaction ends), on PostgreSQL
   as one array of consent_event records. Upsert consent_state the way the
   contacts go in; a stored state only yields to a later-or-equal `since`
   ("latest collected_at wins", as in states.apply_to_state).

On PostgreSQL the events are digested while the contacts' INSERT runs (all
their hashes cover but their place in the chain: chain.digested) and chained
under the head's lock, and the states are built while the events' INSERT runs
(`_meanwhile`): Python and the database work side by side. Before a chunk's
transaction the runner works it out as if it named nobody stored
(`Writer.ahead`: people, contact rows, the events digested) while the
previous chunk is written;
`write` uses that when the matching read finds nobody (every chunk of a first
import) and matches the rows itself otherwise. Ids come from optinbase.ids in
bulk and nothing is looked up per row.
New contacts, ledger events and consent states get time-ordered (version 7)
ids, so the rows of a big import go to the right edge of the primary keys and
of the (tenant_id, contact_id, …) indexes rather than to random leaf pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import operator
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

from consent import changes, suppression
from consent.imports.parse import column_name
from consent.imports.validate import IDENTIFIERS, Consent, Rejection, Valid
from consent.ledger import chain, notify
from consent.schemas import PHONE_CHANNELS
from optinbase import bulk, db
from optinbase.context import TenantContext
from optinbase.ids import uuid7s

_UTC = dt.timezone.utc
# How many of a run's first chunks plan again (Writer.replan): the tables hold
# at least two chunks more by the last of them, on each pooled connection.
REPLANNED_CHUNKS = 4

CONTACT_COLUMNS = (
    "id", "tenant_id", "email", "phone", "external_id", "first_name", "last_name", "locale",
    "country", "postal_code", "birth_year", "gender", "language", "attributes", "source",
    "created_at", "updated_at", "last_activity_at", "email_hash", "phone_hash",
)
_GIVEN_OR_KEPT = [c for c in CONTACT_COLUMNS[2:] if c not in (
    "attributes", "created_at", "updated_at", "last_activity_at")]
STATE_COLUMNS = (
    "id", "tenant_id", "contact_id", "channel", "purpose_id", "status", "since", "expires_at",
    "event_id", "updated_at",
)
# What an import stages for consent_state on PostgreSQL; the rest is constant.
STAGED_STATE_COLUMNS = ("id", "contact_id", "channel", "purpose_id", "since", "event_id")


def _contact_upsert(source: str, merge_attributes: str) -> str:
    kept = ", ".join(f"{c} = COALESCE(excluded.{c}, contact.{c})" for c in _GIVEN_OR_KEPT)
    return (
        f"INSERT INTO contact ({', '.join(CONTACT_COLUMNS)}) {source}"
        f" ON CONFLICT (tenant_id, id) DO UPDATE SET {kept},"
        f" attributes = {merge_attributes}, updated_at = excluded.updated_at,"
        " last_activity_at = CASE WHEN excluded.last_activity_at IS NOT NULL AND"
        " (contact.last_activity_at IS NULL OR contact.last_activity_at < excluded.last_activity_at)"
        " THEN excluded.last_activity_at ELSE contact.last_activity_at END"
    )


def _state_upsert(source: str) -> str:
    return (
        f"INSERT INTO consent_state ({', '.join(STATE_COLUMNS)}) {source}"
        " ON CONFLICT (tenant_id, contact_id, channel, purpose_id) DO UPDATE SET"
        " status = excluded.status, since = excluded.since, expires_at = excluded.expires_at,"
        " event_id = excluded.event_id, updated_at = excluded.updated_at"
        " WHERE consent_state.since <= excluded.since"
    )


# What matching reads of a stored contact.
_MATCHED = "id, email, phone, external_id, email_hash, phone_hash, restricted_at"


def _values(columns: tuple[str, ...]) -> str:
    return f"VALUES ({', '.join(['{}'] * len(columns))})"


# Arguments: tenant, the chunk's time twice (created, updated), then the
# rows' other columns: what every row shares goes once, not once a row.
_CONTACT_CONSTANTS = {"tenant_id": "{}", "created_at": "{}", "updated_at": "{}"}
_CONTACTS = bulk.Insert(CONTACT_COLUMNS, _CONTACT_CONSTANTS, lambda source: _contact_upsert(
    source, "contact.attributes || excluded.attributes"))
# Of a chunk naming nobody stored (`fresh`): new people, inserted.
_NEW_CONTACTS = bulk.Insert(CONTACT_COLUMNS, _CONTACT_CONSTANTS,
                            bulk.inserting("contact", CONTACT_COLUMNS), fresh=True)
# Arguments: tenant, updated_at, then the staged columns.
_STATE_CONSTANTS = {
    "tenant_id": "{}", "status": "'granted'", "expires_at": "NULL::timestamptz", "updated_at": "{}",
}
_STATES = bulk.Insert(STATE_COLUMNS, _STATE_CONSTANTS,
                      lambda source: _state_upsert(source) + " RETURNING event_id")
# Of new contacts only (`fresh`): every state goes in, none is sent back.
_NEW_STATES = bulk.Insert(STATE_COLUMNS, _STATE_CONSTANTS,
                          bulk.inserting("consent_state", STATE_COLUMNS), fresh=True)
# A chunk of new people on PostgreSQL: its head, events and change feed
# (consent.changes.FED_WITH_EVENTS) in one statement, `r` the events' records
# each beside its change's id and place: one round trip under the head's lock
# instead of two, and per change two values to encode there instead of six.
_EVENTS_HEAD_AND_FEED = (
    "WITH head AS (UPDATE ledger_head SET seq = {}, hash = {} WHERE tenant_id = {}),"
    " r AS (SELECT * FROM unnest({}::consent_event[], {}::uuid[], {}::int[])"
    f" AS r({', '.join(chain.EVENT_COLUMNS)}, feed_id, place)), "
    + changes.FED_WITH_EVENTS
    + f" INSERT INTO consent_event ({', '.join(chain.EVENT_COLUMNS)}) SELECT "
    + ", ".join("{}" if c == "tenant_id" else f"r.{c}" for c in chain.EVENT_COLUMNS)
    + " FROM r")


def _events(sealed: list[tuple[Any, ...]], ledger: chain.Chain,
            feed: Optional[tuple[list[Any], list[Any], int]] = None) -> tuple[Any, ...]:
    """The statement inserting a chunk's `sealed` events and its arguments
    (with the head on PostgreSQL: chain.Chain.inserting; and with `feed`, the
    change ids and places of `changes.placed` and the first number, the
    change feed too: _EVENTS_HEAD_AND_FEED). Counted by its command tag
    (db.affected): the events' rows."""
    if feed is None or db.is_citus():
        return ledger.inserting(sealed)
    feed_ids, places, first = feed
    tenant_id = ledger.tenant_id
    return (_EVENTS_HEAD_AND_FEED, *ledger.written(), tenant_id, sealed, feed_ids, places,
            tenant_id, first, tenant_id)


PLAN = {
    # Plans that do not depend on how big the statistics say the tenant
    # or the tables are. A tenant they do not know yet (a first import,
    # until the next ANALYZE) looks empty, through the statement's
    # `tenant_id = $n` when planned with its value and through the
    # row-level-security policy's `tenant_id = current_setting(…)` even in
    # a generic plan; PostgreSQL then read the tenant's rows through any
    # (tenant_id, …) index and filtered them against the chunk's keys —
    # quadratic (the matching read took 1, 2.7, then 4 s for the second
    # to fourth chunk of a new tenant). And a plan cached while a table
    # was small (the foreign-key checks' plans live as long as the
    # connection) scans it whole for each row once it has grown: the
    # first chunk of a million-row import after a 2,000-row one took 24 s
    # under the chain lock, until an ANALYZE. Forced custom plans, the
    # old answer, planned each of those per-row checks again (most of the
    # import's database time). A chunk reads nothing but its keys' rows:
    # generic plans, index probes only. SET LOCAL: the pooled connection
    # goes back as it was. Expressions the runner adds to the first
    # statement of each chunk's transaction (its job row's check), which
    # needs no plan of its own: one round trip less a chunk.
    "postgres": (", set_config('plan_cache_mode', 'force_generic_plan', true),"
                 " set_config('enable_bitmapscan', 'off', true),"
                 " set_config('enable_seqscan', 'off', true)"),
    "sqlite": "",
}
# Yet which index a generic plan takes still follows the statistics: tables
# analysed while empty (a new installation, before autovacuum's first pass)
# made the matching read filter the tenant's rows through a (tenant_id,
# postal_code) index — a first 100,000-row import took 20 s, 9 s with this.
# The owner's function analyses the four tables an import grows while they
# are small and have outgrown their statistics (migration
# consent_2026_12_02t15_40); a few catalog reads otherwise. PostgreSQL
# only, and not on Citus: the chunk's first statement runs on a worker there,
# whose tables are the shards, not the four it names.
REFRESH = ", optinbase_refresh_import_statistics()"

SQL = {
    "postgres": {
        # Rows go in as one array per column (optinbase.bulk; the events as
        # one array of records): no staging table, the tenant a plain
        # parameter, ON CONFLICT on every insert on Citus (which runs an
        # INSERT … SELECT without it as COPY, refused by row-level
        # security): an upsert's own, or for rows under new ids
        # bulk.new_rows'. The bulk.Insert ones in both forms (text columns
        # joined, unless a value forbids it).
        "contacts": _CONTACTS,
        # The states the chunk's events now lead (the change feed's winners).
        "states": _STATES,
        "new_contacts": _NEW_CONTACTS,
        "new_states": _NEW_STATES,
        # Fresh time-ordered ids (write checks the count).
        "events": chain.EVENTS,
        # Identifiers and contacts as one array each: a btree walks the array
        # (one descent per key) under the generic plan, which cannot take a
        # tenant the statistics do not know yet for an empty one. No LIMIT in
        # a lateral subquery over unnest: Citus cannot push that down.
        "match": " UNION ".join(
            f"SELECT {_MATCHED} FROM contact WHERE tenant_id = {{}} AND {name} = ANY({{}}::text[])"
            for name in ("email", "phone", "external_id")
        ),
        "granted": (
            "SELECT contact_id, channel, purpose_id, notice_id, collected_at FROM consent_event"
            " WHERE tenant_id = {} AND contact_id = ANY({}::uuid[]) AND action = 'granted'"
        ),
    },
    "sqlite": {
        # `WHERE true` is not needed with VALUES; SQLite binds one row per execution.
        "contacts": _contact_upsert(
            _values(CONTACT_COLUMNS), "json_patch(contact.attributes, excluded.attributes)"
        ),
        "states": _state_upsert(_values(STATE_COLUMNS)),
        "match": " UNION ".join(
            f"SELECT {_MATCHED} FROM contact"
            f" WHERE tenant_id = {{}} AND {name} IN (SELECT value FROM json_each({{}}))"
            for name in ("email", "phone", "external_id")
        ),
        "granted": (
            "SELECT contact_id, channel, purpose_id, notice_id, collected_at FROM consent_event"
            " WHERE tenant_id = {} AND contact_id IN (SELECT value FROM json_each({}))"
            " AND action = 'granted'"
        ),
    },
}


class Person:
    """One contact as the chunk leaves it: stored or new, with the rows' values."""

    __slots__ = ("id", "existing", "values", "attributes", "email_hash", "phone_hash", "last_activity",
                 "restricted")

    def __init__(self, contact_id: uuid.UUID, existing: bool, values: dict[str, Any],
                 email_hash: Optional[str] = None, phone_hash: Optional[str] = None,
                 restricted: bool = False):
        self.id, self.existing, self.values = contact_id, existing, values
        self.attributes: dict[str, Any] = {}
        self.email_hash, self.phone_hash = email_hash, phone_hash
        self.last_activity: Optional[dt.datetime] = None
        self.restricted = restricted


class Ahead:
    """A chunk worked out before its transaction (`Writer.ahead`); `keys`:
    the (identifier, value) pairs its people hold."""

    __slots__ = ("result", "contacts", "digested", "keys")

    def __init__(self, result: "ChunkResult", contacts: list[tuple[Any, ...]],
                 digested: chain.Unchained, keys: frozenset[tuple[str, str]]):
        self.result, self.contacts, self.digested = result, contacts, digested
        self.keys = keys


class ChunkResult:
    def __init__(self) -> None:
        self.created = self.updated = 0
        self.rejections: list[Rejection] = []


class Writer:
    def __init__(self, ctx: TenantContext, fmt: str, listed: dict[str, set[str]]):
        self.ctx, self.fmt, self.listed = ctx, fmt, listed
        self.engine = "postgres" if db.is_postgres() else "sqlite"
        self.sql = SQL[self.engine]
        self.chain = chain.Chain(ctx.tenant_id)  # SQLite: one chunk at a time
        # PostgreSQL: the first chunks of a run plan again (`replan`).
        self.replans = REPLANNED_CHUNKS if self.engine == "postgres" else 0
        # Whether every chunk so far named nobody stored: working the next one
        # out ahead (`ahead`) pays off only then — a file of known people would
        # have each chunk matched twice.
        self.all_new = True

    @property
    def plan(self) -> str:
        """`, expression…` setting how the chunk's statements are planned
        (PLAN): the runner appends it to the select list or
        RETURNING of its first statement in each chunk's transaction, before
        `prepare` and `write`. Empty on Citus: it refuses a volatile function
        in RETURNING ("non-IMMUTABLE functions are not allowed in the
        RETURNING clause"), and a `set_config` stays on the coordinator
        anyway, while the chunk's statements are planned on the workers."""
        if db.is_citus():
            return ""
        return PLAN[self.engine] + (REFRESH if self.engine == "postgres" else "")

    async def replan(self) -> None:
        """First in the transaction of each of a run's first chunks: the
        connection's cached plans go (`DISCARD PLANS`), the foreign keys'
        checks among them. A plan made while the tenant tables were small —
        an earlier request on the pooled connection, or this import's first
        chunk into tables vacuumed while empty — may look a key up through
        another index on tenant_id (postal code, country, ...) and filter
        the rest: planned with 2,500 contacts it did, and each check then
        read the tenant's whole index (6.3 s of one chunk's state INSERT,
        chunk after chunk, until an ANALYZE). With 5,000 rows and more the
        primary key wins; a chunk's transaction plans again at the price of
        a few milliseconds."""
        if self.replans > 0:
            self.replans -= 1
            await db.execute("DISCARD PLANS")

    async def prepare(self) -> None:
        if self.engine == "sqlite":  # its write transaction holds the file anyway
            await self.chain.lock()
        # PostgreSQL: `_write_postgres` locks the head only once the contacts
        # are in, until the chunk's transaction ends (other writers of the
        # tenant append between chunks, and during the contacts' upsert).

    def _array(self, values: list[Any]) -> Any:
        return values if self.engine == "postgres" else json.dumps([str(v) for v in values])

    async def _existing(self, rows: list[Valid]) -> dict[tuple[str, str], Person]:
        wanted = {name: sorted({r.values[name] for r in rows if r.values.get(name)}) for name in IDENTIFIERS}
        args = []
        for name in IDENTIFIERS:  # each branch takes (tenant, keys)
            args += [self.ctx.tenant_id, self._array(wanted[name])]
        found = await db.fetch(self.sql["match"], *args)
        index: dict[tuple[str, str], Person] = {}
        for row in found:
            person = Person(row["id"], True, {n: row[n] for n in IDENTIFIERS},
                            row["email_hash"], row["phone_hash"], row["restricted_at"] is not None)
            for name in IDENTIFIERS:
                if row[name]:
                    index[(name, row[name])] = person
        return index

    def _resolve(self, row: Valid, keys: list[tuple[str, str]],
                 index: dict[tuple[str, str], Person], new_id: Any) -> Person | Rejection:
        """`keys`: the row's (identifier, value) pairs."""
        matched: dict[int, tuple[str, Person]] = {}
        for key in keys:
            person = index.get(key)
            if person is not None:
                matched.setdefault(id(person), (key[0], person))
        if len(matched) > 1:
            (first, _), (second, _) = list(matched.values())[:2]
            return Rejection(row.line, column_name(self.fmt, second),
                             f"the {first} and the {second} belong to different contacts")
        if not matched:
            return self._needs_phone(row, None) or Person(new_id(), False, {})
        name, person = next(iter(matched.values()))
        if person.restricted:  # GDPR Art. 18: kept, not processed, not overwritten by a file
            return Rejection(row.line, column_name(self.fmt, name),
                             "the person has restricted the processing of their data"
                             " (GDPR Art. 18); lift the restriction first")
        stored = [person.email_hash, person.phone_hash]
        if person.existing and suppression.listed_for(self.listed, stored, None):
            return Rejection(row.line, column_name(self.fmt, name),
                             "the person is on the suppression list")
        for index_, consent in enumerate(row.consents):
            if person.existing and suppression.listed_for(self.listed, stored, consent.channel):
                return Rejection(row.line, column_name(self.fmt, "channel", index_),
                                 f"the person is on the suppression list for the {consent.channel} channel")
        return self._needs_phone(row, person) or person

    def _needs_phone(self, row: Valid, person: Optional[Person]) -> Optional[Rejection]:
        """An SMS or phone consent for someone without a phone number (not on
        the row, not stored, not on an earlier row naming them) would be
        exported with an empty phone: the row is rejected (issue 12 §5)."""
        if row.values.get("phone") or (person is not None and person.values.get("phone")):
            return None
        for index_, consent in enumerate(row.consents):
            if consent.channel in PHONE_CHANNELS:
                return Rejection(row.line, column_name(self.fmt, "channel", index_),
                                 f"a {consent.channel} consent needs the person's phone number")
        return None

    async def ahead(self, rows: list[Valid], now: dt.datetime, step: int) -> "Ahead":
        """What `write` makes of `rows` if none of them names a stored contact
        (every chunk of a first import), worked out before the chunk's
        transaction: the runner does it while the previous chunk is written.
        `step` rows at a time, yielding in between: done in one go it
        held the event loop ~41 ms a chunk, and the chunk being written (the
        import's critical path) could not send its next statement meanwhile."""
        new_id = iter(uuid7s(len(rows))).__next__
        index: dict[tuple[str, str], Person] = {}
        matched: tuple[ChunkResult, dict[uuid.UUID, Person], list[tuple[Person, Consent]]] = (
            ChunkResult(), {}, [])
        known: set[tuple[Any, ...]] = set()
        digested = chain.Unchained()
        for start in range(0, len(rows), step):
            seen = len(matched[2])
            matched = self.match(rows[start:start + step], index, new_id, matched)
            events = self._fresh(matched[2][seen:], known)
            digested.extend(chain.digested([self._event(p, c, now) for p, c in events]))
            await asyncio.sleep(0)
        result, touched, _ = matched
        people = list(touched.values())
        contacts: list[tuple[Any, ...]] = []
        for start in range(0, len(people), step):  # once every person's last activity is known
            contacts += self._contact_records(people[start:start + step], now)
            await asyncio.sleep(0)
        return Ahead(result, contacts, digested, frozenset(index))

    async def write(self, rows: list[Valid], now: dt.datetime,
                    ahead: Optional["Ahead"] = None,
                    behind: Optional[Callable[[], Awaitable[Any]]] = None) -> ChunkResult:
        """`ahead` (PostgreSQL): `self.ahead(rows, now)`, used when the matching
        read finds no stored contact (else the rows are matched here).
        `behind` (PostgreSQL): the chunk before is still being written, in its
        own transaction, and `await behind()` waits for its commit. This chunk's contacts go
        in meanwhile when they are all new (no identifier of that chunk's
        people: the runner checks `Ahead.keys`), and it locks the chain head
        once that commit is done (the ledger keeps the file's order); a chunk
        naming stored people waits for it first, then matches (that chunk's
        people and grants are stored by then)."""
        found = await self._existing(rows)
        if found and behind is not None:
            await behind()
            found, behind = await self._existing(rows), None
        self.all_new = self.all_new and not found
        current: Optional[set[uuid.UUID]] = None  # SQLite: read by the feed
        first: Optional[int] = None  # the change feed's numbers, when taken with the head
        fed = False  # whether the feed went in with the events
        ledger = chain.Chain(self.ctx.tenant_id) if self.engine == "postgres" else self.chain
        if ahead is not None and not found and self.engine == "postgres":
            listeners = await self._listeners(len(ahead.digested))
            sealed, current, first, fed = await self._write_postgres(
                ledger, ahead.contacts, [], now, ahead.digested, fresh=True, behind=behind)
            result = ahead.result
        else:
            result, touched, pending = self.match(rows, found, iter(uuid7s(len(rows))).__next__)
            events = await self._new_events(pending, touched)
            listeners = await self._listeners(len(events))
            contacts = self._contact_records(list(touched.values()), now)
            if self.engine == "postgres":
                sealed, current, _, _ = await self._write_postgres(ledger, contacts, events, now)
            else:
                await db.executemany(self.sql["contacts"], contacts)
                sealed = self.chain.seal([self._event(p, c, now) for p, c in events])
                await db.executemany(chain.INSERT_EVENT, sealed)
                await db.executemany(self.sql["states"], [
                    (i, self.ctx.tenant_id, contact_id, channel, purpose_id, "granted", since, None, event_id, now)
                    for i, contact_id, channel, purpose_id, since, event_id in _states(sealed)
                ])
        if sealed:
            await ledger.save()
            await notify.grants_imported(self.ctx, listeners, sealed, current, first, fed)
        return result

    async def _listeners(self, events: int) -> notify.Listeners:
        """Who hears of the chunk's grants, read before the head's lock (on
        PostgreSQL the chunk holds it until it commits), when it has any."""
        return await notify.import_listeners(self.ctx) if events else notify.Listeners([], {})

    def match(self, rows: list[Valid], index: dict[tuple[str, str], Person], new_id: Any,
              into: Optional[tuple[ChunkResult, dict[uuid.UUID, Person],
                                   list[tuple[Person, Consent]]]] = None,
              ) -> tuple[ChunkResult, dict[uuid.UUID, Person], list[tuple[Person, Consent]]]:
        """People of the chunk's rows (stored ones from `index`, new ones drawn
        from `new_id`): rows naming one person merge into it. `into`: what
        `match` returned for the chunk's rows before these (`ahead` matches a
        chunk a slice at a time), added to."""
        result, touched, pending = into or (ChunkResult(), {}, [])
        for row in rows:
            values = row.values
            keys = [(name, values[name]) for name in IDENTIFIERS if values.get(name)]
            person = self._resolve(row, keys, index, new_id)
            if isinstance(person, Rejection):
                result.rejections.append(person)
                continue
            if person.existing or person.id in touched:
                result.updated += 1
            else:
                result.created += 1
            person.values.update(values)
            if row.attributes:
                person.attributes.update(row.attributes)
            if row.email_hash:
                person.email_hash = row.email_hash
            if row.phone_hash:
                person.phone_hash = row.phone_hash
            for key in keys:
                index[key] = person
            touched[person.id] = person
            pending += [(person, consent) for consent in row.consents]
        return result, touched, pending

    async def _write_postgres(self, ledger: chain.Chain, contacts: list[tuple[Any, ...]],
                              events: list[tuple[Person, Consent]], now: dt.datetime,
                              digested: Optional[chain.Unchained] = None, fresh: bool = False,
                              behind: Optional[Callable[[], Awaitable[Any]]] = None,
                              ) -> tuple[list[tuple[Any, ...]], set[uuid.UUID], Optional[int], bool]:
        """Each INSERT runs while Python prepares the rows of the next (the
        events digested, the states), instead of one waiting for the other.
        The head is locked after the contacts (the tenant's other writers wait
        for a chunk's events, states — but see `fresh` — and change feed
        only), and the events are chained under that lock, once: everything
        else their hashes cover was worked out before (`chain.digested`).
        Chaining them ahead from a head read unlocked, as before, was undone
        whenever another writer appended in between — the one-click
        unsubscribes of the tenant during a big import, before nearly every
        chunk — and then done again under the lock, the import's critical
        path (issue 14: at 200,000 rows with unsubscribes, 4.7 of 18.6 s of
        Python CPU, 2.1 s of it under the lock or behind the chunk before).
        `fresh`: every contact is new, so every state is inserted and leads
        the change feed — its numbers are taken by the statement that locks
        the head (`lock_taking`) — and the states go in before that lock,
        naming events not inserted yet (their reference is checked at
        commit): under the lock only the events and the feed are written, on
        PostgreSQL by one statement (_EVENTS_HEAD_AND_FEED), whose change ids
        and places are drawn before the lock (`changes.placed`).
        Returns the sealed events, the ids of those now leading a consent
        state, the first change number when taken, and whether the feed is
        written.
        `behind`: the chunk before, not committed yet: the head is locked only
        once it has committed — were it locked first, that chunk would wait
        for this one's lock while this one waits for its commit."""
        tenant_id = self.ctx.tenant_id
        await chain.check_event_records()
        upsert = _NEW_CONTACTS if fresh else _CONTACTS
        async with _meanwhile(*upsert.call(contacts, tenant_id, now, now)) if contacts else _idle():
            if digested is None:  # `events` (else `digested`: worked out by `ahead`)
                digested = chain.digested([self._event(p, c, now) for p, c in events])
            states = _states(digested.rows)  # ids and times: not moved by chaining
        if not digested:
            return [], set(), None, False
        current: set[uuid.UUID] = set()  # (fresh: the events the states follow)
        placed = None
        if fresh:  # their events' ids are drawn: checked at commit (deferred key)
            if await db.affected(*_NEW_STATES.call(states, tenant_id, now, staged=True)) != len(states):
                raise RuntimeError("a consent state of a new contact was not inserted")
            current = {state[-1] for state in states}
            if not db.is_citus():  # (Citus: the feed's own statement, notify.grants_imported)
                placed = changes.placed([row[_ID] for row in digested.rows], current)
        if behind is not None:
            await behind()
        first: Optional[int] = None
        if fresh:
            first = await ledger.lock_taking(len(states))
        else:
            await ledger.lock()
        sealed = ledger.chain(digested)
        if fresh:  # the states are in, only the events (and their feed) are left
            feed = None if placed is None or first is None else (*placed, first)
            if await db.affected(*_events(sealed, ledger, feed)) != len(sealed):
                raise RuntimeError("a ledger event of the chunk was not inserted")
            return sealed, current, first, feed is not None
        insert = _events(sealed, ledger)
        async with _meanwhile(*insert, count=True) as inserted:
            arguments = _STATES.call(states, tenant_id, now, staged=True)
        if inserted.result() != len(sealed):
            raise RuntimeError("a ledger event of the chunk was not inserted")
        return sealed, {r["event_id"] for r in await db.fetch(*arguments)}, first, False

    async def _new_events(self, pending: list[tuple[Person, Consent]],
                          touched: dict[uuid.UUID, Person]) -> list[tuple[Person, Consent]]:
        existing_ids = [p.id for p in touched.values() if p.existing]
        known: set[tuple[Any, ...]] = set()
        if existing_ids:
            for r in await db.fetch(self.sql["granted"], self.ctx.tenant_id, self._array(existing_ids)):
                known.add((
                    r["contact_id"], r["channel"], r["purpose_id"],
                    None if r["notice_id"] is None else r["notice_id"],
                    r["collected_at"].astimezone(_UTC),
                ))
        return self._fresh(pending, known)

    def _fresh(self, pending: list[tuple[Person, Consent]],
               known: set[tuple[Any, ...]]) -> list[tuple[Person, Consent]]:
        """The consents of `pending` not `known` to the ledger, each once; the
        people's last activity follows them."""
        events = []
        for person, c in pending:
            key = (person.id, c.channel, c.purpose_id, c.notice_id, c.collected_at)
            if key in known:
                continue
            known.add(key)
            events.append((person, c))
            if person.last_activity is None or person.last_activity < c.collected_at:
                person.last_activity = c.collected_at
        return events

    def _event(self, person: Person, c: Consent, now: dt.datetime) -> chain.NewEvent:
        return chain.NewEvent(
            tenant_id=self.ctx.tenant_id, contact_id=person.id, channel=c.channel,
            purpose_id=c.purpose_id, action="granted", method=c.method,
            collected_at=c.collected_at, recorded_at=now, notice_id=c.notice_id,
            source=c.source, actor=self.ctx.actor, ip=c.ip, user_agent=c.user_agent,
        )

    def _contact_records(self, people: list[Person], now: dt.datetime) -> list[tuple[Any, ...]]:
        tenant_id, given = self.ctx.tenant_id, CONTACT_COLUMNS[2:13]
        return [
            (
                p.id, tenant_id, *map(p.values.get, given),
                json.dumps(p.attributes) if p.attributes else "{}", p.values.get("source"),
                now, now, p.last_activity, p.email_hash, p.phone_hash,
            )
            for p in people
        ]


@contextlib.asynccontextmanager
async def _meanwhile(insert: str, *args: Any, count: bool = False) -> AsyncIterator["asyncio.Future[Any]"]:
    """Sends `insert` and lets the caller work while PostgreSQL runs it;
    leaving waits for it (also on an error: the connection must be free for
    the rollback). Yields the statement's future (its rows once left;
    `count`: how many it wrote)."""
    running = asyncio.ensure_future(db.affected(insert, *args) if count else db.fetch(insert, *args))
    await asyncio.sleep(0)  # the statement leaves before Python goes on
    try:
        yield running
    finally:
        await running


@contextlib.asynccontextmanager
async def _idle() -> AsyncIterator[None]:
    yield


_ID, _CONTACT, _CHANNEL, _PURPOSE, _COLLECTED = map(
    chain.EVENT_COLUMNS.index, ("id", "contact_id", "channel", "purpose_id", "collected_at"))
_STATE_KEY = operator.itemgetter(_CONTACT, _CHANNEL, _PURPOSE)
_STATE_OF = operator.itemgetter(_CONTACT, _CHANNEL, _PURPOSE, _COLLECTED, _ID)


def _states(sealed: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The state each contact × channel × purpose is left in by the sealed
    events, under a new id (STAGED_STATE_COLUMNS): the last grant in ledger
    order, where on equal times the later event wins."""
    latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    kept_for = latest.get
    for row in sealed:
        key = _STATE_KEY(row)
        kept = kept_for(key)
        if kept is None or kept[_COLLECTED] <= row[_COLLECTED]:
            latest[key] = row
    return [(i, *_STATE_OF(row)) for i, row in zip(uuid7s(len(latest)), latest.values())]
