"""A plain Python reading of the segment language, written from API.md and the
semantics in consent/segments/compile.py, independently of the SQL: the
property tests hold the compiled SQL to it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from consent.segments import rules as r

MISSING = object()


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"  # null, arrays, objects: no comparison matches them


def matches(rule: r.Rule, contact: dict, states: dict, now: dt.datetime) -> bool:
    if isinstance(rule, r.All):
        return all(matches(x, contact, states, now) for x in rule.rules)
    if isinstance(rule, r.AnyOf):
        return any(matches(x, contact, states, now) for x in rule.rules)
    if isinstance(rule, r.Not):
        return not matches(rule.rule, contact, states, now)
    if isinstance(rule, r.Activity):
        seen = contact["last_activity_at"]
        return seen is not None and seen >= now - dt.timedelta(days=rule.within_days)
    if isinstance(rule, r.Consent):
        state = states.get((contact["id"], rule.channel, rule.purpose))
        return state is not None and effective_status(state, now) == rule.status
    return _field(rule, contact)


def effective_status(state: tuple[str, Any], now: dt.datetime) -> str:
    status, expires_at = state
    if status == "granted" and expires_at is not None and expires_at <= now:
        return "expired"
    return status


def _field(rule: r.Field, contact: dict) -> bool:
    key = r.attribute_key(rule.field)
    value = contact["attributes"].get(key, MISSING) if key else contact[rule.field]
    if rule.op == "exists":
        return (value is not MISSING and value is not None) == rule.value
    if value is MISSING or value is None:
        return False
    wanted = rule.value
    sample = wanted[0] if isinstance(wanted, (list, tuple)) else wanted
    if key and json_kind(value) != json_kind(sample):
        return False
    op = rule.op
    if op == "eq":
        return value == wanted
    if op == "ne":
        return value != wanted
    if op == "in":
        return any(value == w for w in wanted)
    if op == "not_in":
        return all(value != w for w in wanted)
    if op == "lt":
        return value < wanted
    if op == "lte":
        return value <= wanted
    if op == "gt":
        return value > wanted
    if op == "gte":
        return value >= wanted
    if op == "between":
        return wanted[0] <= value <= wanted[1]
    if op == "prefix":
        return value.startswith(wanted)
    raise AssertionError(op)
