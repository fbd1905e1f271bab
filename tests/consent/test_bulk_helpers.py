"""The fast paths bulk imports take must give exactly what the plain ones give."""

import datetime as dt
import ipaddress
import json
import random
import time
import uuid
import zoneinfo

from hypothesis import given
from hypothesis import strategies as st

from consent.imports.validate import normal_ip
from consent.ledger import chain
from optinbase.ids import uuid4s, uuid7s


def test_fast_time_is_canonical_time():
    rng = random.Random(4)
    zones = [dt.timezone.utc, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))]
    for _ in range(5000):
        value = dt.datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                            rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                            rng.choice([0, rng.randint(0, 999_999)]), tzinfo=rng.choice(zones))
        try:
            expected = chain.canonical_time(value)
        except OverflowError:
            continue
        assert chain._fast_time(value) == expected


def test_sealed_rows_verify_with_the_verifier_functions():
    tenant, purpose = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    events = [
        chain.NewEvent(tenant_id=tenant, contact_id=uuid.uuid4(), channel="email",
                        purpose_id=purpose, action="granted", method="import",
                        collected_at=now - dt.timedelta(days=i), recorded_at=now,
                        notice_id=uuid.uuid4() if i % 2 else None, source='say "é"\n',
                        actor="cli:import", ip="192.0.2.1" if i % 3 else None,
                        user_agent="Mozilla/5.0 ☃" if i % 2 else None)
        for i in range(50)
    ]
    _assert_chained(chain.seal(events, 7, "ab" * 32), 8, "ab" * 32)


def _assert_chained(rows, first_seq, prev):
    for seq, row in enumerate(rows, first_seq):
        event = dict(zip(chain.EVENT_COLUMNS, row))
        assert event["seq"] == seq and event["prev_hash"] == prev
        assert event["chain_format"] == 2
        assert event["personal_digest"] == chain.personal_digest(
            event["pii_salt"], event["contact_id"], event["ip"], event["user_agent"],
            event["source"])
        assert event["hash"] == chain.event_hash(event)
        prev = event["hash"]


def test_events_digested_ahead_verify_after_whichever_head_they_are_chained():
    """An import digests a chunk's events before it locks the chain head, not
    knowing where the head will be (another writer may append meanwhile):
    chained after one head or another, the rows verify, with the same ids,
    salts and digests."""
    tenant, purpose = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    events = chain.digested([chain.NewEvent(
        tenant_id=tenant, contact_id=uuid.uuid4(), channel="email", purpose_id=purpose,
        action="granted", method="import", collected_at=now - dt.timedelta(days=i),
        recorded_at=now, source="https://shop.example/?email=a@b.c", ip="192.0.2.7")
        for i in range(20)])
    here = chain.chained(events, 3, "cd" * 32)
    there = chain.chained(events, 4, "ef" * 32)
    _assert_chained(here, 4, "cd" * 32)
    _assert_chained(there, 5, "ef" * 32)
    kept = [chain.EVENT_COLUMNS.index(c) for c in ("id", "contact_id", "pii_salt",
                                                   "personal_digest", "source")]
    assert [[r[i] for i in kept] for r in there] == [[r[i] for i in kept] for r in here]
    assert all(a[-2] != b[-2] for a, b in zip(here, there))  # every hash moved


def test_events_digested_in_slices_chain_as_one_batch():
    """An import digests a chunk a slice at a time, yielding between slices
    (write.Writer.ahead): the slices put together chain into one chain, the
    links across the seams and events of other notices and times included."""
    tenant, purpose = uuid.uuid4(), uuid.uuid4()
    now = dt.datetime.now(dt.timezone.utc)
    events = chain.Unchained()
    for part in range(3):
        events.extend(chain.digested([chain.NewEvent(
            tenant_id=tenant, contact_id=uuid.uuid4(), channel=("email", "sms")[i % 2],
            purpose_id=purpose, action="granted", method="import", collected_at=now,
            recorded_at=now + dt.timedelta(seconds=part), notice_id=uuid.uuid4() if i % 3 else None,
            actor=None if part else 'cli:import "é"') for i in range(7)]))
    assert len(events) == 21
    _assert_chained(chain.chained(events, 9, "ab" * 32), 10, "ab" * 32)
    _assert_chained(chain.chained(events, 0, chain.GENESIS), 1, chain.GENESIS)


