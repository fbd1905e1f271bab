"""Issue 15 §1 and issue 12 §6 in Chromium (Debian's, through Playwright),
against a real server process and a real SMTP server, on both engines:

* every public page — landing, subscribe (with an error), confirm, preferences,
  unsubscribe, request form, verify, status, error pages — at 360 px and
  1280 px: axe-core (shipped by the axe-playwright-python package, run inside
  the page) finds 0 serious or critical violations (SQLite's run checks 360 px,
  PostgreSQL's 1280 px: the markup is the same); every result is printed;
  nothing overflows sideways at 360 px;
* the tenant's brand (logo, colours, footer) and the Art. 13 block (controller,
  DPO, named partners, retention, rights with the request form, withdrawal,
  privacy policy, CNIL complaint) are on each page, in French and English;
* the form keeps typed values and ticks after an error, shows the error
  beside its field (aria-describedby), and the honeypot is out of sight and
  out of the accessibility tree;
* the branded subscribe page (1280 px) is photographed: into
  docs/screenshots/subscribe.png with `OPTINBASE_SCREENSHOTS=1`, else into the test's
  temporary directory (a run does not rewrite a committed file).
"""

from __future__ import annotations

import datetime as dt
import email.utils as email_utils
import functools
import http.server
import re
import threading
from typing import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests import processes
from tests.e2e.browser.chromium import running, screenshot
from optinbase import db
from tests.factories import (
    grant,
    make_contact,
    make_notice,
    make_purpose,
    make_tenant,
    set_tenant,
    unique_slug,
)

WIDTHS = (360, 1280)
BLOCKING = ("serious", "critical")
LOGO = """<svg xmlns="http://www.w3.org/2000/svg" width="180" height="48" viewBox="0 0 180 48">
<rect width="48" height="48" rx="10" fill="#c2410c"/><path d="M12 34 L24 12 L36 34 Z" fill="#fff"/>
<text x="58" y="32" font-family="sans-serif" font-size="24" font-weight="700" fill="#1b1b1b">Acme</text>
</svg>"""
NOTICE = "I would like Acme's monthly letter, by e-mail or by SMS."
AVIS = "Je souhaite recevoir la lettre mensuelle d'Acme."
PARTNERS = ["Brevo SAS", "La Poste Solutions Business"]


@pytest.fixture
def logo_url(tmp_path) -> Iterator[str]:
    """The tenant's logo, from a web server of its own (no internet in tests)."""
    (tmp_path / "logo.svg").write_text(LOGO)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/logo.svg"
    finally:
        httpd.shutdown()


@pytest.fixture
async def pale(engine: str):
    """A tenant whose brand colours are too light for text on white."""
    tenant = await make_tenant(slug=unique_slug("pale"), name="Pale")
    await set_tenant(tenant, settings={"primary_color": "#ffe066", "accent_color": "#fff5cc"})
    await make_purpose(tenant, "letter", name="Letter")
    await make_notice(tenant, "letter", ("email",), text="Send me the letter.")
    return tenant


@pytest.fixture
async def acme(engine: str, logo_url: str):
    tenant = await make_tenant(slug=unique_slug("acme"), name="Acme")
    await set_tenant(tenant, legal_name="Acme SAS", dpo_email="dpo@acme.example", settings={
        "logo_url": logo_url, "primary_color": "#c2410c", "accent_color": "#0e7490",
        "footer_text": "Acme SAS · 12 rue des Lilas, 75011 Paris · RCS Paris 123 456 789",
        "sender_name": "Acme", "reply_to": "bonjour@acme.example",
        "address": "12 rue des Lilas\n75011 Paris", "dpo_name": "Claire Martin",
        "policy_url": "https://acme.example/privacy", "default_locale": "en"})
    await make_purpose(tenant, "letter", name="Monthly letter",
                       description="News, tips and offers, once a month.")
    # French first: the English form submits here (until issue 12 §5 is merged,
    # the form accepts only the newest notice of a purpose, whatever its language).
    await make_notice(tenant, "letter", ("email", "sms"), text=AVIS, language="fr",
                      partners=PARTNERS)
    await make_notice(tenant, "letter", ("email", "sms"), text=NOTICE, partners=PARTNERS)
    return tenant


@pytest.fixture
async def people(acme):
    """Rea agreed to the French notice (version 1), so a re-permission campaign
    for the English one (version 2) reaches her; Sam agreed long ago and has not
    been seen for more than the retention period, so retention asks him to stay."""
    async with db.tenant_transaction(acme.id, write=False):
        versions = {r["version"]: str(r["id"]) for r in await db.fetch(
            "SELECT id, version FROM notice WHERE tenant_id = {}", acme.id)}
    rea = await make_contact(acme, email=f"{unique_slug('rea')}@example.org", locale="en")
    sam = await make_contact(acme, email=f"{unique_slug('sam')}@example.org", locale="en")
    await grant(acme, rea["id"], versions[1], purpose="letter")
    await grant(acme, sam["id"], versions[2], purpose="letter")
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=365 * 3 + 40)
    async with db.tenant_transaction(acme.id):
        await db.execute("UPDATE contact SET last_activity_at = {}, created_at = {}"
                         " WHERE tenant_id = {} AND id = {}", long_ago, long_ago, acme.id,
                         sam["id"])
    return rea["email"], sam["email"], versions[2]


