"""`GET /v1/consent-check` answered by api.quickcheck answers exactly what the
route answers (status, headers, body), refuses nothing the route would not
and lets nothing through the route would refuse: every other request, and
every refusal, is the route's own."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from api import quickcheck
from api.quickcheck import QuickCheck
from consent.schemas import Channel
from tenants import keys
from tests.factories import make_contact, make_tenant, make_world

_PLAIN = {"channel": "email", "purpose": "newsletter"}


class _Spy:
    """Which requests the quick path answered itself."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, off: bool = False) -> None:
        self.answered: list[bool] = []
        self.off = off
        real = QuickCheck.answer

        async def answer(layer: QuickCheck, scope: Any) -> Any:
            body = None if self.off else await real(layer, scope)
            self.answered.append(body is not None)
            return body

        monkeypatch.setattr(QuickCheck, "answer", answer)


async def _both(client: Any, spy: _Spy, params: dict, headers: dict) -> tuple[Any, Any, bool]:
    """The answer with the quick path on, then through the route alone."""
    spy.off, spy.answered = False, []
    quick = await client.get("/v1/consent-check", params=params, headers=headers)
    taken = any(spy.answered)
    spy.off = True
    routed = await client.get("/v1/consent-check", params=params, headers=headers)
    spy.off = False
    return quick, routed, taken


def _same(quick: Any, routed: Any) -> None:
    assert quick.status_code == routed.status_code, (quick.text, routed.text)
    assert quick.content == routed.content
    strip = {"x-request-id"}
    assert [(k, v) for k, v in quick.headers.items() if k not in strip] == \
        [(k, v) for k, v in routed.headers.items() if k not in strip]


async def test_the_quick_answer_is_the_routes_answer(client, monkeypatch):
    world = await make_world(await make_tenant())
    other = await make_contact(world.tenant, email="other@example.com")
    headers = world.tenant.headers
    spy = _Spy(monkeypatch)
    first = await client.get("/v1/consent-check", params={**_PLAIN, "email": "x@example.com"},
                             headers=headers)
    assert first.status_code == 200 and spy.answered == [False]  # the key was not known yet

    email = world.contact["email"]
    cases = [  # (query, answered by the quick path)
        ({**_PLAIN, "email": email}, True),
        ({**_PLAIN, "email": email.upper()}, True),  # normal form found on the second query
        ({**_PLAIN, "email": f"  {email} "}, True),
        ({**_PLAIN, "email": other["email"]}, True),  # known person, no consent
        ({**_PLAIN, "email": "nobody@example.org"}, True),
        ({"channel": "sms", "purpose": "newsletter", "email": email}, True),
        ({**_PLAIN, "email": "not-an-address"}, False),  # 422, the route's
        ({"channel": "email", "purpose": "nope", "email": email}, False),  # unknown purpose
        ({"channel": "fax", "purpose": "newsletter", "email": email}, False),  # 400
        ({"channel": "email", "email": email}, False),  # purpose missing
        ({**_PLAIN, "email": ""}, False),
        ({**_PLAIN, "phone": "+33612345678"}, False),  # other identifiers: the route
        ({**_PLAIN, "contact_id": world.contact["id"]}, False),
        ({**_PLAIN, "email": email, "at": "2026-01-01T10:00:00Z"}, False),
        ({**_PLAIN, "email": email, "extra": "1"}, False),
        ({**_PLAIN, "email": "a\x00@example.com"}, False),
    ]
    for params, taken in cases:
        quick, routed, answered = await _both(client, spy, params, headers)
        _same(quick, routed)
        assert answered is taken, params
    granted, _, _ = await _both(client, spy, {**_PLAIN, "email": email}, headers)
    assert granted.json()["allowed"] is True
    assert granted.json()["event_id"] == world.event["id"]


