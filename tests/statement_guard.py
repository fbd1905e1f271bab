"""Citus's routing rules, checked on the statements the suite really sends.

On Citus a statement runs on one worker only when every tenant table it reads
or writes is pinned to one tenant: `tenant_id = $n` with a plain parameter (or
a constant), directly or through `a.tenant_id = b.tenant_id` to a pinned table
(PostgreSQL's own parser, pglast, reads the statements). `violations(sql, args)`
names what breaks that:

* a tenant table with no such predicate ("no tenant_id = $n"), including
  `tenant_id = (SELECT $n)` (a planner trick Citus cannot push down) and
  `tenant_id = ANY($n)`;
* `FOR UPDATE` on a tenant table not pinned to one tenant;
* two tenant tables pinned to different tenants in one statement, or one
  spanning several (`tenant_id IN ($1, $2)`), compared on the bound values:
  `$1` and `$4` carrying the same tenant are one tenant.

`db.statement_recorder` feeds it every statement sent on the pool's
connections (tests/api/conftest.py switches it on for the API suite).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

import pglast
from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType, SetOperation

# Tenant tables: sharded by tenant_id on Citus (tenant_id NOT NULL). The catalog
# test (tests/optinbase/test_citus_rules.py) checks this list against the schema.
TENANT_TABLES = frozenset({
    "audit_event", "change_log", "consent_event", "consent_state", "contact", "data_subject_request", "form_version",
    "idempotency_record", "import_job", "inbound_endpoint", "inbound_event", "ledger_head", "notice", "outbox_message",
    "phone_proof", "contact_attempt", "reconsent_campaign", "reconsent_request",
    "purpose", "request_event", "segment", "suppression", "webhook_endpoint",
})


@dataclass(eq=False)
class _Entry:
    """One table in a statement's FROM (or the target of an INSERT/UPDATE/DELETE)."""

    table: str
    tenant: bool
    locked: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class _Scope:
    parent: Optional["_Scope"]
    by_name: dict[str, _Entry] = field(default_factory=dict)
    ctes: frozenset = frozenset()

    def resolve(self, qualifier: Optional[str]) -> Optional[_Entry]:
        scope: Optional[_Scope] = self
        while scope is not None:
            if qualifier is not None:
                if qualifier in scope.by_name:
                    return scope.by_name[qualifier]
            elif scope.by_name:  # an unqualified name belongs to the nearest FROM
                tenant = {id(e): e for e in scope.by_name.values() if e.tenant}
                return next(iter(tenant.values())) if len(tenant) == 1 else None
            scope = scope.parent
        return None

    def cte_names(self) -> frozenset:
        names, scope = set(), self
        while scope is not None:
            names |= scope.ctes
            scope = scope.parent
        return frozenset(names)


