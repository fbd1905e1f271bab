"""The consent ledger: an append-only, per-tenant hash chain.

Each event's hash covers its non-personal fields, a digest of its personal
fields, and the previous event's hash. Personal fields (contact id, IP, user
agent and, since chain format 2, `source`) are digested together with a random
per-event salt that is itself personal: erasure blanks them all, the stored
digest stays, the chain still verifies, and nothing left in the row can be
brute-forced back to an IP.

Chain formats (the `chain_format` column, fixed when the event is written):
1. the first release: `source` is hashed in clear with the event, so it can
   never be blanked — yet clients wrote e-mail addresses into it (free text,
   page URLs with `?email=`). Old events keep verifying as they were written.
2. `source` is personal: part of the personal digest, out of the event's own
   field list, and the format number leads the hashed payload (so a format-2
   event cannot be passed off as a format-1 one, or back). A page URL never
   enters the ledger with its query string or fragment (`page_url`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets
import uuid
from urllib.parse import urlsplit, urlunsplit
from typing import Any, Optional

import msgspec

from optinbase import bulk, db, moments
from optinbase.ids import uuid7s

# How far ahead of our clock a client's "when the person acted" may be.
CLOCK_SKEW = dt.timedelta(minutes=5)


def acted_at_problem(moment: dt.datetime, now: dt.datetime) -> Optional[str]:
    """Why `moment` cannot be when the person acted (naive, off the calendar in
    UTC — optinbase.moments — or in the future), or None."""
    problem = moments.range_problem(moment)
    if problem:
        return problem
    if moment > now + CLOCK_SKEW:
        return "is in the future"
    return None

GENESIS = "0" * 64
_UTC = dt.timezone.utc


def canonical_time(value: dt.datetime) -> str:
    return value.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return canonical_time(value)
    return str(value)


CURRENT_FORMAT = 2


def page_url(url: Optional[str]) -> Optional[str]:
    """A web address as proof of where consent was given: scheme, host and
    path only. Query strings and fragments carry what forms and campaigns put
    there (`?email=…`, tracking ids), credentials (`user:password@`) are no proof
    of anything, and the ledger keeps its sources for years."""
    if not url or ("?" not in url and "#" not in url and "@" not in url):
        return url
    return _without_query(url)


@functools.lru_cache(maxsize=4096)  # an import repeats its few sources a million times
def _without_query(url: str) -> str:
    if not url.lower().startswith(("http://", "https://")):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # an unparsable address (a bad IPv6 host): cut as text
        return url.split("#", 1)[0].split("?", 1)[0]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def personal_digest(salt: str, contact_id: Any, ip: Any, user_agent: Any,
                    *more: Any) -> str:
    """`more`: format 2 digests the source too (personal_fields)."""
    payload = json.dumps([salt, _text(contact_id), _text(ip), _text(user_agent),
                          *(_text(v) for v in more)])
    return hashlib.sha256(payload.encode()).hexdigest()


HASHED_FIELDS = (
    "id", "tenant_id", "seq", "channel", "purpose_id", "action", "notice_id", "method",
    "source", "collected_at", "recorded_at", "actor", "personal_digest", "prev_hash",
)
# Format 2: the source left for the personal digest; the format number leads.
HASHED_FIELDS_2 = tuple(name for name in HASHED_FIELDS if name != "source")


def chain_format(event: Any) -> int:
    """An event's format; events read from before the column existed are format 1."""
    try:
        value = event["chain_format"]
    except (KeyError, IndexError):
        return 1
    return int(value or 1)


def personal_fields(event: Any) -> list[Any]:
    fields = [event["contact_id"], event["ip"], event["user_agent"]]
    return fields + [event["source"]] if chain_format(event) >= 2 else fields


