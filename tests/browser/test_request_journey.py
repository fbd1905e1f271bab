"""A data-subject request end to end, in Chromium (Debian's, driven by
Playwright) against a real server process and a real SMTP server: the person
submits the public form, gets the verification e-mail, verifies; a DPO logs
into the admin panel and completes the request with its form; the person gets
the e-mail and downloads the package from the status page."""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
import zipfile

import httpx

from tests.browser.chromium import launch, sync_api
from tests.e2e.serving import COMMAND, serving
from tests.messaging.smtp import SmtpServer

PASSWORD = "correct horse battery"
PERSON = "lou@example.org"


def _mail(smtp: SmtpServer, count: int):
    deadline = time.monotonic() + 30
    while len(smtp.messages) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(smtp.messages) >= count, "no e-mail arrived"
    return smtp.messages[count - 1]


def test_request_submitted_verified_completed_in_the_admin_and_downloaded(tmp_path):
    smtp = SmtpServer().start()
    try:
        with serving(tmp_path, SMTP_URL=smtp.url) as server:
            server.cli("tenants", "create", "acme", "--name", "Acme SAS")
            key = server.cli("keys", "create", "--tenant", "acme").splitlines()[-1]
            staff = subprocess.run(
                [*COMMAND, "staff", "create", "dpo@acme.example", "--tenant", "acme",
                 "--role", "dpo", "--password-stdin"], input=PASSWORD + "\n",
                capture_output=True, text=True, timeout=60, cwd=server.workdir, env=server.env)
            assert staff.returncode == 0, staff.stderr
            api = httpx.Client(base_url=server.base_url, timeout=10,
                               headers={"Authorization": f"Bearer {key}"})
            api.post("/v1/purposes", json={"key": "letter", "name": "Monthly letter"}).raise_for_status()
            notice = api.post("/v1/notices", json={"purpose": "letter", "channels": ["email"],
                                                   "language": "en",
                                                   "text": "Send me the monthly letter."}).json()
            contact = api.post("/v1/contacts", json={"email": PERSON, "first_name": "Lou"}).json()
            api.post(f"/v1/contacts/{contact['id']}/consents", json={
                "channel": "email", "purpose": "letter", "action": "grant", "method": "web_form",
                "notice_id": notice["id"], "ip": "192.0.2.44"}).raise_for_status()

            with sync_api.sync_playwright() as playwright:
                browser = launch(playwright)
                person = browser.new_context(locale="en-GB", accept_downloads=True).new_page()
                person.goto(f"{server.base_url}/p/acme/requests")
                person.get_by_label("Your request").select_option("access")
                person.get_by_label("Your e-mail address").fill(PERSON)
                person.get_by_role("button", name="Send my request").click()
                person.get_by_text("If this address is yours").wait_for()

                verification = _mail(smtp, 1)
                assert verification["To"] == PERSON
                text = verification.get_content()
                verify = re.search(r"(http://\S+/p/requests/verify/\S+)", text).group(1)
                status = re.search(r"(http://\S+/p/requests/status/\S+)", text).group(1)
                person.goto(verify)
                person.get_by_role("button", name="Confirm").click()
                person.get_by_text("Confirmed; it is being handled.").wait_for()

                [request] = api.get("/v1/requests", params={"status": "verified"}).json()["items"]
                assert request["verification"] == "link"

                # The DPO completes it with the admin's form.
                dpo = browser.new_context().new_page()
                dpo.goto(f"{server.base_url}/admin/")
                dpo.fill('input[name="username"]', "dpo@acme.example")
                dpo.fill('input[type="password"]', PASSWORD)
                with dpo.expect_response("**/admin/public/login/") as login:
                    dpo.press('input[type="password"]', "Enter")
                assert login.value.status == 200
                dpo.wait_for_load_state("networkidle")
                dpo.goto(f"{server.base_url}/admin/#/data_subject_request")
                dpo.reload()
                dpo.get_by_text(request["id"][:8]).first.wait_for(timeout=15000)
                dpo.goto(f"{server.base_url}/admin/#/forms/complete-request")
                dpo.reload()
                field = dpo.locator('input[name="request_id"]')
                field.wait_for(timeout=15000)
                field.fill(request["id"])
                dpo.locator('input[name="reason"]').fill("Here is everything we hold.")
                with dpo.expect_response("**/admin/api/forms/complete-request/") as done:
                    dpo.get_by_role("button", name="Submit").click()
                assert done.value.status == 200, done.value.text()
                dpo.get_by_text("now completed").first.wait_for(timeout=15000)
                dpo.screenshot(path=str(tmp_path / "admin-completed.png"), full_page=True)

                outcome = _mail(smtp, 2)
                assert outcome["To"] == PERSON
                assert "/p/requests/package/" in outcome.get_content()
                person.goto(status)
                person.get_by_text("Done.").wait_for()
                with person.expect_download() as download:
                    person.get_by_role("link", name="Download my data").click()
                saved = tmp_path / "package.zip"
                download.value.save_as(saved)
                browser.close()

            archive = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
            data = json.loads(archive.read("data.json"))
            assert data["contact"]["email"] == PERSON
            assert data["consent_events"][0]["notice_text"] == "Send me the monthly letter."
            assert data["consent_events"][0]["ip"] == "192.0.2.44"
            trail = [e["action"] for e in api.get(f"/v1/requests/{request['id']}").json()["events"]]
            assert trail[:3] == ["received", "verification_sent", "verified"]
            assert "completed" in trail and trail[-1] == "package_downloaded"
    finally:
        smtp.stop()