class _Analysis:
    """Tenant tables of one statement and what pins each (union-find of
    table entries, parameters and constants joined by `=` in AND position)."""

    def __init__(self, args: Sequence[Any]):
        self.args = args
        self.entries: list[_Entry] = []
        self.parent: dict[Any, Any] = {}

    # -- union-find -----------------------------------------------------------
    def _find(self, x: Any) -> Any:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def _union(self, a: Any, b: Any) -> None:
        self.parent[self._find(a)] = self._find(b)

    # -- terms ----------------------------------------------------------------
    def _term(self, node: Any, scope: _Scope) -> Any:
        """What an operand of `=` is, when it can pin a tenant: a tenant_id
        column (its table entry), a parameter's value or a constant."""
        while isinstance(node, ast.TypeCast):
            node = node.arg
        if isinstance(node, ast.ParamRef):
            index = node.number - 1
            value = self.args[index] if 0 <= index < len(self.args) else f"${node.number}"
            return ("value", str(value))
        if isinstance(node, ast.A_Const):
            return ("value", repr(node.val))
        if isinstance(node, ast.ColumnRef):
            names = [f.sval for f in node.fields if isinstance(f, ast.String)]
            if names and names[-1] == "tenant_id" and len(names) <= 2:
                entry = scope.resolve(names[0] if len(names) == 2 else None)
                if entry is not None:
                    return ("entry", id(entry))
        return None

    def _tenant_entry(self, node: Any, scope: _Scope) -> Optional[_Entry]:
        term = self._term(node, scope)
        if term and term[0] == "entry":
            return next(e for e in self.entries if id(e) == term[1])
        return None

    # -- expressions ----------------------------------------------------------
    def where(self, expr: Any, scope: _Scope) -> None:
        """A WHERE / ON clause: equalities in AND position pin; anything else is
        only searched for sub-queries."""
        if expr is None:
            return
        if isinstance(expr, ast.BoolExpr) and expr.boolop == BoolExprType.AND_EXPR:
            for arg in expr.args:
                self.where(arg, scope)
            return
        if isinstance(expr, ast.A_Expr) and expr.kind == A_Expr_Kind.AEXPR_IN:
            entry = self._tenant_entry(expr.lexpr, scope)
            terms = [self._term(item, scope) for item in expr.rexpr or ()]
            if entry is not None and terms and all(terms):
                for term in terms:  # `tenant_id IN ($1)`: one tenant; more values may span
                    self._union(("entry", id(entry)), term)
                return
        if isinstance(expr, ast.A_Expr) and expr.name and expr.name[-1].sval == "=":
            left, right = self._term(expr.lexpr, scope), self._term(expr.rexpr, scope)
            if expr.kind == A_Expr_Kind.AEXPR_OP and left and right:
                self._union(left, right)
                return
            for side, other in ((expr.lexpr, expr.rexpr), (expr.rexpr, expr.lexpr)):
                entry = self._tenant_entry(side, scope)
                if entry is None:
                    continue
                if expr.kind == A_Expr_Kind.AEXPR_OP_ANY:
                    entry.notes.append("tenant_id = ANY(...) spans tenants")
                elif isinstance(other, ast.SubLink):
                    entry.notes.append("tenant_id = (SELECT ...) is not a plain parameter")
        self.search(expr, scope)

    def search(self, node: Any, scope: _Scope) -> None:
        """Sub-queries anywhere in an expression are statements of their own
        scope (correlated names resolve outwards)."""
        if isinstance(node, ast.SubLink):
            self.search(node.testexpr, scope)
            self.query(node.subselect, scope)
            return
        if isinstance(node, (list, tuple)):
            for item in node:
                self.search(item, scope)
            return
        if isinstance(node, ast.Node):
            for name in node:
                value = getattr(node, name)
                if isinstance(value, (ast.Node, list, tuple)):
                    self.search(value, scope)

    # -- FROM -----------------------------------------------------------------
    def relation(self, node: ast.RangeVar, scope: _Scope) -> _Entry:
        entry = _Entry(node.relname, node.relname in TENANT_TABLES and not node.schemaname
                       and node.relname not in scope.cte_names())
        self.entries.append(entry)
        scope.by_name[node.alias.aliasname if node.alias else node.relname] = entry
        return entry

    def from_item(self, node: Any, scope: _Scope) -> None:
        if isinstance(node, ast.RangeVar):
            self.relation(node, scope)
        elif isinstance(node, ast.JoinExpr):
            self.from_item(node.larg, scope)
            self.from_item(node.rarg, scope)
            self.where(node.quals, scope)
        elif isinstance(node, ast.RangeSubselect):
            self.query(node.subquery, scope)
        else:
            self.search(node, scope)

    # -- statements -----------------------------------------------------------
    def _with(self, with_clause: Any, scope: _Scope) -> _Scope:
        if with_clause is None:
            return scope
        inner = _Scope(scope, ctes=frozenset(c.ctename for c in with_clause.ctes))
        for cte in with_clause.ctes:
            self.query(cte.ctequery, inner)
        return inner

    def query(self, node: Any, parent: _Scope) -> Optional[_Scope]:
        if isinstance(node, ast.SelectStmt):
            return self.select(node, parent)
        if isinstance(node, ast.InsertStmt):
            self.insert(node, parent)
        elif isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
            self.modify(node, parent)
        return None

    def select(self, node: ast.SelectStmt, parent: _Scope) -> _Scope:
        outer = self._with(node.withClause, parent)
        if node.op != SetOperation.SETOP_NONE:
            self.query(node.larg, outer)
            self.query(node.rarg, outer)
            return outer
        scope = _Scope(outer)
        for item in node.fromClause or ():
            self.from_item(item, scope)
        self.where(node.whereClause, scope)
        self.search([node.targetList, node.havingClause, node.valuesLists,
                     node.sortClause, node.groupClause], scope)
        if node.lockingClause:
            for entry in scope.by_name.values():
                entry.locked = True
        return scope

    def insert(self, node: ast.InsertStmt, parent: _Scope) -> None:
        scope = self._with(node.withClause, parent)
        target = self.relation(node.relation, _Scope(scope))
        columns = [c.name for c in node.cols or ()]
        source = node.selectStmt
        position = columns.index("tenant_id") if "tenant_id" in columns else None
        if isinstance(source, ast.SelectStmt) and source.valuesLists:
            for row in source.valuesLists:
                self.search(row, scope)
                term = self._term(row[position], scope) if position is not None else None
                if term:
                    self._union(("entry", id(target)), term)
        elif source is not None:
            inner = self.query(source, scope)
            targets = getattr(source, "targetList", None) or ()
            if inner is not None and position is not None and position < len(targets):
                value = targets[position].val
                term = self._term(value, inner)
                if term:
                    self._union(("entry", id(target)), term)
                elif isinstance(value, ast.SubLink):
                    target.notes.append("tenant_id = (SELECT ...) is not a plain parameter")
        if node.onConflictClause is not None:
            self.search([node.onConflictClause.targetList, node.onConflictClause.whereClause],
                        scope)

    def modify(self, node: Any, parent: _Scope) -> None:
        """UPDATE (its FROM and SET) or DELETE (its USING)."""
        scope = _Scope(self._with(node.withClause, parent))
        self.relation(node.relation, scope)
        for item in getattr(node, "fromClause", None) or getattr(node, "usingClause", None) or ():
            self.from_item(item, scope)
        self.where(node.whereClause, scope)
        self.search(getattr(node, "targetList", None), scope)

    # -- verdict --------------------------------------------------------------
    def problems(self) -> list[str]:
        tenants_of: dict[Any, set[str]] = {}
        for key in list(self.parent):
            if key[0] == "value":
                tenants_of.setdefault(self._find(key), set()).add(key[1])
        found: list[str] = []
        pinned: dict[str, set[str]] = {}
        for entry in self.entries:
            if not entry.tenant:
                continue
            tenants = tenants_of.get(self._find(("entry", id(entry))), set())
            if len(tenants) > 1:
                found.append(f"{entry.table}: spans {len(tenants)} tenants")
            if tenants:
                pinned[entry.table] = tenants
                continue
            why = f" ({'; '.join(entry.notes)})" if entry.notes else ""
            found.append(f"{entry.table}: no tenant_id = $n{why}")
            if entry.locked:
                found.append(f"{entry.table}: FOR UPDATE across tenants")
        every = set().union(*pinned.values()) if pinned else set()
        if len(every) > 1 and all(len(t) == 1 for t in pinned.values()):
            found.append("joins two tenants: " + ", ".join(sorted(pinned)))
        return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=4096)
def _parsed(sql: str) -> tuple:
    """The statements of `sql`, parsed once per text: the suite sends the same
    few hundred texts thousands of times (the analysis only reads the trees)."""
    return pglast.parse_sql(sql)


def violations(sql: str, args: Sequence[Any] = ()) -> list[str]:
    """What in `sql` (sent with `args`) breaks Citus's single-tenant routing."""
    try:
        statements = _parsed(sql)
    except pglast.parser.ParseError as exc:
        return [f"unparsable statement: {exc}"]
    found: list[str] = []
    for raw in statements:
        analysis = _Analysis(args)
        analysis.query(raw.stmt, _Scope(None))
        found += analysis.problems()
    return found


def statement_violations(sql: str, args: Any) -> list[str]:
    """As `violations`, for what asyncpg logs: `args` is one argument tuple, or a
    list of them for executemany (each row is checked)."""
    if args and isinstance(args, list) and all(isinstance(a, (tuple, list)) for a in args):
        rows: Iterable[Sequence[Any]] = args
    else:
        rows = [args or ()]
    found: list[str] = []
    for row in rows:
        for problem in violations(sql, row):
            if problem not in found:
                found.append(problem)
    return found
