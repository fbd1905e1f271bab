"""Property: on random contacts, attributes and consent states in a fresh tenant,
the compiled SQL selects exactly the contacts the Python evaluator selects, for
random rule trees — and the audience count adds exactly "consent valid now" —
on SQLite and on PostgreSQL (application role, RLS on)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import schemas
from consent.schemas import PHONE_CHANNELS
from consent.ledger import chain
from consent.segments import audience
from consent.segments import rules as r
from consent.segments.compile import compile_rule
from optinbase import db
from tenants import service
from tests.consent.segments.evaluator import effective_status, matches
from tests.factories import as_owner, unique_slug

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALPHABET = "aB7é_'\U0010ffff"
TEXT = st.text(ALPHABET, max_size=4)
TIMES = st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2027, 12, 31), timezones=st.just(UTC))
YEARS = st.integers(1900, 2100)
KEYS = ["a", "b", "c"]
CHANNELS = list(schemas.CHANNELS[:2])  # two of the product's channels tell them apart
PURPOSES = ["p1", "p2"]
STATUSES = ["granted", "pending", "withdrawn", "refused", "expired"]
ATTRIBUTE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0]), TEXT,
    st.lists(st.integers(0, 2), max_size=2),
)
STRING_COLUMNS = [name for name, kind in r.COLUMNS.items() if kind == r.STRING]
UNIQUE = ("email", "phone", "external_id")


@st.composite
def contacts(draw, index: int) -> dict:
    contact: dict = {"id": uuid.uuid4(), "created_at": draw(TIMES),
                     "last_activity_at": draw(st.none() | TIMES),
                     "birth_year": draw(st.none() | YEARS),
                     "attributes": draw(st.dictionaries(st.sampled_from(KEYS), ATTRIBUTE_VALUES))}
    for name in STRING_COLUMNS:
        value = draw(st.none() | (st.text(ALPHABET, max_size=2) if name == "country" else TEXT))
        contact[name] = f"{value}#{index}" if value is not None and name in UNIQUE else value
    return contact


def state_strategy():
    expiry = st.none() | st.sampled_from([NOW - dt.timedelta(days=3), NOW + dt.timedelta(days=3)])
    return st.tuples(st.sampled_from(STATUSES), expiry)


def _values(pool: list, kind: str) -> st.SearchStrategy:
    fresh = {r.STRING: TEXT, r.INTEGER: YEARS, r.TIMESTAMP: TIMES}[kind]
    return st.sampled_from(pool) | fresh if pool else fresh


@st.composite
def field_rules(draw, people: list[dict]) -> dict:
    field = draw(st.sampled_from([*r.COLUMNS, *(f"attributes.{k}" for k in KEYS), "attributes.d"]))
    kind = r.COLUMNS.get(field, r.ATTRIBUTE)
    ops = ["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between", "exists"]
    if kind == r.ATTRIBUTE:
        value_kind = draw(st.sampled_from(["string", "number", "boolean"]))
        if value_kind == "boolean":
            ops = ["eq", "ne", "in", "not_in", "exists"]
        if value_kind == "string":
            ops.append("prefix")
        stored = [c["attributes"].get(field.split(".")[1]) for c in people]
        strategy = {
            "string": st.sampled_from([v for v in stored if isinstance(v, str)] or ["a"]) | TEXT,
            "number": st.sampled_from([1, 2, 0.5, -1.5, 3]) | st.integers(-3, 3),
            "boolean": st.booleans(),
        }[value_kind]
    else:
        if kind == r.STRING:
            ops.append("prefix")
        strategy = _values([c[field] for c in people if c[field] is not None], kind)
    op = draw(st.sampled_from(ops))
    if op == "exists":
        return {"type": "field", "field": field, "op": op, "value": draw(st.booleans())}
    if op == "prefix":
        value = draw(strategy.filter(lambda v: isinstance(v, str) and v))
    elif op in ("in", "not_in"):
        value = draw(st.lists(strategy, min_size=1, max_size=3))
    elif op == "between":
        value = [draw(strategy), draw(strategy)]
    else:
        value = draw(strategy)
    return {"type": "field", "field": field, "op": op, "value": _json(value)}


def _json(value):
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.datetime) else value


def rule_trees(people: list[dict]) -> st.SearchStrategy:
    leaves = st.one_of(
        field_rules(people),
        st.builds(lambda c, p, s: {"type": "consent", "channel": c, "purpose": p, "status": s},
                  st.sampled_from(CHANNELS), st.sampled_from([*PURPOSES, "unknown"]),
                  st.sampled_from(STATUSES)),
        st.builds(lambda d: {"type": "activity", "within_days": d}, st.integers(1, 3000)),
    )
    return st.recursive(leaves, lambda children: st.one_of(
        st.builds(lambda xs: {"type": "all", "rules": xs}, st.lists(children, max_size=3)),
        st.builds(lambda xs: {"type": "any", "rules": xs}, st.lists(children, max_size=3)),
        st.builds(lambda x: {"type": "not", "rule": x}, children),
    ), max_leaves=6)


async def _load(tenant_id: uuid.UUID, people: list[dict], states: dict) -> dict[str, uuid.UUID]:
    """Bulk inserts in one tenant transaction: purposes, contacts, consent states."""
    purpose_ids = {key: uuid.uuid4() for key in PURPOSES}
    async with db.tenant_transaction(tenant_id):
        for key, purpose_id in purpose_ids.items():
            await db.execute(
                "INSERT INTO purpose (id, tenant_id, key, name, description, legal_basis,"
                " dpv_purpose, retired, created_at) VALUES ({}, {}, {}, {}, '', 'consent', '',"
                " FALSE, {})", purpose_id, tenant_id, key, key, NOW)
        if people:
            columns = ["id", "tenant_id", *STRING_COLUMNS, "birth_year", "attributes",
                       "created_at", "updated_at", "last_activity_at"]
            rows = "(" + ", ".join(["{}"] * len(columns)) + ")"
            args = [value for c in people for value in (
                c["id"], tenant_id, *(c[n] for n in STRING_COLUMNS), c["birth_year"],
                json.dumps(c["attributes"]), c["created_at"], c["created_at"],
                c["last_activity_at"])]
            await db.execute(f"INSERT INTO contact ({', '.join(columns)}) VALUES "
                             + ", ".join([rows] * len(people)), *args)
        if states:
            keys = list(states)
            events = await chain.append([
                chain.NewEvent(tenant_id=tenant_id, contact_id=contact_id, channel=channel,
                                purpose_id=purpose_ids[purpose], action="granted", method="api",
                                collected_at=NOW, recorded_at=NOW)
                for contact_id, channel, purpose in keys])
            args = [value for (contact_id, channel, purpose), event in zip(keys, events)
                    for value in (uuid.uuid4(), tenant_id, contact_id, channel,
                                  purpose_ids[purpose], states[(contact_id, channel, purpose)][0],
                                  NOW, states[(contact_id, channel, purpose)][1], event["id"], NOW)]
            await db.execute(
                "INSERT INTO consent_state (id, tenant_id, contact_id, channel, purpose_id, status,"
                " since, expires_at, event_id, updated_at) VALUES "
                + ", ".join(["({}, {}, {}, {}, {}, {}, {}, {}, {}, {})"] * len(keys)), *args)
    return purpose_ids


async def _ids(text: str, *args) -> set[str]:
    return {str(row["id"]) for row in await db.fetch(text, *args)}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_compiled_sql_selects_what_python_selects(backend, data):
    people = data.draw(st.integers(0, 10).flatmap(
        lambda n: st.tuples(*(contacts(i) for i in range(n)))), label="contacts")
    people = list(people)
    states = data.draw(st.dictionaries(
        st.tuples(st.sampled_from([c["id"] for c in people] or [None]),
                  st.sampled_from(CHANNELS), st.sampled_from(PURPOSES)),
        state_strategy(), max_size=20) if people else st.just({}), label="states")
    raw = data.draw(rule_trees(people), label="rules")
    rule = r.parse(raw)
    async with as_owner():
        tenant = await service.create_tenant(unique_slug("prop"), "Property", country="FR")
    purpose_ids = await _load(tenant.id, people, states)
    postgres = db.is_postgres()

    matches_sql = compile_rule(rule, postgres=postgres, tenant_id=tenant.id, now=NOW)
    expected = {str(c["id"]) for c in people if matches(rule, c, states, NOW)}
    async with db.tenant_transaction(tenant.id, write=False):
        selected = await _ids(
            f"SELECT c.id FROM contact c WHERE c.tenant_id = {{}} AND ({matches_sql.text})",
            tenant.id, *matches_sql.args)
        assert selected == expected, raw
        channel = data.draw(st.sampled_from(CHANNELS))
        purpose = data.draw(st.sampled_from(PURPOSES))
        where = dict(tenant_id=tenant.id, channel=channel, purpose_id=purpose_ids[purpose],
                     now=NOW, postgres=postgres)
        count = audience.count_query(rule, **where)
        allowed = {str(c["id"]) for c in people if matches(rule, c, states, NOW)
                   and effective_status(states.get((c["id"], channel, purpose), ("none", None)),
                                        NOW) == "granted"
                   and (channel not in PHONE_CHANNELS or c.get("phone"))}  # nobody to text
        assert await db.fetchval(count.text, *count.args) == len(allowed)
        export = audience.export_query(rule, **where)
        rows = await _ids(export.text, *export.args, *audience.batch_args(audience.FIRST_ID, 1000))
        assert rows == allowed
