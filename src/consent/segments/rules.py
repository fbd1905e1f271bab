"""The segment language: JSON rules decoded by msgspec into a tagged union, then
checked node by node so every refusal names the path of the bad node, relative
to the root rule (`rules[1].value`; the root itself is `rules`).

`parse` returns the same tree with each `field` value converted to the type its
column holds (e.g. RFC 3339 strings to datetimes), ready for `compile`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, Meta

from consent.schemas import Channel, Key
from optinbase import moments
from optinbase.errors import Invalid

MAX_DEPTH = 12
MAX_NODES = 200
MAX_LIST = 1000

Op = Literal["eq", "ne", "in", "not_in", "lt", "lte", "gt", "gte", "between", "prefix", "exists"]
Status = Literal["granted", "pending", "withdrawn", "refused", "expired"]


class _Node(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    pass


class All(_Node, tag="all"):
    rules: list[Rule]


class AnyOf(_Node, tag="any"):
    rules: list[Rule]


class Not(_Node, tag="not"):
    rule: Rule


class Field(_Node, tag="field"):
    field: str
    op: Op
    value: Any = UNSET


Version = Annotated[int, Meta(ge=0, le=1_000_000)]


class VersionCondition(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True,
                       kw_only=True):
    """Comparisons with the version of the notice a consent was given under
    (all given must hold): `{"lt": 3}`, `{"gte": 2, "lt": 4}`."""

    eq: Union[Version, None] = None
    ne: Union[Version, None] = None
    lt: Union[Version, None] = None
    lte: Union[Version, None] = None
    gt: Union[Version, None] = None
    gte: Union[Version, None] = None


class Consent(_Node, tag="consent"):
    channel: Channel
    purpose: Key
    status: Status = "granted"
    # Re-consent (README "Segments"): the notice version the consent was given
    # under (a consent recorded without a notice counts as version 0), and its age.
    notice_version: Union[VersionCondition, None] = None
    older_than_days: Union[Annotated[int, Meta(ge=0, le=36_500)], None] = None


class Activity(_Node, tag="activity"):
    within_days: Annotated[int, Meta(ge=1, le=36_500)]


Rule = Union[All, AnyOf, Not, Field, Consent, Activity]

# Typed contact columns a rule may name, by the kind of value they hold. The
# compiler writes only these names into SQL; everything else is a bound value.
STRING, INTEGER, TIMESTAMP, ATTRIBUTE = "string", "integer", "timestamp", "attribute"
COLUMNS = {
    "country": STRING, "postal_code": STRING, "birth_year": INTEGER, "gender": STRING,
    "language": STRING, "locale": STRING, "source": STRING, "email": STRING,
    "phone": STRING, "external_id": STRING, "first_name": STRING, "last_name": STRING,
    "created_at": TIMESTAMP, "last_activity_at": TIMESTAMP,
}
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z0-9_]{1,63}$")
ORDERED = {"lt", "lte", "gt", "gte", "between"}

Text = Annotated[str, Meta(max_length=500, pattern=r"^[^\x00]*$")]  # PostgreSQL text has no NUL
Number = Union[Annotated[int, Meta(ge=-(2**53), le=2**53)], float]
SCALAR = {
    STRING: Text,
    INTEGER: Annotated[int, Meta(ge=0, le=9999)],
    TIMESTAMP: Annotated[dt.datetime, Meta(tz=True)],
    ATTRIBUTE: Union[Text, Number, bool],
}


def attribute_key(field: str) -> str | None:
    """`attributes.<key>` → key (validated), else None."""
    if field.startswith("attributes."):
        key = field[len("attributes."):]
        return key if ATTRIBUTE_KEY.match(key) else None
    return None


def kind_of(value: Any) -> str:
    """The JSON kind of an attribute value: the compiler matches stored values of that kind only."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