# axe-core reads the markup, which the engine does not change: each engine runs it
# at one of the two widths, so a whole run checks every page at both for half the
# work (axe was most of these tests' time). The overflow check runs on both.
AXE_WIDTH = {"sqlite": 360, "postgres": 1280}


class Checker:
    """Runs axe-core on the current page (at the engine's width) and prints every
    result; checks at 360 px that nothing overflows sideways."""

    def __init__(self, page, engine: str) -> None:
        self.page, self.axe, self.failures = page, Axe(), []
        self.axe_width = AXE_WIDTH[engine]

    def check(self, name: str) -> None:
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            if width == 360:
                scroll = self.page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= 360, f"{name} is {scroll}px wide at 360px"
            if width != self.axe_width:
                continue
            results = self.axe.run(self.page)
            violations = results.response["violations"]
            blocking = [v for v in violations if v.get("impact") in BLOCKING]
            print(f"axe-core {results.response['testEngine']['version']} {name} @{width}px: "
                  f"{len(violations)} violation(s), {len(blocking)} serious/critical"
                  + "".join(f"\n    {v['impact']}: {v['id']} — {v['help']} "
                            f"({len(v['nodes'])} node(s))" for v in violations))
            self.failures += [(name, width, v["id"], [n["html"] for n in v["nodes"]][:3])
                              for v in blocking]


def _controller_block(page) -> str:
    """Who is responsible and how to reach them: on every public page."""
    legal = page.locator("section.legal")
    text = legal.inner_text()
    assert "Acme SAS" in text and "12 rue des Lilas" in text  # controller and address
    assert "Claire Martin" in text and "dpo@acme.example" in text  # DPO contact
    assert legal.locator('a[href$="/requests"]').count() == 1  # how to exercise the rights
    assert legal.locator('a[href="https://www.cnil.fr/fr/plaintes"]').count() == 1
    assert legal.locator('a[href="https://acme.example/privacy"]').count() == 1
    return text


def _legal_block(page, language: str) -> None:
    """What GDPR Art. 13 asks, on the page (see README, Subscriber pages)."""
    text = _controller_block(page)
    assert ", ".join(PARTNERS) in text  # named partners
    if language == "fr":
        assert "36 mois" in text and "retirer votre consentement à tout moment" in text
    else:
        assert "36 months" in text and "withdraw your consent at any time" in text


def _branded(page, button: str = "rgb(194, 65, 12)") -> None:
    """`button`: its background, #c2410c (the tenant's primary colour) unless
    the page has a colour of its own (a form definition's)."""
    logo = page.locator("header.site-header img")
    assert logo.get_attribute("alt") == "Acme"
    assert page.evaluate("document.querySelector('header img').naturalWidth") > 0  # loaded
    assert "RCS Paris" in page.locator("footer.site-footer").inner_text()
    colour = page.evaluate("getComputedStyle(document.querySelector('button')).backgroundColor")
    assert colour == button