def event_hash(event: Any) -> str:
    if chain_format(event) >= 2:
        values = ["2", *(_text(event[name]) for name in HASHED_FIELDS_2)]
    else:
        values = [_text(event[name]) for name in HASHED_FIELDS]
    payload = json.dumps(values, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class NewEvent(msgspec.Struct):
    """What a caller decides; the ledger fills in seq, digests and hashes."""

    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    channel: str
    purpose_id: uuid.UUID
    action: str
    method: str
    collected_at: dt.datetime
    recorded_at: dt.datetime
    notice_id: Optional[uuid.UUID] = None
    source: Optional[str] = None
    actor: Optional[str] = None
    ip: Optional[str] = None
    user_agent: Optional[str] = None


EVENT_COLUMNS = (
    "id", "tenant_id", "seq", "contact_id", "channel", "purpose_id", "action", "notice_id",
    "method", "source", "collected_at", "recorded_at", "actor", "ip", "user_agent", "pii_salt",
    "personal_digest", "prev_hash", "hash", "chain_format",
)
# Positions of a stored row's chain fields (EVENT_COLUMNS order), filled in by `chained`.
_SEQ, _PREV, _HASH = map(EVENT_COLUMNS.index, ("seq", "prev_hash", "hash"))
INSERT_EVENT = (
    f"INSERT INTO consent_event ({', '.join(EVENT_COLUMNS)})"
    f" VALUES ({', '.join(['{}'] * len(EVENT_COLUMNS))})"
)


def _json_list(values: list[Optional[str]], separator: str) -> str:
    """`json.dumps(values)` of a list of strings and Nones, byte for byte (ASCII
    escapes), with `separator` between items: ", " as json.dumps by default
    (personal_digest), "," with compact separators (event_hash). A third of
    the time of json's encoder, which builds itself again on every call."""
    return "[" + separator.join(["null" if v is None else _quoted(v) for v in values]) + "]"


_quoted = json.encoder.encode_basestring_ascii


def _fast_time(value: dt.datetime) -> str:
    """`canonical_time`, twice as fast for the usual case (a UTC datetime of a
    four-digit year); anything else takes canonical_time itself."""
    if value.tzinfo is _UTC and value.year >= 1000:
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    return canonical_time(value)


def seal(events: list[NewEvent], seq: int, prev: str) -> list[tuple[Any, ...]]:
    """The stored rows (EVENT_COLUMNS order) of `events` chained after event
    `seq` whose hash is `prev`.

    The same digests and hashes as `personal_digest` and `event_hash` (which
    the verifier uses), computed in tight loops: an import seals a million
    events, and per-field `_text` calls, a fresh JSON encoder per call and
    `uuid4()` were most of its Python time. Texts of values that repeat
    (tenant, purposes, notices, the recording time) are computed once.
    Always the current format (2); page URLs lose their query (page_url).
    """
    return chained(digested(events), seq, prev)


class Unchained:
    """Events ready to be chained (`digested`): their rows (EVENT_COLUMNS
    order, seq 0, no prev_hash nor hash) and, for each, the bytes its hash
    covers before its seq and between its seq and the previous hash. None of
    it depends on the place in the chain, so an import works it out before it
    locks the chain head; under the lock (`chained`) each event costs one
    SHA-256 and its row, about a third of hashing it from its fields."""

    __slots__ = ("rows", "pieces")

    def __init__(self, rows: Optional[list[tuple[Any, ...]]] = None,
                 pieces: Optional[list[tuple[bytes, bytes]]] = None):
        self.rows: list[tuple[Any, ...]] = rows if rows is not None else []
        self.pieces: list[tuple[bytes, bytes]] = pieces if pieces is not None else []

    def __len__(self) -> int:
        return len(self.rows)

    def extend(self, more: "Unchained") -> None:
        self.rows += more.rows
        self.pieces += more.pieces


def digested(events: list[NewEvent]) -> Unchained:
    """`events` with ids, salts and personal digests, and what their hashes
    cover beside their seq and the previous hash: what `seal` does before
    `chained`, and what does not depend on the head.

    The hashed payload is `_json_list(…, ",")` of "2" and HASHED_FIELDS_2,
    built from pieces: what repeats from event to event (tenant, channel,
    purpose, action, notice, method, recording time, actor) is escaped once
    per distinct value; ids, numbers, times and hex digests need no escaping."""
    ids = uuid7s(len(events))
    salts = secrets.token_hex(16 * len(events))
    sha256, quoted = hashlib.sha256, _quoted
    rows = []
    pieces = []
    middles: dict[tuple[Any, ...], tuple[str, str, str]] = {}
    for index, new in enumerate(events):
        salt = salts[32 * index:32 * index + 32]
        source, ip, agent = page_url(new.source), new.ip, new.user_agent
        # `_json_list([salt, contact id, ip, user agent, source], ", ")`,
        # written out: the salt and the id are hex and need no escaping
        digest = sha256((
            f'["{salt}", "{new.contact_id}", {"null" if ip is None else quoted(ip)},'
            f' {"null" if agent is None else quoted(agent)},'
            f' {"null" if source is None else quoted(source)}]').encode()).hexdigest()
        recorded = new.recorded_at
        # (two times of one zone a fold apart are equal, and hash alike, yet
        # are different instants: the fold is part of what the text depends on)
        key = (new.tenant_id, new.channel, new.purpose_id, new.action, new.notice_id,
               new.method, recorded, new.actor, recorded.fold)
        middle = middles.get(key)
        if middle is None:
            middle = middles[key] = _middle(key[:-1])
        event_id = ids[index]
        rows.append((
            event_id, new.tenant_id, 0, new.contact_id, new.channel, new.purpose_id,
            new.action, new.notice_id, new.method, source, new.collected_at,
            recorded, new.actor, ip, agent, salt, digest, None, None, CURRENT_FORMAT,
        ))
        pieces.append((
            f'["2","{event_id}",{middle[0]},"'.encode(),
            f'",{middle[1]},"{_fast_time(new.collected_at)}",{middle[2]},"{digest}",'.encode(),
        ))
    return Unchained(rows, pieces)


def chained(events: Unchained, seq: int, prev: str) -> list[tuple[Any, ...]]:
    """The stored rows of `events` chained after event `seq` whose hash is
    `prev`: their seq, prev_hash and hash filled in."""
    sha256 = hashlib.sha256
    link = b"null]" if prev is None else b'"' + prev.encode() + b'"]'
    rows = []
    for row, (before, after) in zip(events.rows, events.pieces):
        seq += 1
        digest = sha256(before + str(seq).encode() + after + link).hexdigest()
        rows.append(row[:_SEQ] + (seq,) + row[_SEQ + 1:_PREV] + (prev, digest) + row[_HASH + 1:])
        prev = digest
        link = b'"' + digest.encode() + b'"]'
    return rows


def _middle(key: tuple[Any, ...]) -> tuple[str, str, str]:
    """The JSON texts (as `_json_list` writes them) of a row's repeating hashed
    fields: tenant; channel, purpose, action, notice, method; recording time,
    actor — in HASHED_FIELDS_2's order around the seq and the collection time."""
    tenant, channel, purpose, action, notice, method, recorded, actor = (
        None if value is None else _fast_time(value) if isinstance(value, dt.datetime)
        else str(value) for value in key)
    return (_json_list([tenant], "")[1:-1],
            _json_list([channel, purpose, action, notice, method], ",")[1:-1],
            _json_list([recorded, actor], ",")[1:-1])


async def _lock_head(tenant_id: uuid.UUID, query: Optional[str] = None,
                     *args: Any) -> Any:
    """The chain head's row (seq, hash, …), locked until the transaction ends
    (PostgreSQL row lock; SQLite write transactions are already exclusive):
    read with `query` and `args` (by default a plain locking read), the row
    made first when the tenant has none yet."""
    if query is None:
        query = "SELECT seq, hash FROM ledger_head WHERE tenant_id = {}" + db.row_lock()
        args = (tenant_id,)
    row = await db.fetchrow(query, *args)
    if row is None:
        await ensure_head(tenant_id)
        row = await db.fetchrow(query, *args)
    return row


async def ensure_head(tenant_id: uuid.UUID) -> None:
    """The tenant's ledger_head row exists (a new tenant has none until its
    first event or change)."""
    await db.execute(
        "INSERT INTO ledger_head (id, tenant_id, seq, hash) VALUES ({}, {}, 0, {})"
        " ON CONFLICT (tenant_id) DO NOTHING",
        uuid.uuid4(), tenant_id, GENESIS,
    )


class Chain:
    """A tenant's chain, its head locked and read once for the rest of the
    transaction: batches are chained one after the other from the head kept
    here, with no query in between."""

    def __init__(self, tenant_id: uuid.UUID):
        self.tenant_id = tenant_id
        self.seq: Optional[int] = None  # known once locked
        self.prev = ""
        self._stored: Optional[tuple[int, str]] = None  # the head as written, when it was

    async def lock(self) -> None:
        db.require_tenant(self.tenant_id)
        row = await _lock_head(self.tenant_id)
        self.seq, self.prev = int(row["seq"]), row["hash"]

    async def lock_taking(self, changes: int) -> int:
        """`lock`, and in the same statement `changes` numbers of the change
        feed (consent.changes: the head row's `change_seq`), which a chunk of
        an import takes for its new people's states: one round trip under the
        head's lock instead of two. Returns the first of the numbers."""
        db.require_tenant(self.tenant_id)
        row = await _lock_head(self.tenant_id, _LOCK_AND_TAKE, changes, self.tenant_id)
        self.seq, self.prev = int(row["seq"]), row["hash"]
        return int(row["change_seq"]) - changes + 1

    def seal(self, events: list[NewEvent]) -> list[tuple[Any, ...]]:
        """The stored rows (EVENT_COLUMNS order) of `events`, after the last batch."""
        if any(new.tenant_id != self.tenant_id for new in events):
            raise ValueError("one chain, one tenant")
        return self.chain(digested(events))

    def chain(self, events: Unchained) -> list[tuple[Any, ...]]:
        """The stored rows of `events` (`digested` ahead of the lock), after the last batch."""
        if self.seq is None:
            raise RuntimeError("lock the chain before sealing")
        rows = chained(events, self.seq, self.prev)
        if rows:
            self.seq, self.prev = rows[-1][_SEQ], rows[-1][_HASH]
        return rows

    def written(self) -> tuple[int, str]:
        """The head after the last batch, for a statement that writes it with
        that batch's rows: `save` then has nothing left to do."""
        if self.seq is None:
            raise RuntimeError("lock the chain before sealing")
        self._stored = (self.seq, self.prev)
        return self._stored

    def inserting(self, rows: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        """The statement inserting `rows`, sealed by this chain, and its
        arguments: on PostgreSQL with the head moved past them
        (EVENTS_AND_HEAD: `save` has nothing left to do), on Citus without
        (EVENTS). Counted by its command tag (db.affected)."""
        if db.is_citus():
            return EVENTS.sql, self.tenant_id, rows
        return (EVENTS_AND_HEAD, *self.written(), self.tenant_id, self.tenant_id, rows)

    async def append(self, events: list[NewEvent]) -> list[dict[str, Any]]:
        """`events` sealed after the locked head and inserted, the head moved
        past them: on PostgreSQL by one statement (`inserting`), which spares
        every consent change a round trip while it holds the tenant's head;
        on SQLite and Citus as rows of their own (one pipelined statement)
        then the head. Returns the stored rows as mappings."""
        rows = self.seal(events)
        if db.is_postgres() and not db.is_citus():
            await check_event_records()
            await db.execute(*self.inserting(rows))
        else:
            await db.executemany(INSERT_EVENT, rows)
        await self.save()
        return [dict(zip(EVENT_COLUMNS, row)) for row in rows]

    async def save(self) -> None:
        """Writes the head (after the batches' rows are inserted), unless a
        statement wrote it with them (`written`)."""
        if self._stored == (self.seq, self.prev):
            return
        await db.execute(
            "UPDATE ledger_head SET seq = {}, hash = {} WHERE tenant_id = {}",
            self.seq, self.prev, self.tenant_id,
        )


# Rows as one array of consent_event records (arguments: the tenant, then the
# sealed rows themselves; EVENT_COLUMNS must be the table's column order:
# check_event_records): no column taken out of each row in Python, and
# PostgreSQL unnests one array instead of one per column, each into a
# tuplestore of its own (~12 % less of its CPU for an import's chunk, which
# runs under the ledger head's lock). Counted by its command tag (db.affected).
EVENTS = bulk.NewRows(
    f"INSERT INTO consent_event ({', '.join(EVENT_COLUMNS)}) SELECT "
    + ", ".join("{}" if c == "tenant_id" else f"r.{c}" for c in EVENT_COLUMNS)
    + " FROM unnest({}::consent_event[]) AS r")
# The same, moving the chain head past the events (seq, hash, tenant first):
# on PostgreSQL the head is written with the events, one round trip less under
# its lock. Citus gets the head's own UPDATE (Chain.save): it plans a
# data-modifying CTE beside an INSERT … SELECT differently.
EVENTS_AND_HEAD = ("WITH head AS (UPDATE ledger_head SET seq = {}, hash = {}"
                   " WHERE tenant_id = {}) " + EVENTS.text)

_RECORD_ORDER = ("SELECT attname FROM pg_attribute WHERE attrelid = 'consent_event'::regclass"
                 " AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
_records_checked: list[tuple[str, ...]] = []  # the order found, once per process


async def check_event_records() -> None:
    """Refuses to write ledger events as records (EVENTS) into a table
    whose columns are not in EVENT_COLUMNS' order. A record is filled by
    position: in a database whose columns were ever laid out otherwise,
    columns of one type would swap silently — collected_at for recorded_at,
    one hash for another — in rows that can never be changed again. Read
    from the catalog once per process."""
    if not _records_checked:
        _records_checked.append(tuple(r["attname"] for r in await db.fetch(_RECORD_ORDER)))
    if _records_checked[0] != EVENT_COLUMNS:
        raise RuntimeError("consent_event's columns are not in the order the ledger writes"
                           f" them in: {', '.join(_records_checked[0])}")


# Chain.lock_taking: the head row locked and `change_seq` numbers taken.
_LOCK_AND_TAKE = (
    "UPDATE ledger_head SET change_seq = change_seq + {} WHERE tenant_id = {}"
    " RETURNING seq, hash, change_seq"
)


async def append(events: list[NewEvent]) -> list[dict[str, Any]]:
    """Append events of one tenant, in order, inside the caller's transaction."""
    if not events:
        return []
    chain = Chain(events[0].tenant_id)
    await chain.lock()
    return await chain.append(events)


class BrokenCheckpoint(msgspec.Struct, kw_only=True):
    """The published checkpoint the ledger contradicts (or that is not one)."""

    line: int  # its line in the tenant's checkpoint log
    seq: Optional[int]
    hash: Optional[str]
    at: Optional[str]
    reason: str


class VerifyResult(msgspec.Struct):
    ok: bool
    events: int
    first_broken_event: Optional[str] = None
    reason: Optional[str] = None
    checkpoints: int = 0  # published checkpoints checked against the chain
    first_broken_checkpoint: Optional[BrokenCheckpoint] = None


class Walk(msgspec.Struct):
    """What one walk of the chain found: the chain's own verdict, where it
    ends, and the stored hash of each event asked for (checkpoints' seqs)."""

    result: VerifyResult
    last_seq: int
    hashes: dict[int, str]


_VERIFY_BATCH = 5000


async def head(tenant_id: uuid.UUID) -> tuple[int, str]:
    """The chain head as this transaction sees it, unlocked: (0, GENESIS) for a new chain."""
    row = await db.fetchrow("SELECT seq, hash FROM ledger_head WHERE tenant_id = {}", tenant_id)
    return (int(row["seq"]), row["hash"]) if row else (0, GENESIS)


async def event_hash_at(tenant_id: uuid.UUID, seq: int) -> Optional[str]:
    """The stored hash of event `seq` of the tenant's chain (None: no such event)."""
    return await db.fetchval(
        "SELECT hash FROM consent_event WHERE tenant_id = {} AND seq = {}", tenant_id, seq)


async def verify(tenant_id: uuid.UUID) -> VerifyResult:
    """The chain alone (no checkpoints): consent.ledger.verification checks both."""
    return (await walk(tenant_id)).result


async def walk(tenant_id: uuid.UUID, wanted: frozenset[int] = frozenset()) -> Walk:
    """Walks the tenant's chain in seq order, in batches, and names the first
    broken event; keeps the stored hash of the events whose seq is `wanted`.

    Runs in one snapshot (db.require_snapshot): the events and the head are
    read in several statements, and at READ COMMITTED a grant committing
    between them would look like a broken head.

    An event whose own digest or hash does not match its fields is certainly
    the altered one, so it is named before any broken link (a renumbered or
    deleted event also breaks the link of the event after it).
    """
    db.require_tenant(tenant_id)
    db.require_snapshot()
    after_seq, expected_seq, prev, count = 0, 1, GENESIS, 0
    hashes: dict[int, str] = {}
    first_altered: Optional[tuple[str, str]] = None
    first_unlinked: Optional[tuple[str, str]] = None
    while True:
        rows = await db.fetch(
            "SELECT id, tenant_id, seq, contact_id, channel, purpose_id, action, notice_id,"
            " method, source, collected_at, recorded_at, actor, ip, user_agent, pii_salt,"
            " personal_digest, prev_hash, hash, chain_format FROM consent_event"
            " WHERE tenant_id = {} AND seq > {} ORDER BY seq LIMIT {}",
            tenant_id, after_seq, _VERIFY_BATCH,
        )
        for row in rows:
            count += 1
            after_seq = int(row["seq"])
            if after_seq in wanted:
                hashes[after_seq] = row["hash"]
            if first_altered is None:
                if row["pii_salt"] is not None and row["personal_digest"] != personal_digest(
                    row["pii_salt"], *personal_fields(row)
                ):
                    first_altered = (str(row["id"]), "personal fields altered")
                elif event_hash(row) != row["hash"]:
                    first_altered = (str(row["id"]), "event fields altered (hash mismatch)")
            if first_unlinked is None:
                if after_seq != expected_seq:
                    first_unlinked = (
                        str(row["id"]),
                        f"sequence gap: expected event {expected_seq}, found {after_seq}",
                    )
                elif row["prev_hash"] != prev:
                    first_unlinked = (str(row["id"]), "previous-hash link broken")
            prev = row["hash"]
            expected_seq = after_seq + 1
        if len(rows) < _VERIFY_BATCH:
            break
    last_seq = expected_seq - 1
    broken = first_altered or first_unlinked
    if broken:
        return Walk(VerifyResult(False, count, broken[0], broken[1]), last_seq, hashes)
    head_seq, head_hash = await head(tenant_id)
    if head_seq != last_seq or head_hash != prev:
        return Walk(VerifyResult(
            False, count, None,
            f"chain head records event {head_seq} but the ledger ends at {last_seq}",
        ), last_seq, hashes)
    return Walk(VerifyResult(True, count), last_seq, hashes)