class _Fault(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path, self.message = path, message


_AT = re.compile(r"^(.*) - at `\$(.*)`$")
_UNKNOWN = re.compile(r"unknown field `([^`]*)`")


def parse(raw: Any) -> Rule:
    """Decodes and checks a rule tree; raises Invalid naming the bad node."""
    try:
        rule = msgspec.convert(raw, Rule)
        return _check(rule, "", 1, [0])
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        message, where = (match.group(1), match.group(2)) if match else (str(exc), "")
        unknown = _UNKNOWN.search(message)
        if unknown:  # name the stray key itself, as `rules[0].colour`
            where = f"{where}.{unknown.group(1)}"
        raise _invalid(where.lstrip("."), message) from None
    except _Fault as fault:
        raise _invalid(fault.path, fault.message) from None


def _invalid(path: str, message: str) -> Invalid:
    path = path or "rules"
    if "x00" in message:  # msgspec quotes the NUL-excluding regex; say it plainly
        message = "Expected `str` without NUL characters"
    return Invalid(f"{path}: {message}", errors=[{"field": path, "message": message}])


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(rule: Rule, path: str, depth: int, nodes: list[int]) -> Rule:
    nodes[0] += 1
    if depth > MAX_DEPTH:
        raise _Fault(path, f"rules nest at most {MAX_DEPTH} levels deep")
    if nodes[0] > MAX_NODES:
        raise _Fault(path, f"a segment has at most {MAX_NODES} rules")
    if isinstance(rule, (All, AnyOf)):
        children = [
            _check(child, f"{_join(path, 'rules')}[{i}]", depth + 1, nodes)
            for i, child in enumerate(rule.rules)
        ]
        return msgspec.structs.replace(rule, rules=children)
    if isinstance(rule, Not):
        return Not(rule=_check(rule.rule, _join(path, "rule"), depth + 1, nodes))
    if isinstance(rule, Field):
        return _check_field(rule, path)
    if isinstance(rule, Consent) and rule.notice_version is not None and all(
            v is None for v in msgspec.structs.astuple(rule.notice_version)):
        raise _Fault(_join(path, "notice_version"), "give at least one of eq, ne, lt, lte, gt, gte")
    return rule


def _check_field(rule: Field, path: str) -> Field:
    kind = COLUMNS.get(rule.field)
    if kind is None:
        if attribute_key(rule.field) is None:
            raise _Fault(_join(path, "field"), (
                f"unknown field {rule.field!r}: use a contact column "
                f"({', '.join(sorted(COLUMNS))}) or attributes.<key> (letters, digits, _)"
            ))
        kind = ATTRIBUTE
    at = _join(path, "value")
    if rule.op == "prefix" and kind not in (STRING, ATTRIBUTE):
        raise _Fault(_join(path, "op"), f"prefix applies to text fields, not {rule.field}")
    if rule.op == "exists":
        value = True if rule.value is UNSET else _convert(rule.value, bool, at)
        return msgspec.structs.replace(rule, value=value)
    if rule.value is UNSET:
        raise _Fault(at, f"is required for {rule.op}")
    value = _convert(rule.value, _shape(rule.op, kind), at)
    if kind == TIMESTAMP:  # stored as given, converted to UTC at every count
        for index, moment in enumerate(value if isinstance(value, (list, tuple)) else [value]):
            problem = moments.range_problem(moment)
            if problem:
                raise _Fault(f"{at}[{index}]" if isinstance(value, (list, tuple)) else at, problem)
    if kind == ATTRIBUTE:
        kinds = {kind_of(v) for v in (value if isinstance(value, (list, tuple)) else [value])}
        if len(kinds) > 1:
            raise _Fault(at, "mixes strings, numbers and booleans")
        if "boolean" in kinds and rule.op not in ("eq", "ne", "in", "not_in"):
            raise _Fault(at, f"{rule.op} needs a string or a number, not a boolean")
        if rule.op == "prefix" and kinds != {"string"}:
            raise _Fault(at, "prefix needs a string")
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, float) and not math.isfinite(v):
                raise _Fault(at, "numbers must be finite")
    return msgspec.structs.replace(rule, value=value)


def _shape(op: str, kind: str) -> Any:
    scalar = SCALAR[kind]
    if op in ("in", "not_in"):
        return Annotated[list[scalar], Meta(min_length=1, max_length=MAX_LIST)]
    if op == "between":
        return tuple[scalar, scalar]
    if op == "prefix":
        return Annotated[str, Meta(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]
    return scalar


def _convert(value: Any, shape: Any, at: str) -> Any:
    try:
        return msgspec.convert(value, shape)
    except msgspec.ValidationError as exc:
        match = _AT.match(str(exc))
        message, inner = (match.group(1), match.group(2)) if match else (str(exc), "")
        raise _Fault(at + inner, message) from None


def purposes_named(rule: Rule, path: str = "") -> list[tuple[str, str]]:
    """(path, purpose key) of every consent condition, for checking they exist."""
    if isinstance(rule, (All, AnyOf)):
        return [
            found
            for i, child in enumerate(rule.rules)
            for found in purposes_named(child, f"{_join(path, 'rules')}[{i}]")
        ]
    if isinstance(rule, Not):
        return purposes_named(rule.rule, _join(path, "rule"))
    if isinstance(rule, Consent):
        return [(_join(path, "purpose"), rule.purpose)]
    return []


_OPTIONAL = ("notice_version", "older_than_days")


def to_json(rule: Rule) -> Any:
    """The stored form: plain JSON values (RFC 3339 strings, lists); a consent
    condition's optional re-consent fields only when given."""
    return _drop_unset(msgspec.json.decode(msgspec.json.encode(rule)))


def _drop_unset(node: Any) -> Any:
    if isinstance(node, list):
        return [_drop_unset(x) for x in node]
    if isinstance(node, dict):
        return {k: _drop_unset(v) for k, v in node.items()
                if not (k in _OPTIONAL and v is None)}
    return node
