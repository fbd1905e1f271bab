"""Who uses Optinbase: `tenants`, `agencies`, `keys`, `staff`."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys

from cli.runtime import CommandError, as_owner, run
from optinbase.errors import NotFound
from tenants import envelope, keys, repository, service


def cmd_tenants_create(args: argparse.Namespace) -> None:
    as_owner()
    record = run(
        lambda: service.create_tenant(
            args.slug, args.name, agency_slug=args.agency, legal_name=args.legal_name or "",
            dpo_email=args.dpo_email or "", country=(args.country or "").upper(),
        )
    )
    print(f"tenant {record.slug} created ({record.id})")


def cmd_agencies_create(args: argparse.Namespace) -> None:
    as_owner()
    agency_id = run(lambda: service.create_agency(args.slug, args.name))
    print(f"agency {args.slug} created ({agency_id})")


def cmd_keys_create(args: argparse.Namespace) -> None:
    as_owner()
    if bool(args.tenant) == bool(args.agency):
        raise CommandError("give exactly one of --tenant SLUG or --agency SLUG")
    expires_at = None
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise CommandError("--expires-in-days must be positive")
        expires_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=args.expires_in_days)

    async def create() -> str:
        tenant_id = agency_id = None
        if args.tenant:
            tenant = await repository.tenant_by_slug(args.tenant)
            if tenant is None:
                raise NotFound(f"no tenant {args.tenant!r}")
            tenant_id = tenant.id
        else:
            agency = await repository.agency_by_slug(args.agency)
            if agency is None:
                raise NotFound(f"no agency {args.agency!r}")
            agency_id = agency["id"]
        async with envelope.control(tenant_id=tenant_id, agency_id=agency_id):
            return await keys.create_key(
                tenant_id=tenant_id, agency_id=agency_id, name=args.name or "",
                scopes=args.scope, expires_at=expires_at,
            )

    full_key = run(create)
    print("API key created. It is shown only this once; store it now.", file=sys.stderr)
    print(full_key)


def cmd_keys_revoke(args: argparse.Namespace) -> None:
    as_owner()
    key_id = args.key_id
    if key_id.startswith("obk_"):  # accept the full key too
        key_id = key_id.split("_")[1]
    run(lambda: keys.revoke_key(key_id))
    print(f"key {key_id} revoked")


def cmd_staff_create(args: argparse.Namespace) -> None:
    as_owner()
    password = _password(args)
    user_id = run(
        lambda: service.create_staff(
            args.email, password, tenant_slug=args.tenant, agency_slug=args.agency,
            superuser=args.superuser, role=args.role,
        )
    )
    print(f"staff user {args.email} created ({user_id})")


def _table(rows: list[list[str]], header: list[str]) -> None:
    """Columns aligned, one row a line; `-` for nothing."""
    rows = [[cell if cell not in ("", None) else "-" for cell in map(_cell, row)] for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def _cell(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    if value is None:
        return ""
    return str(value)


def cmd_tenants_list(args: argparse.Namespace) -> None:
    as_owner()

    async def load() -> list[list[str]]:
        agencies = {a["id"]: a["slug"] for a in await repository.all_agencies()}
        return [[t.slug, t.name, agencies.get(t.agency_id, ""), t.country, t.dpo_email,
                 t.created_at] for t in await repository.all_tenants()]

    _table(run(load), ["slug", "name", "agency", "country", "dpo", "created"])


def cmd_tenants_attach(args: argparse.Namespace) -> None:
    as_owner()
    run(lambda: service.attach_tenant(args.slug, None if args.detach else args.agency))
    print(f"tenant {args.slug} " + ("detached from its agency" if args.detach
                                    else f"attached to agency {args.agency}"))


def cmd_agencies_list(args: argparse.Namespace) -> None:
    as_owner()

    async def load() -> list[list[str]]:
        tenants = await repository.all_tenants()
        return [[a["slug"], a["name"], sum(t.agency_id == a["id"] for t in tenants),
                 a["created_at"]] for a in await repository.all_agencies()]

    _table(run(load), ["slug", "name", "tenants", "created"])


def cmd_keys_list(args: argparse.Namespace) -> None:
    """Key ids and what they may do; never a secret (only its hash is stored)."""
    as_owner()

    async def load() -> list[list[str]]:
        tenant = await repository.tenant_by_slug(args.tenant)
        if tenant is None:
            raise NotFound(f"no tenant {args.tenant!r}")
        async with envelope.control(tenant_id=tenant.id):
            found = await repository.keys_of_tenant(tenant.id)
        return [[k["key_id"], k["name"], " ".join(k["scopes"]) or "all", k["created_at"],
                 k["last_used_at"], k["expires_at"], k["revoked_at"]] for k in found]

    _table(run(load), ["key id", "name", "scopes", "created", "last used", "expires", "revoked"])


def cmd_staff_list(args: argparse.Namespace) -> None:
    as_owner()
    rows = run(service.list_staff)
    _table([[u["username"], "yes" if u["active"] else "no", "yes" if u["superuser"] else "",
             "; ".join(u["memberships"])] for u in rows],
           ["e-mail", "active", "superuser", "memberships"])


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():  # a script, a pipe, CI: getpass would read nothing
        raise CommandError("no terminal to ask the password on: give it with --password-stdin")
    try:
        return getpass.getpass("Password: ")
    except EOFError:
        raise CommandError("no password given") from None


def cmd_staff_set_password(args: argparse.Namespace) -> None:
    as_owner()
    password = _password(args)
    run(lambda: service.set_password(args.email, password))
    print(f"password of {args.email} changed")


def cmd_staff_disable(args: argparse.Namespace) -> None:
    as_owner()
    run(lambda: service.disable_staff(args.email))
    print(f"staff user {args.email} disabled; their sessions are closed")


def cmd_staff_add_membership(args: argparse.Namespace) -> None:
    as_owner()
    run(lambda: service.add_membership(args.email, tenant_slug=args.tenant,
                                       agency_slug=args.agency, role=args.role))
    print(f"{args.email} is {args.role} of {args.tenant or args.agency}")


def _role(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", default=service.LEAST_ROLE, choices=service.ROLES,
                        help=f"default {service.LEAST_ROLE} (the least privileged). "
                             + service.ROLE_HELP)


def add_commands(sub: argparse._SubParsersAction) -> None:
    tenants = sub.add_parser("tenants", help="manage tenants").add_subparsers(
        dest="action", required=True
    )
    create = tenants.add_parser("create")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.add_argument("--agency")
    create.add_argument("--legal-name")
    create.add_argument("--dpo-email")
    create.add_argument("--country")
    create.set_defaults(fn=cmd_tenants_create)
    tenants.add_parser("list", help="every tenant").set_defaults(fn=cmd_tenants_list)
    attach = tenants.add_parser("attach", help="put a tenant under an agency (or --detach)")
    attach.add_argument("slug")
    attach_to = attach.add_mutually_exclusive_group(required=True)
    attach_to.add_argument("--agency")
    attach_to.add_argument("--detach", action="store_true")
    attach.set_defaults(fn=cmd_tenants_attach)

    agencies = sub.add_parser("agencies", help="manage agencies").add_subparsers(
        dest="action", required=True
    )
    create = agencies.add_parser("create")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.set_defaults(fn=cmd_agencies_create)
    agencies.add_parser("list", help="every agency").set_defaults(fn=cmd_agencies_list)

    key_commands = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    create = key_commands.add_parser("create")
    create.add_argument("--tenant")
    create.add_argument("--agency")
    create.add_argument("--name")
    create.add_argument("--scope", action="append")
    create.add_argument("--expires-in-days", type=int)
    create.set_defaults(fn=cmd_keys_create)
    revoke = key_commands.add_parser("revoke")
    revoke.add_argument("key_id")
    revoke.set_defaults(fn=cmd_keys_revoke)
    listing = key_commands.add_parser("list", help="a tenant's keys (ids, scopes; no secrets)")
    listing.add_argument("--tenant", required=True)
    listing.set_defaults(fn=cmd_keys_list)

    staff = sub.add_parser("staff", help="manage staff users").add_subparsers(
        dest="action", required=True
    )
    create = staff.add_parser("create", help="a staff user with one membership (or --superuser)")
    create.add_argument("email")
    create.add_argument("--tenant")
    create.add_argument("--agency")
    create.add_argument("--superuser", action="store_true")
    _role(create)
    create.add_argument("--password-stdin", action="store_true")
    create.set_defaults(fn=cmd_staff_create)
    staff.add_parser("list", help="staff users and their memberships").set_defaults(
        fn=cmd_staff_list)
    password = staff.add_parser("set-password", help="a new password (argon2id)")
    password.add_argument("email")
    password.add_argument("--password-stdin", action="store_true")
    password.set_defaults(fn=cmd_staff_set_password)
    disable = staff.add_parser("disable", help="no more logins; open sessions end")
    disable.add_argument("email")
    disable.set_defaults(fn=cmd_staff_disable)
    member = staff.add_parser("add-membership",
                              help="another tenant or agency for a staff user (or a new role)")
    member.add_argument("email")
    member.add_argument("--tenant")
    member.add_argument("--agency")
    _role(member)
    member.set_defaults(fn=cmd_staff_add_membership)