def test_every_public_page_is_branded_informative_and_accessible(installation, smtp, acme,
                                                                 pale, tmp_path, engine):
    kim = f"{unique_slug('kim')}@example.org"
    with installation.serving(SMTP_URL=smtp.url) as server, running() as browser:
        page = browser.new_context(locale="en-GB").new_page()
        page.set_default_timeout(15_000)
        axe = Checker(page, engine)

        page.goto(f"{server.base_url}/")
        assert page.locator('a[href="/schema"]').count() == 1
        # The checker can fail: an image without a text alternative is critical.
        page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend',"
                      " '<img src=\"/static/none.png\">')")
        spoiled = Axe().run(page).response["violations"]
        assert any(v["id"] == "image-alt" and v["impact"] == "critical" for v in spoiled)
        page.reload()
        axe.check("landing /")

        page.goto(f"{server.base_url}/p/{acme.slug}/subscribe")
        _branded(page)
        _legal_block(page, "en")
        trap = page.locator("#website")
        assert trap.get_attribute("tabindex") == "-1"
        assert page.locator(".trap").get_attribute("aria-hidden") == "true"
        box = trap.bounding_box()
        assert box is None or box["x"] + box["width"] <= 0  # off-screen
        axe.check("subscribe")
        page.set_viewport_size({"width": 360, "height": 900})
        page.screenshot(path=str(tmp_path / "subscribe-360.png"), full_page=True)
        print(f"screenshots: {tmp_path}")
        page.set_viewport_size({"width": 1280, "height": 900})
        shot = screenshot(page, engine, "subscribe.png", tmp_path)
        assert shot.stat().st_size > 10_000

        # An error: typed values and ticks come back, the message beside its field.
        page.get_by_label("E-mail address (required)").fill("kim-at-example.org")
        page.get_by_label("Mobile phone (optional)").fill("+33 6 12 34 56 78")
        page.get_by_label("I agree, by SMS").check()
        page.get_by_role("button", name="Subscribe").click()
        email = page.get_by_label("E-mail address (required)")
        assert email.input_value() == "kim-at-example.org"
        assert page.get_by_label("Mobile phone (optional)").input_value() == "+33 6 12 34 56 78"
        assert page.get_by_label("I agree, by SMS").is_checked()
        assert not page.get_by_label("I agree, by e-mail").is_checked()
        assert email.get_attribute("aria-invalid") == "true"
        described = page.locator(f"#{email.get_attribute('aria-describedby')}")
        assert "valid e-mail address" in described.inner_text()
        axe.check("subscribe (error)")

        email.fill(kim)
        page.get_by_role("button", name="Subscribe").click()
        page.get_by_text("Open the e-mail we just sent").wait_for()
        axe.check("subscribe (sent)")

        mail = smtp.mail_to(kim, seconds=30)[0]
        assert email_utils.parseaddr(mail["From"])[0] == "Acme"  # the tenant's sender_name
        assert mail["Reply-To"] == "bonjour@acme.example"
        assert "multipart/alternative" in mail["Content-Type"]
        text = mail.get_content()
        confirm = re.search(r"(http://\S+/p/confirm/\S+)", text).group(1)
        preferences = re.search(r"(http://\S+/p/preferences/\S+)", text).group(1)
        unsubscribe = re.search(r"<(http://\S+/p/unsubscribe/\S+)>", mail["List-Unsubscribe"])

        page.goto(confirm)
        _legal_block(page, "en")
        axe.check("confirm")
        page.get_by_role("button", name="Confirm").click()
        page.get_by_text("is confirmed").wait_for()
        axe.check("confirm (done)")

        page.goto(preferences)
        _branded(page)
        _legal_block(page, "en")
        axe.check("preferences")

        page.goto(unsubscribe.group(1))
        _legal_block(page, "en")
        axe.check("unsubscribe")

        page.goto(f"{server.base_url}/p/{acme.slug}/requests")
        _legal_block(page, "en")
        axe.check("request form")
        page.get_by_label("Your request").select_option("access")
        page.get_by_label("Your e-mail address").fill(kim)
        page.get_by_role("button", name="Send my request").click()
        page.get_by_text("If this address is yours").wait_for()
        request_mail = [m for m in smtp.mail_to(kim, count=2, seconds=30)
                        if "/p/requests/verify/" in m.get_content()][0]
        assert "Claire Martin" in request_mail["From"]  # the DPO's mail
        verify = re.search(r"(http://\S+/p/requests/verify/\S+)", request_mail.get_content())
        page.goto(verify.group(1))
        axe.check("request verify")
        page.get_by_role("button", name=re.compile("Confirm|Verify")).click()
        page.locator("#request-state").wait_for()
        _legal_block(page, "en")
        axe.check("request status")

        # Dead ends name the next step.
        page.goto(f"{server.base_url}/p/confirm/not-a-token")
        axe.check("error: forged link")
        page.goto(f"{server.base_url}/p/{acme.slug}/nothing-here")
        page.goto(f"{server.base_url}/p/no-such-tenant/subscribe")
        axe.check("error: unknown form")
        tampered = confirm[:-3] + ("AAA" if not confirm.endswith("AAA") else "BBB")
        page.goto(tampered)
        axe.check("error: tampered link")

        # Pale brand colours: text still reaches 4.5:1 (tenants.branding adapts it).
        page.goto(f"{server.base_url}/p/{pale.slug}/subscribe")
        axe.check("subscribe (pale brand)")

        # French, from the browser's language: the same information, in French.
        french = browser.new_context(locale="fr-FR").new_page()
        french.goto(f"{server.base_url}/p/{acme.slug}/subscribe")
        assert french.locator("html").get_attribute("lang") == "fr"
        assert AVIS in french.locator("blockquote").inner_text()
        _legal_block(french, "fr")
        Checker(french, engine).check("subscribe (fr)")
    assert axe.failures == [], axe.failures


def _link(smtp, to: str, path: str, count: int = 1) -> str:
    """The `path` link of the e-mails to `to` (the server's worker sends them)."""
    text = "".join(m.get_content() for m in smtp.mail_to(to, count=count, seconds=30))
    return re.search(rf"(http://\S+{path}\S+)", text).group(1)


