"""The application under test, built once per session, and put back before each
test into the state a fresh `create_app()` would have.

`create_app()` costs ~2 s on this machine (85 % of it building Piccolo Admin);
built for each of ~270 test items it was most of the suite's set-up time. The
app holds no database state (the engine is `db`'s, chosen by the `backend`
fixture), but it holds per-process memory that must not leak from one test to
the next: the verified-key and tenant caches. The shared limiters
(optinbase.limits: admin logins, public forms, key failures) start afresh too.
"""

from __future__ import annotations

from litestar import Litestar

from admin import forms
from optinbase import limits
from tenants.keys import KeyAuthenticator
from tenants.service import TenantDirectory


def reset(app: Litestar) -> Litestar:
    """What a new `create_app()` would start with, without rebuilding it."""
    settings = app.state.settings
    app.state.key_authenticator = KeyAuthenticator(recheck_seconds=settings.key_cache_seconds)
    app.state.tenant_directory = TenantDirectory(ttl_seconds=settings.key_cache_seconds)
    # The admin's key forms revoke through the app's authenticator (admin.mount).
    forms.KEY_AUTHENTICATOR = app.state.key_authenticator
    limits.forget()  # the shared limiters' counts (database or Redis) start afresh
    return app
