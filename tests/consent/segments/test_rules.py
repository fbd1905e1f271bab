"""The segment language without a database: what parses, what is refused and
with which path, and the SQL text never carrying a value."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from consent.segments import rules as r
from consent.segments.compile import compile_rule, successor
from optinbase.errors import Invalid

NOW = dt.datetime(2026, 11, 29, tzinfo=dt.timezone.utc)
EXAMPLE = {"type": "all", "rules": [
    {"type": "field", "field": "country", "op": "in", "value": ["FR", "BE"]},
    {"type": "field", "field": "birth_year", "op": "between", "value": [1980, 1999]},
    {"type": "field", "field": "attributes.interest", "op": "eq", "value": "running"},
    {"type": "consent", "channel": "sms", "purpose": "promotions", "status": "granted"},
    {"type": "activity", "within_days": 90},
    {"type": "not", "rule": {"type": "field", "field": "postal_code", "op": "prefix",
                             "value": "75"}},
]}


def _path(raw) -> str:
    with pytest.raises(Invalid) as caught:
        r.parse(raw)
    [error] = caught.value.extra["errors"]
    assert caught.value.detail.startswith(error["field"])
    return error["field"]


def test_the_api_example_parses_and_round_trips():
    rule = r.parse(EXAMPLE)
    assert r.to_json(rule) == EXAMPLE
    assert r.purposes_named(rule) == [("rules[3].purpose", "promotions")]


def test_timestamps_become_datetimes_and_stay_rfc3339():
    rule = r.parse({"type": "field", "field": "created_at", "op": "gte",
                    "value": "2026-01-02T03:04:05+02:00"})
    assert rule.value == dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.timezone.utc)
    assert r.to_json(rule)["value"].startswith("2026-01-02T0")


@pytest.mark.parametrize(("raw", "path"), [
    ({"type": "nope"}, "type"),
    ({"rules": []}, "rules"),
    ({"type": "not", "rule": {"type": "any", "rules": [{"type": "x"}]}}, "rule.rules[0].type"),
    ({"type": "all", "rules": [{"type": "all", "rules": [
        {"type": "field", "field": "gender", "op": "eq", "value": 1}]}]}, "rules[0].rules[0].value"),
    ({"type": "field", "field": "birth_year", "op": "in", "value": [1990, "x"]}, "value[1]"),
    ({"type": "field", "field": "attributes.vip", "op": "lt", "value": True}, "value"),
    ({"type": "field", "field": "attributes.", "op": "exists"}, "field"),
    ({"type": "field", "field": "country", "op": "exists", "value": "yes"}, "value"),
    ({"type": "consent", "channel": "email", "purpose": "Bad Key"}, "purpose"),
    ({"type": "consent", "channel": "email", "purpose": "n", "status": "maybe"}, "status"),
    ({"type": "field", "field": "attributes.score", "op": "eq", "value": [1]}, "value"),
])
def test_refusals_name_the_bad_node(raw, path):
    assert _path(raw) == path


def test_trees_are_bounded():
    deep: dict = {"type": "activity", "within_days": 1}
    for _ in range(r.MAX_DEPTH):
        deep = {"type": "not", "rule": deep}
    assert _path(deep) == ".".join(["rule"] * r.MAX_DEPTH)
    wide = {"type": "any", "rules": [{"type": "activity", "within_days": 1}] * r.MAX_NODES}
    assert _path(wide) == f"rules[{r.MAX_NODES - 1}]"


@pytest.mark.parametrize("postgres", [False, True])
def test_values_are_never_in_the_sql_text(postgres):
    evil = "x'); DROP TABLE contact; --"
    raw = {"type": "any", "rules": [
        {"type": "field", "field": "country", "op": "eq", "value": evil},
        {"type": "field", "field": "postal_code", "op": "prefix", "value": evil},
        {"type": "field", "field": "attributes.k", "op": "in", "value": [evil]},
        {"type": "consent", "channel": "email", "purpose": "newsletter"},
    ]}
    sql = compile_rule(r.parse(raw), postgres=postgres, tenant_id=uuid.uuid4(), now=NOW)
    assert "DROP" not in sql.text and "newsletter" not in sql.text and "'k'" not in sql.text
    assert sql.text.count("{}") == len(sql.args)
    assert evil in sql.args and "newsletter" in sql.args


def test_successor_bounds_every_prefix():
    assert successor("75") == "76"
    assert successor("a\U0010ffff") == "b"
    assert successor("\U0010ffff") is None
    assert successor("\ud7ff") == "\ue000"
    for prefix in ("75", "a\U0010ffff", "é"):
        upper = successor(prefix)
        assert prefix + "\U0010ffff" * 3 < upper and not upper.startswith(prefix)
