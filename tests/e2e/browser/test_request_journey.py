"""A data-subject request end to end, in Chromium (Debian's, driven by
Playwright) against a real server process and a real SMTP server: the person
submits the public form, gets the verification e-mail, verifies; a DPO logs
into the admin panel and completes the request with its form; the person gets
the e-mail and downloads the package from the status page."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from tests import processes
from tests.admin.staff import PASSWORD, make_staff
from tests.e2e.browser.chromium import admin_page, running
from tests.factories import (
    grant,
    make_contact,
    make_notice,
    make_purpose,
    make_tenant,
    unique_slug,
)


@pytest.fixture
async def acme(engine: str):
    """A tenant, its DPO, and Lou, who gets the monthly letter (tests/factories.py)."""
    tenant = await make_tenant(slug=unique_slug("acme"), name="Acme SAS")
    dpo = await make_staff(tenant=tenant.slug, role="dpo")
    await make_purpose(tenant, "letter", name="Monthly letter")
    notice = await make_notice(tenant, "letter", ("email",), text="Send me the monthly letter.")
    lou = await make_contact(tenant, email=f"{unique_slug('lou')}@example.org", first_name="Lou")
    await grant(tenant, lou["id"], notice["id"], purpose="letter", method="web_form",
                ip="192.0.2.44")
    return tenant, dpo, lou["email"]


def test_request_submitted_verified_completed_in_the_admin_and_downloaded(installation, smtp,
                                                                           acme, tmp_path):
    tenant, dpo_email, lou = acme
    with installation.serving(SMTP_URL=smtp.url) as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)

        with running() as browser:
            person = browser.new_context(locale="en-GB", accept_downloads=True).new_page()
            person.goto(f"{server.base_url}/p/{tenant.slug}/requests")
            person.get_by_label("Your request").select_option("access")
            person.get_by_label("Your e-mail address").fill(lou)
            person.get_by_role("button", name="Send my request").click()
            person.get_by_text("If this address is yours").wait_for()

            verification = smtp.mail_to(lou, seconds=30)[0]
            assert verification["To"] == lou
            text = verification.get_content()
            verify = re.search(r"(http://\S+/p/requests/verify/\S+)", text).group(1)
            status = re.search(r"(http://\S+/p/requests/status/\S+)", text).group(1)
            person.goto(verify)
            person.get_by_role("button", name="Confirm").click()
            person.get_by_text("Confirmed; it is being handled.").wait_for()

            [request] = api.get("/v1/requests", params={"status": "verified"}).json()["items"]
            assert request["verification"] == "link"

            # The DPO completes it with the admin's form.
            dpo = admin_page(browser, server.base_url, dpo_email, PASSWORD,
                             path="/admin/#/data_subject_request")
            dpo.get_by_text(lou).first.wait_for(timeout=15000)  # listed by the person
            dpo.goto(f"{server.base_url}/admin/#/forms/complete-request")
            dpo.reload()
            field = dpo.locator('select[name="request_id"]')  # the open requests, by person
            field.wait_for(timeout=15000)
            field.select_option(request["id"])
            dpo.locator('input[name="reason"]').fill("Here is everything we hold.")
            with dpo.expect_response("**/admin/api/forms/complete-request/") as done:
                dpo.get_by_role("button", name="Submit").click()
            assert done.value.status == 200, done.value.text()
            dpo.get_by_text("now completed").first.wait_for(timeout=15000)
            dpo.screenshot(path=str(tmp_path / "admin-completed.png"), full_page=True)

            outcome = smtp.mail_to(lou, 2, seconds=30)[1]
            assert outcome["To"] == lou
            assert "/p/requests/package/" in outcome.get_content()
            person.goto(status)
            person.get_by_text("Done.").wait_for()
            with person.expect_download() as download:
                person.get_by_role("link", name="Download my data").click()
            saved = tmp_path / "package.zip"
            download.value.save_as(saved)

        archive = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
        data = json.loads(archive.read("data.json"))
        assert data["contact"]["email"] == lou
        assert data["consent_events"][0]["notice_text"] == "Send me the monthly letter."
        assert data["consent_events"][0]["ip"] == "192.0.2.44"
        trail = [e["action"] for e in api.get(f"/v1/requests/{request['id']}").json()["events"]]
        assert trail[:3] == ["received", "verification_sent", "verified"]
        assert "completed" in trail and trail[-1] == "package_downloaded"
