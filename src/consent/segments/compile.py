"""Rules → one parameterised SQL condition on `contact c`.

Only fixed text is written into the SQL: column names from `rules.COLUMNS`, the
operators below, and placeholders `{}` (db.compile_sql makes them `$n` or `?`).
Every value — including attribute keys and purpose keys — is a bound argument,
appended in the order its placeholder appears.

Semantics, the same on both engines (and in the tests' Python evaluator):
* a condition on a missing value is false (`ne`, `not_in` included);
* `not` is the complement: NULL from a missing value counts as false, hence
  `NOT COALESCE(..., FALSE)`;
* strings order by code point (`COLLATE "C"` on PostgreSQL, SQLite's BINARY);
* an attribute matches only stored values of the rule value's JSON kind
  (string, number, boolean), so "5" never equals 5.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, NamedTuple

import msgspec

from consent.segments import rules as r


class Sql(NamedTuple):
    text: str
    args: tuple[Any, ...] = ()


TRUE = Sql("TRUE")

_COMPARE = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_PG_JSON_KIND = {"string": "'string'", "number": "'number'", "boolean": "'boolean'"}
_PG_JSON_CAST = {"string": "", "number": "::numeric", "boolean": "::boolean"}
_SQLITE_JSON_KIND = {"string": "('text')", "number": "('integer', 'real')",
                     "boolean": "('true', 'false')"}


def compile_rule(
    rule: r.Rule, *, postgres: bool, tenant_id: uuid.UUID, now: dt.datetime
) -> Sql:
    compiler = _Compiler(postgres, tenant_id, now)
    text = compiler.rule(rule)
    return Sql(text, tuple(compiler.args))


class _Compiler:
    def __init__(self, postgres: bool, tenant_id: uuid.UUID, now: dt.datetime):
        self.pg = postgres
        self.tenant_id = tenant_id
        self.now = now
        self.args: list[Any] = []

    def p(self, value: Any) -> str:
        """A placeholder bound to `value`; call in the order the text reads."""
        self.args.append(value)
        return "{}"

    def rule(self, rule: r.Rule) -> str:
        if isinstance(rule, (r.All, r.AnyOf)):
            joint, empty = (" AND ", "TRUE") if isinstance(rule, r.All) else (" OR ", "FALSE")
            return "(" + joint.join(self.rule(x) for x in rule.rules) + ")" if rule.rules else empty
        if isinstance(rule, r.Not):
            return f"NOT COALESCE({self.rule(rule.rule)}, FALSE)"
        if isinstance(rule, r.Field):
            return self.field(rule)
        if isinstance(rule, r.Consent):
            return self.consent(rule)
        if isinstance(rule, r.Activity):
            return f"c.last_activity_at >= {self.p(self.now - dt.timedelta(days=rule.within_days))}"
        raise TypeError(f"not a rule: {rule!r}")  # pragma: no cover - parse() forbids it

    # --- fields ------------------------------------------------------------------

    def field(self, rule: r.Field) -> str:
        key = r.attribute_key(rule.field)
        value = rule.value
        if rule.op == "exists":
            if key is not None:
                kind = self.json_type(key)
                return f"COALESCE({kind}, 'null') {'<>' if value else '='} 'null'"
            return f"c.{rule.field} IS {'NOT ' if value else ''}NULL"
        sample = value[0] if isinstance(value, (list, tuple)) else value
        textual = isinstance(sample, str)

        def expr(ordered: bool = False) -> str:
            # A fresh copy each time: attribute expressions carry their own arguments.
            text = self.attribute(key, r.kind_of(sample)) if key else f"c.{rule.field}"
            return f"{text} COLLATE \"C\"" if ordered and textual and self.pg else text

        op = rule.op
        if op in _COMPARE:
            return f"{expr(op not in ('eq', 'ne'))} {_COMPARE[op]} {self.p(value)}"
        if op == "between":
            return f"({expr(True)} >= {self.p(value[0])} AND {expr(True)} <= {self.p(value[1])})"
        if op in ("in", "not_in"):
            if self.pg:
                array_cast = "::numeric[]" if key and r.kind_of(sample) == "number" else ""
                test = "= ANY" if op == "in" else "<> ALL"
                return f"{expr()} {test}({self.p(list(value))}{array_cast})"
            subject = expr()  # before the list: arguments follow the text's order
            marks = ", ".join(self.p(v) for v in value)
            return f"{subject} {'IN' if op == 'in' else 'NOT IN'} ({marks})"
        if op == "prefix":
            upper = successor(value)
            low = f"{expr(True)} >= {self.p(value)}"
            return f"({low} AND {expr(True)} < {self.p(upper)})" if upper else low
        raise ValueError(f"unknown op {op!r}")  # pragma: no cover - parse() forbids it

    def json_type(self, key: str) -> str:
        if self.pg:
            return f"jsonb_typeof(c.attributes -> {self.p(key)}::text)"
        return f"json_type(c.attributes, {self.p(_sqlite_path(key))})"

    def attribute(self, key: str, kind: str) -> str:
        """The attribute's value when its JSON kind is `kind`, else NULL."""
        if self.pg:
            test = f"{self.json_type(key)} = {_PG_JSON_KIND[kind]}"
            value = f"(c.attributes ->> {self.p(key)}::text){_PG_JSON_CAST[kind]}"
        else:
            test = f"{self.json_type(key)} IN {_SQLITE_JSON_KIND[kind]}"
            value = f"json_extract(c.attributes, {self.p(_sqlite_path(key))})"
        return f"(CASE WHEN {test} THEN {value} END)"

    # --- consent ---------------------------------------------------------------

    def consent(self, rule: r.Consent) -> str:
        head = (
            "EXISTS (SELECT 1 FROM consent_state cs"
            " WHERE cs.tenant_id = c.tenant_id AND cs.contact_id = c.id"
            f" AND cs.channel = {self.p(rule.channel)}"
            " AND cs.purpose_id = (SELECT p.id FROM purpose p"
            f" WHERE p.tenant_id = {self.p(self.tenant_id)} AND p.key = {self.p(rule.purpose)})"
        )
        # The status a reader sees now: a grant past its expiry is expired.
        if rule.status == "granted":
            status = ("cs.status = 'granted'"
                      f" AND (cs.expires_at IS NULL OR cs.expires_at > {self.p(self.now)})")
        elif rule.status == "expired":
            status = (f"(cs.status = 'expired' OR (cs.status = 'granted'"
                      f" AND cs.expires_at <= {self.p(self.now)}))")
        else:
            status = f"cs.status = {self.p(rule.status)}"
        return f"{head} AND {status}{self.consent_history(rule)})"

    def consent_history(self, rule: r.Consent) -> str:
        """Re-consent conditions: the version of the notice the current state's
        event names (0 without one), and the state's age."""
        text = ""
        if rule.notice_version is not None:
            for op, bound in msgspec.structs.asdict(rule.notice_version).items():
                if bound is not None:  # a fresh subquery each: its own arguments, in order
                    # The event joined on the state's own tenant, not a
                    # parameter: Citus takes the subquery, nested in an
                    # EXISTS, for a join of shards only so ("complex joins
                    # are only supported when … joined on their
                    # distribution columns", seen on a real cluster).
                    text += (
                        " AND COALESCE((SELECT n.version FROM consent_event e JOIN notice n"
                        " ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
                        " WHERE e.tenant_id = cs.tenant_id AND e.id = cs.event_id),"
                        f" 0) {_COMPARE[op]} {self.p(bound)}"
                    )
        if rule.older_than_days is not None:
            text += f" AND cs.since < {self.p(self.now - dt.timedelta(days=rule.older_than_days))}"
        return text


def _sqlite_path(key: str) -> str:
    return f'$."{key}"'  # key matched ^[A-Za-z0-9_]{1,63}$; still bound, never inlined


def successor(prefix: str) -> str | None:
    """The least string above every string starting with `prefix` (code point order),
    or None when there is none: `prefix` matches `[prefix, successor)`."""
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if point == 0xD800:  # surrogates are not characters
            point = 0xE000
        if point <= 0x10FFFF:
            return "".join(chars) + chr(point)
    return None
