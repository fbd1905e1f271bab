"""The tenant-filtering replacement for Piccolo Admin's CRUD endpoints (wall 2).

Piccolo Admin has no row-level permissions and always builds the stock
`PiccoloCRUD`; `admin.app` swaps this subclass in. Every way in is covered:
list, filters, count (`_apply_filters`), detail and its writes (`detail`), the
`/ids/` dropdowns and their search (`get_ids`), `__readable` (rows are scoped
before readables are joined), post/patch/put/delete (tenant column defaulted
and validated, every foreign key checked against the row's tenant). A foreign
row answers 404 exactly like a missing one; a role that may not write, 403.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional

from piccolo.columns import Column, Text, Varchar
from piccolo.table import Table
from piccolo_api.crud.endpoints import ParamException, Params, PiccoloCRUD
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin import references
from admin.scope import MANAGERS, WRITERS, AdminScope, as_uuid, current_scope

# A write done by a service instead of a raw row update:
# (request, scope, tenant id, row id or None, payload) -> response.
Writer = Callable[[Request, AdminScope, uuid.UUID, Optional[Any], dict], Awaitable[Response]]


@dataclass(frozen=True)
class TablePolicy:
    kind: str = "tenant"  # tenant | tenant_root | agency_root | control
    read_only: bool = False
    write: frozenset[str] = WRITERS
    delete: frozenset[str] = MANAGERS
    create: Optional[Writer] = None  # replaces the raw insert
    update: Optional[Writer] = None  # replaces the raw update (PUT and PATCH)
    deleter: Optional[Writer] = None  # replaces the raw delete


POLICIES: dict[type[Table], TablePolicy] = {}


def not_found() -> Response:
    return Response("The resource doesn't exist", status_code=404)


def forbidden(detail: str = "Your role does not allow this.") -> Response:
    return JSONResponse({"detail": detail}, status_code=403)


def _by_name(model: Any) -> Any:
    """Piccolo names a foreign key's pydantic field by its db column (tenant_id)
    but reads and writes rows by column name (tenant); accept both, or a
    payload could name the tenant twice and only one spelling be checked."""
    if not model.model_config.get("populate_by_name"):
        model.model_config["populate_by_name"] = True
        model.model_rebuild(force=True)
    return model


class ScopedCRUD(PiccoloCRUD):
    def __init__(self, table: type[Table], **kwargs: Any) -> None:
        self.policy = POLICIES.get(table, TablePolicy(kind="control"))
        if self.policy.read_only:
            kwargs["read_only"] = True
        kwargs["max_joins"] = 0  # joins could reach another tenant's rows
        kwargs["allow_bulk_delete"] = False
        super().__init__(table, **kwargs)
        self._aliases = {
            c._meta.db_column_name: c._meta.name
            for c in table._meta.columns
            if c._meta.db_column_name != c._meta.name
        }

    @property
    def pydantic_model(self) -> Any:
        return _by_name(PiccoloCRUD.pydantic_model.fget(self))  # type: ignore[attr-defined]

    @property
    def pydantic_model_optional(self) -> Any:
        return _by_name(PiccoloCRUD.pydantic_model_optional.fget(self))  # type: ignore

    @property
    def pydantic_model_filters(self) -> Any:
        return _by_name(PiccoloCRUD.pydantic_model_filters.fget(self))  # type: ignore

    def _canonical(self, data: dict) -> Optional[dict]:
        """Keys by column name; None when one column is given two different values."""
        out = dict(data)
        for alias, name in self._aliases.items():
            for suffix in ("", "__operator", "__match"):
                if alias + suffix in out:
                    value = out.pop(alias + suffix)
                    if name + suffix in out and str(out[name + suffix]) != str(value):
                        return None
                    out[name + suffix] = value
        return out

    # --- the scope -------------------------------------------------------------

    @property
    def scope(self) -> AdminScope:
        return current_scope.get()

    def _hidden(self) -> bool:
        return self.policy.kind == "control" and not self.scope.superuser

    def _clause(self) -> Any:
        """Rows the current user may see (None: all of them, superusers)."""
        scope, table, kind = self.scope, self.table, self.policy.kind
        if scope.superuser:
            return None
        never = table._meta.primary_key.is_null()
        if kind == "tenant":
            ids = scope.tenant_ids
            return table.tenant.is_in(ids) if ids else never
        if kind == "tenant_root":
            ids = scope.tenant_ids
            return table._meta.primary_key.is_in(ids) if ids else never
        if kind == "agency_root":
            ids = sorted(scope.agency_ids, key=str)
            return table._meta.primary_key.is_in(ids) if ids else never
        return never

    def _scoped(self, query: Any) -> Any:
        clause = self._clause()
        return query if clause is None else query.where(clause)

    def _tenant_of(self, row: dict) -> Optional[uuid.UUID]:
        if self.policy.kind == "tenant":
            return as_uuid(row["tenant"])
        if self.policy.kind == "tenant_root":
            return as_uuid(row[self.table._meta.primary_key._meta.name])
        return None

    # --- reads -----------------------------------------------------------------

    def _split_params(self, params: dict[str, Any]) -> Params:
        canonical = self._canonical(params)
        if canonical is None:
            raise ParamException("A column is given twice")
        split = super()._split_params(canonical)
        # Content-Range counts the whole table, unscoped: never offer it.
        split.range_header = False
        for column in [*(split.visible_fields or []), *(o.column for o in split.order_by or [])]:
            if column._meta.secret:
                raise ParamException(f"{column._meta.name} is not available")
        return split

    def _apply_filters(self, query: Any, params: Params) -> Any:
        return self._scoped(super()._apply_filters(query, params))

    async def root(self, request: Request) -> Response:
        if self._hidden():
            return not_found()
        return await super().root(request)

    async def get_count(self, request: Request) -> Response:
        return not_found() if self._hidden() else await super().get_count(request)

    async def get_schema(self, request: Request) -> JSONResponse:
        if self._hidden():
            return not_found()
        # By column name (tenant), as rows are listed: the SPA matches the two.
        schema = self.pydantic_model.model_json_schema(by_alias=False)
        return JSONResponse(references.schema(self.table._meta.tablename, schema))

    async def _named(self, response: Response, wanted: Any, rows: Any) -> Response:
        """A list or a row with its composite references' names (admin.references)."""
        if response.status_code != 200 or wanted not in ("t", "true", "True", "1"):
            return response
        if self.table._meta.tablename not in references.REFERENCES:
            return response
        data = json.loads(response.body)
        await references.attach(self.table._meta.tablename, rows(data))
        return JSONResponse(data)

    async def get_all(self, request: Request, params: Optional[dict[str, Any]] = None) -> Response:
        response = await super().get_all(request, params)
        return await self._named(response, (params or {}).get("__readable"),
                                 lambda data: data["rows"])

    async def get_single(self, request: Request, row_id: Any) -> Response:
        response = await super().get_single(request, row_id)
        return await self._named(response, request.query_params.get("__readable"),
                                 lambda data: [data])

    async def get_references(self, request: Request) -> JSONResponse:
        return not_found() if self._hidden() else await super().get_references(request)

    async def get_new(self, request: Request) -> Response:
        if self._hidden():
            return not_found()
        response = await super().get_new(request)
        writable = [t for t in self.scope.tenant_ids if self.scope.may(t, self.policy.write)]
        if self.policy.kind == "tenant" and len(writable) == 1:

            defaults = json.loads(response.body)
            defaults["tenant"] = str(writable[0])
            return JSONResponse(defaults)
        return response

    async def get_ids(self, request: Request) -> Response:
        if self._hidden():
            return not_found()
        pk = self.table._meta.primary_key
        readable = self.table.get_readable()
        query = self._scoped(self.table.select(pk, readable))
        try:
            limit = min(int(request.query_params.get("limit", 500)), 1000)
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return Response("The limit and offset must be integers", status_code=400)
        search = request.query_params.get("search")
        if search:
            # Bound parameters on the readable's columns, inside the scope.
            # SQLite's LIKE already ignores ASCII case (and has no ILIKE).
            postgres = self.table._meta.db.engine_type == "postgres"
            clauses = [
                c.ilike(f"%{search}%") if postgres else c.like(f"%{search}%")
                for c in readable.columns if isinstance(c, (Varchar, Text))
            ] or [pk.is_null()]
            where = clauses[0]
            for clause in clauses[1:]:
                where = where | clause
            query = query.where(where)
        rows = await query.order_by(pk).limit(max(limit, 0)).offset(max(offset, 0))
        name = pk._meta.name
        return JSONResponse({str(r[name]): r["readable"] for r in rows})

    # --- writes ----------------------------------------------------------------

    async def _fk_problem(self, tenant_id: Optional[uuid.UUID], data: dict) -> Optional[Response]:
        """Every foreign key in a payload must name a row of the row's own tenant."""
        for column in self.table._meta.foreign_key_columns:
            name = column._meta.name
            if name == "tenant" or data.get(name) in (None, ""):
                continue
            target = column._foreign_key_meta.resolved_references
            if self.scope.superuser and self.policy.kind == "control":
                continue
            if not hasattr(target, "tenant") or tenant_id is None:
                return not_found()
            value = data[name]
            if as_uuid(value) is None:
                return not_found()
            exists = await target.exists().where(
                (target._meta.primary_key == as_uuid(value)) & (target.tenant == tenant_id)
            )
            if not exists:
                return not_found()
        return None

    def _payload_tenant(self, data: dict) -> tuple[Optional[uuid.UUID], Optional[Response]]:
        """The tenant a new row goes to: given, or the user's only writable one."""
        scope = self.scope
        given = data.get("tenant")
        if given in (None, "", "null"):
            writable = [t for t in scope.tenant_ids if scope.may(t, self.policy.write)]
            if not writable:
                return None, forbidden()
            if len(writable) != 1:
                return None, JSONResponse(
                    {"db_error": "Choose the tenant this row belongs to."}, status_code=422
                )
            return writable[0], None
        tenant_id = as_uuid(given)
        if tenant_id is None or not scope.sees(tenant_id):
            return None, not_found()
        return tenant_id, None

    async def post_single(self, request: Request, data: dict[str, Any]) -> Response:
        if self._hidden():
            return not_found()
        data = self._canonical(data) if isinstance(data, dict) else None
        if data is None:
            return Response("A JSON object with each column once is expected", status_code=400)
        if self.policy.kind != "tenant":
            if not self.scope.superuser:
                return forbidden()
            return await super().post_single(request, data)
        tenant_id, problem = self._payload_tenant(data)
        if problem:
            return problem
        if not self.scope.may(tenant_id, self.policy.write):
            return forbidden()
        data = {**data, "tenant": str(tenant_id)}
        if problem := await self._fk_problem(tenant_id, data):
            return problem
        if self.policy.create:
            return await self.policy.create(request, self.scope, tenant_id, None, data)
        # Absent columns take the table's defaults, not NULL.
        blank = self.table(_ignore_missing=True)
        defaults = {
            c._meta.name: getattr(blank, c._meta.name) for c in self.table._meta.columns
            if not c._meta.primary_key and c._meta.name not in data
        }
        return await super().post_single(request, {**defaults, **data})

    async def detail(self, request: Request) -> Response:
        if self._hidden():
            return not_found()
        pk = self.table._meta.primary_key
        try:
            row_id = pk.value_type(request.path_params.get("row_id"))
        except (TypeError, ValueError):
            return Response("The ID is invalid", status_code=400)
        columns: list[Column] = [pk]
        if self.policy.kind == "tenant":
            columns.append(self.table.tenant.as_alias("tenant"))
        row = await self._scoped(self.table.select(*columns).where(pk == row_id)).first()
        if row is None:
            return not_found()
        if request.method == "GET":
            return await self.get_single(request, row_id)
        tenant_id = self._tenant_of(row)
        if self.policy.kind != "tenant" and not self.scope.superuser:
            return forbidden()
        if request.method == "DELETE":
            if not self.scope.may(tenant_id, self.policy.delete):
                return forbidden()
            if self.policy.deleter:
                return await self.policy.deleter(request, self.scope, tenant_id, row_id, {})
            return await self.delete_single(request, row_id)
        if request.method not in ("PUT", "PATCH"):
            return Response(status_code=405)
        if self.policy.kind == "tenant" and not self.scope.may(tenant_id, self.policy.write):
            return forbidden()
        data = await request.json()
        data = self._canonical(data) if isinstance(data, dict) else None
        if data is None:
            return Response("A JSON object with each column once is expected", status_code=400)
        if "tenant" in data and self.policy.kind == "tenant":
            moved_to = as_uuid(data["tenant"])
            if moved_to != tenant_id:
                # Another tenant's id answers like a missing one; rows never move.
                return not_found() if not self.scope.sees(moved_to) else JSONResponse(
                    {"db_error": "A row cannot move to another tenant."}, status_code=422
                )
        if problem := await self._fk_problem(tenant_id, data):
            return problem
        if self.policy.update:
            return await self.policy.update(request, self.scope, tenant_id, row_id, data)
        if request.method == "PUT":
            return await self.put_single(request, row_id, data)
        return await self.patch_single(request, row_id, data)
