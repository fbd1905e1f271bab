"""The audience of a segment for one channel and purpose: contacts whose consent
is valid now (granted, not expired), who match the rules, minus the exclusions
hook. Count and export read this one query, so they cannot disagree.

It starts from consent_state's (tenant_id, channel, purpose_id, status,
contact_id) index: the rows come out in contact order for keyset batches, and
each joins its contact by primary key within the same tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid

from consent import tracking
from consent.segments import rules as r
from consent.segments.compile import Sql, compile_rule
from consent.segments.exclusions import exclusions_sql
from consent.tokens import LINK_TOKEN_SQL
from optinbase import spreadsheet

_FROM = (
    " FROM consent_state s"
    " JOIN contact c ON c.tenant_id = s.tenant_id AND c.id = s.contact_id"
    " WHERE s.tenant_id = {} AND c.tenant_id = {} AND s.channel = {} AND s.purpose_id = {}"
    " AND s.status = 'granted' AND (s.expires_at IS NULL OR s.expires_at > {})"
)

EXPORT_COLUMNS = (
    "id", "email", "phone", "external_id", "first_name", "last_name", "locale", "country",
    "postal_code", "birth_year", "gender", "language", "attributes", "source", "created_at",
    "last_activity_at",
)
# E-mail exports say whether the person allows individual tracking
# (consent.tracking); text, so both engines and COPY write the same cell.
# One placeholder (now), before the audience's own arguments.
TRACKING_SQL = (f"CASE WHEN s.channel = 'email' AND {tracking.granted_sql('s.tenant_id', 'c.id')}"
                " THEN 'true' ELSE 'false' END")
# Free text a person or an import wrote: neutralised for spreadsheets in CSV.
TEXT_COLUMNS = ("email", "phone", "external_id", "first_name", "last_name", "locale",
                "country", "postal_code", "gender", "language", "source")
_SELECT_EXPORT = "SELECT " + ", ".join(f"c.{name}" for name in EXPORT_COLUMNS) + (
    f", s.since AS consent_since, {TRACKING_SQL} AS tracking_allowed"
)
# Before every uuid in both engines' orderings (uuid bytes; lower-case hex text).
FIRST_ID = uuid.UUID(int=0)


def _audience(
    rule: r.Rule, *, tenant_id: uuid.UUID, channel: str, purpose_id: uuid.UUID,
    now: dt.datetime, postgres: bool,
) -> Sql:
    matches = compile_rule(rule, postgres=postgres, tenant_id=tenant_id, now=now)
    allowed = exclusions_sql(tenant_id, channel, postgres=postgres)
    return Sql(
        f"{_FROM} AND ({matches.text}) AND ({allowed.text})",
        (tenant_id, tenant_id, channel, purpose_id, now, *matches.args, *allowed.args),
    )


def count_query(rule: r.Rule, **where) -> Sql:
    audience = _audience(rule, **where)
    return Sql("SELECT count(*) AS n" + audience.text, audience.args)


def export_query(rule: r.Rule, **where) -> Sql:
    """One keyset batch; each run appends `batch_args(after, limit)`.

    The lower bound is given on both sides of the join: with it on consent_state
    only, PostgreSQL's merge join walks contact from the tenant's first id on
    every batch, and an export turns quadratic."""
    audience = _audience(rule, **where)
    return Sql(
        _SELECT_EXPORT + audience.text
        + " AND s.contact_id > {} AND c.id > {} ORDER BY s.contact_id LIMIT {}",
        (where["now"], *audience.args),
    )


def batch_args(after: object, limit: int) -> tuple:
    return (after, after, limit)


# --- the whole audience as CSV, made by PostgreSQL (COPY … TO STDOUT) ---------
#
# Same columns, header and values as the batched CSV export (export.encode_csv)
# with no per-row Python: the links' tokens are computed in SQL
# (tokens.LINK_TOKEN_SQL, byte for byte what consent.tokens makes), times are
# ISO 8601 as Python's isoformat writes them (the caller sets TimeZone UTC and
# DateStyle ISO for its transaction: '2025-01-02 03:04:05+00' becomes
# '2025-01-02T03:04:05+00:00'). No ORDER BY: PostgreSQL may split the work
# between processes. The token is computed once per row, in the inner query
# (OFFSET 0 keeps it from being inlined into both links).


def _iso(column: str) -> str:
    return f"replace({column}::text, ' ', 'T') || ':00'"


def _column(name: str) -> str:
    if name in _TIMES:
        return _iso(f"c.{name}") + f" AS {name}"
    if name in TEXT_COLUMNS:  # no cell a spreadsheet would run (optinbase.spreadsheet)
        return spreadsheet.sql_cell(f"c.{name}") + f" AS {name}"
    return f"c.{name}"


_TIMES = ("created_at", "last_activity_at")
_COPY_INNER = "SELECT " + ", ".join(_column(name) for name in EXPORT_COLUMNS) + (
    f", {_iso('s.since')} AS consent_since, {TRACKING_SQL} AS tracking_allowed,"
    f" {LINK_TOKEN_SQL.replace('{id}', 'c.id')} AS token")
_COPY_OUTER = (
    "SELECT " + ", ".join(f"a.{name}" for name in (*EXPORT_COLUMNS, "consent_since"))
    + ", {} || a.token AS unsubscribe_url, {} || a.token AS preferences_url,"
    " a.tracking_allowed FROM ({}) a"
)


def export_copy_query(rule: r.Rule, *, public_url: str, **where) -> Sql:
    """The CSV export as one query for COPY (PostgreSQL)."""
    audience = _audience(rule, **where)
    inner = _COPY_INNER + audience.text + " OFFSET 0"
    return Sql(
        _COPY_OUTER.replace("({}) a", f"({inner}) a"),
        (f"{public_url}/p/unsubscribe/", f"{public_url}/p/preferences/", where["now"],
         *audience.args),
    )