def test_events_recorded_a_fold_apart_hash_as_the_verifier_does():
    """Two times of one zone a fold apart (02:30 twice when Berlin leaves
    summer time) are equal to Python, and hash alike, yet are different
    instants with different texts in the hashed payload: each event's hash
    is the verifier's."""
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    tenant, purpose = uuid.uuid4(), uuid.uuid4()
    events = [chain.NewEvent(
        tenant_id=tenant, contact_id=uuid.uuid4(), channel="email", purpose_id=purpose,
        action="granted", method="api", collected_at=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc),
        recorded_at=dt.datetime(2020, 10, 25, 2, 30, fold=fold, tzinfo=berlin)) for fold in (0, 1)]
    assert events[0].recorded_at == events[1].recorded_at
    _assert_chained(chain.seal(events, 0, chain.GENESIS), 1, chain.GENESIS)


@given(st.lists(st.one_of(st.none(), st.text()), max_size=16))
def test_json_list_is_json_dumps(values):
    assert chain._json_list(values, ", ") == json.dumps(values)
    assert chain._json_list(values, ",") == json.dumps(values, separators=(",", ":"))


def test_normal_ip_matches_ipaddress():
    samples = ["192.0.2.1", "0.0.0.0", "255.255.255.255", " 10.1.2.3 ", "2001:DB8::1",
               "::ffff:192.0.2.1", "fe80::1%eth0"]
    for text in samples:
        assert normal_ip(text) == str(ipaddress.ip_address(text.strip()))
    for bad in ["256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "a.b.c.d", ""]:
        try:
            ipaddress.ip_address(bad)
        except ValueError:
            try:
                normal_ip(bad)
            except ValueError:
                continue
            raise AssertionError(f"{bad!r} accepted")


def test_bulk_uuids_are_random_version_4():
    ids = uuid4s(1000)
    assert len(set(ids)) == 1000
    assert all(isinstance(i, uuid.UUID) and i.version == 4 and i.variant == uuid.RFC_4122
               for i in ids)
    assert uuid.UUID(str(ids[0])) == ids[0]


def _millis(value: uuid.UUID) -> int:
    return int.from_bytes(value.bytes[:6], "big")


def test_bulk_uuids_version_7_are_time_ordered_and_random():
    before = time.time_ns() // 1_000_000
    ids = uuid7s(10_000)
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 10_000
    assert all(isinstance(i, uuid.UUID) and i.version == 7 and i.variant == uuid.RFC_4122
               for i in ids)
    assert uuid.UUID(str(ids[0])) == ids[0]
    # RFC 9562: the first 48 bits are the Unix time in milliseconds.
    assert before <= _millis(ids[0]) == _millis(ids[-1]) <= after
    # Monotonic within a batch, and in PostgreSQL's order too (bytes order).
    assert ids == sorted(ids)
    assert [i.bytes for i in ids] == sorted(i.bytes for i in ids)
    # The 74 bits after the timestamp, version and variant are random: each
    # of them takes both values across the batch.
    bits = [(i.int >> 64 & 0xFFF) << 62 | i.int & (1 << 62) - 1 for i in ids]
    assert len(set(bits)) == 10_000
    for bit in range(74):
        ones = sum(value >> bit & 1 for value in bits)
        assert 4_500 < ones < 5_500, bit
    # A later batch sorts after an earlier one once the clock has moved on.
    time.sleep(0.002)
    later = uuid7s(3)
    assert later == sorted(later) and ids[-1] < later[0]
    assert uuid7s(0) == [] and len(uuid7s(1)) == 1