async def test_headers_the_route_validates_go_to_the_route(client, monkeypatch):
    world = await make_world(await make_tenant())
    spy = _Spy(monkeypatch)
    params = {**_PLAIN, "email": world.contact["email"]}
    await client.get("/v1/consent-check", params=params, headers=world.tenant.headers)
    for extra in ({"X-Tenant": world.tenant.slug}, {"X-Tenant": "another"},
                  {"Idempotency-Key": "x" * 300}, {"Idempotency-Key": "k"}):
        quick, routed, answered = await _both(client, spy, params,
                                              {**world.tenant.headers, **extra})
        _same(quick, routed)
        assert not answered, extra


async def test_refusals_are_the_routes(client, monkeypatch):
    """A wrong key, a key without the scope, another tenant's person: the
    quick path answers none of them but the last (RLS: nobody)."""
    world = await make_world(await make_tenant())
    stranger = await make_world(await make_tenant())
    narrow = await make_tenant(scopes=["contacts:read"])
    spy = _Spy(monkeypatch)
    params = {**_PLAIN, "email": world.contact["email"]}
    wrong = world.tenant.key[:-4] + "AAAA"
    for headers in ({"Authorization": f"Bearer {wrong}"}, {"Authorization": "Basic x"}, {},
                    narrow.headers, narrow.headers):
        quick, routed, answered = await _both(client, spy, params, headers)
        _same(quick, routed)
        assert quick.status_code in (401, 403) and not answered
    await client.get("/v1/consent-check", params=params, headers=stranger.tenant.headers)
    quick, routed, answered = await _both(client, spy, params, stranger.tenant.headers)
    _same(quick, routed)
    assert answered and quick.json() == {
        "allowed": False, "status": "none", "since": None, "event_id": None,
        "suppressed": False, "restricted": False, "tracking_allowed": False}


async def test_a_key_revoked_elsewhere_stops_within_the_cache_lifetime(client, app, monkeypatch):
    """Another process revoked the key (this one's cache was not told): the
    quick path keeps the key no longer than the route would, then the route
    reads it again and refuses it."""
    tenant = (await make_world(await make_tenant())).tenant
    spy = _Spy(monkeypatch)
    params = {**_PLAIN, "email": "x@example.com"}
    now = {"t": 1000.0}
    app.state.key_authenticator = keys.KeyAuthenticator(recheck_seconds=30,
                                                        clock=lambda: now["t"])
    assert (await client.get("/v1/consent-check", params=params,
                             headers=tenant.headers)).status_code == 200
    key_id = tenant.key.split("_")[1]
    await keys.revoke_key(key_id)  # no authenticator: another process did it
    now["t"] += 29
    spy.answered = []
    assert (await client.get("/v1/consent-check", params=params,
                             headers=tenant.headers)).status_code == 200
    assert spy.answered == [True]
    now["t"] += 2
    refused = await client.get("/v1/consent-check", params=params, headers=tenant.headers)
    assert refused.status_code == 401
    assert spy.answered == [True, False]


def test_the_quick_path_knows_the_routes_channels():
    assert quickcheck._CHANNELS == frozenset(get_args(Channel))



def test_the_route_has_no_wall_the_quick_path_lacks(app):
    """The quick path does what the route's walls do (api.quickcheck). A guard,
    a middleware or a hook added to the route later must be added there too:
    this fails first."""
    handler = next(h for route in app.routes if route.path == quickcheck.ROUTE
                   for h in route.route_handlers if "GET" in h.http_methods)
    assert len(handler.resolve_guards()) == 1
    middleware = [getattr(m, "middleware", m) for m in handler.resolve_middleware()]
    assert {getattr(m, "__name__", type(m).__name__) for m in middleware} <= {
        "Envelope", "CORSMiddleware"}, middleware
    assert handler.resolve_before_request() is None
    assert not app.before_send and not app.middleware
    guard = handler.resolve_guards()[0]
    assert guard.__qualname__ == "requires.<locals>.guard"
    assert quickcheck.SCOPE in guard.__closure__[0].cell_contents