def test_pages_reached_from_an_email_or_a_website_are_accessible(installation, smtp, acme,
                                                                  people, engine):
    """The pages the first test cannot reach by itself: re-consent, keep (the
    retention e-mail), the access request done with its package, and a form
    definition's hosted page — each the way its visitor gets there."""
    rea, sam, v2 = people
    with installation.serving(SMTP_URL=smtp.url) as server, running() as browser:
        api = processes.http(base_url=server.base_url, timeout=10, headers=acme.headers)
        page = browser.new_context(locale="en-GB").new_page()
        page.set_default_timeout(15_000)
        axe = Checker(page, engine)

        # Re-consent: staff start a campaign for those who agreed to version 1.
        segment = api.post("/v1/segments", json={"name": "before v2", "rules": {
            "type": "consent", "channel": "email", "purpose": "letter",
            "notice_version": {"lt": 2}}}).json()
        campaign = api.post("/v1/reconsent-campaigns", json={
            "name": "English notice", "segment_id": segment["id"], "purpose": "letter",
            "notice_id": v2})
        assert campaign.status_code == 201, campaign.text
        page.goto(_link(smtp, rea, "/p/reconsent/"))
        _branded(page)
        _controller_block(page)
        assert NOTICE in page.locator("blockquote").inner_text()
        assert ", ".join(PARTNERS) in page.locator("main").inner_text()
        axe.check("re-consent")
        page.get_by_role("button", name="I agree").click()
        page.get_by_text("your consent to").wait_for()
        axe.check("re-consent (done)")

        # Keep: the retention run asks Sam, silent for three years, to stay.
        installation.cli("retention", "--tenant", acme.slug)
        page.goto(_link(smtp, sam, "/p/keep/"))
        _branded(page)
        _legal_block(page, "en")
        axe.check("keep")
        page.get_by_role("button", name="Stay").click()
        page.get_by_text("keeps your details").wait_for()
        axe.check("keep (done)")

        # Access: Rea's request, completed by the DPO; the e-mail links the
        # status page with its download and the package itself.
        asked = api.post("/v1/requests", json={"kind": "access", "email": rea,
                                                "identity_verified": True}).json()
        done = api.post(f"/v1/requests/{asked['id']}/complete")
        assert done.status_code == 200, done.text
        package = _link(smtp, rea, "/p/requests/package/", count=2)
        status = re.findall(r"(http://\S+/p/requests/status/\S+)",
                            smtp.mail_to(rea, count=2)[-1].get_content())[-1]
        page.goto(status)
        assert "/p/requests/package/" in page.get_by_role(
            "link", name="Download my data").get_attribute("href")
        _controller_block(page)
        axe.check("request status (package)")
        answer = page.request.get(package)
        assert answer.headers["content-type"] == "application/zip", answer.headers
        page.goto(package[:-3] + ("AAA" if not package.endswith("AAA") else "BBB"))
        axe.check("error: tampered package link")

        # A form definition's hosted page, as a visitor of the tenant's site sees it.
        made = api.post("/v1/forms", json={
            "name": "Footer", "purposes": ["letter"], "channels": ["email", "sms"],
            "language": "en", "texts": {"title": "Join our letter", "intro": "Once a month."},
            "branding": {"colour": "#ffe066"},  # pale: its label must turn dark
            "fields": [{"name": "email", "required": True}, {"name": "first_name"},
                       {"name": "country"}]})
        assert made.status_code == 201, made.text
        form = f"{server.base_url}/p/{acme.slug}/forms/{made.json()['id']}"
        page.goto(form)
        _branded(page, button="rgb(255, 224, 102)")
        _controller_block(page)
        assert ", ".join(PARTNERS) in page.locator("fieldset").inner_text()  # named at collection
        axe.check("hosted form")
        # An error: as on the subscribe page, beside its field, nothing typed lost.
        page.get_by_label("E-mail address (required)").fill("kim-at-example.org")
        page.get_by_label("First name").fill("Kim")
        page.get_by_label("I agree, by e-mail").check()
        page.get_by_role("button", name="Subscribe").click()
        page.locator("[role=alert]").wait_for()
        email = page.get_by_label("E-mail address (required)")
        assert email.input_value() == "kim-at-example.org"
        assert page.get_by_label("First name").input_value() == "Kim"
        assert page.get_by_label("I agree, by e-mail").is_checked()
        assert not page.get_by_label("I agree, by SMS").is_checked()
        assert email.get_attribute("aria-invalid") == "true"
        described = page.locator(f"#{email.get_attribute('aria-describedby')}")
        assert "valid e-mail address" in described.inner_text()
        axe.check("hosted form (error)")
    assert axe.failures == [], axe.failures
