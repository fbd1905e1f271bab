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
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
    user_id = run(
        lambda: service.create_staff(
            args.email, password, tenant_slug=args.tenant, agency_slug=args.agency,
            superuser=args.superuser, role=args.role,
        )
    )
    print(f"staff user {args.email} created ({user_id})")


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

    agencies = sub.add_parser("agencies", help="manage agencies").add_subparsers(
        dest="action", required=True
    )
    create = agencies.add_parser("create")
    create.add_argument("slug")
    create.add_argument("--name", required=True)
    create.set_defaults(fn=cmd_agencies_create)

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

    staff = sub.add_parser("staff", help="manage staff users").add_subparsers(
        dest="action", required=True
    )
    create = staff.add_parser("create")
    create.add_argument("email")
    create.add_argument("--tenant")
    create.add_argument("--agency")
    create.add_argument("--superuser", action="store_true")
    create.add_argument("--role", default="manager")
    create.add_argument("--password-stdin", action="store_true")
    create.set_defaults(fn=cmd_staff_create)
