"""Logs without personal data, with a request id: a real server process (its
in-process outbox worker and housekeeping too) runs the subscriber journey, an
import, a data-subject request and an erasure with recognisable values; its
whole output (standard output and error, at DEBUG) is then searched for every
e-mail, phone, name, subscriber IP, link token and API key secret — none may
be there. Every line is one JSON object; every answer, errors included,
carries `X-Request-ID`."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import uuid
from pathlib import Path


from tests import processes
from tests.factories import make_notice, make_purpose, make_tenant, unique_slug
from tests.messaging.smtp import free_port


def _mail_to(folder: Path, address: str) -> email.message.EmailMessage:
    """The e-mail to `address` the server's worker wrote to MAIL_DIR (it also
    delivers what earlier tests left queued in the shared database)."""
    deadline = time.monotonic() + 30
    while True:
        for path in sorted(folder.glob("*.eml")):
            mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if mail["To"] == address:
                return mail
        assert time.monotonic() < deadline, f"no e-mail to {address} in {folder}"
        time.sleep(0.2)


async def test_no_personal_data_in_logs(installation, engine, tmp_path):
    tenant = await make_tenant(slug=unique_slug("logs"), name="Logs SAS", country="FR")
    await make_purpose(tenant, "news", name="News")
    notice = await make_notice(tenant, "news", ("email",), language="en", text="I want news.")
    mark = uuid.uuid4().hex[:8]
    subscriber, phone = f"hortense.{mark}@example.org", "+33 6 12 34 56 78"
    imported = [(f"imported.{mark}.{i}@example.net", f"+3361234{i:04d}", f"Ermengarde{mark}{i}",
                 f"Fitzgerald{mark}{i}") for i in range(3)]
    asker = f"asker.{mark}@example.com"
    ips = ["203.0.113.91", "198.51.100.23", "2001:db8::77"]
    mail_dir = tmp_path / "mail"
    with installation.serving(MAIL_DIR=str(mail_dir), LOG_LEVEL="DEBUG",
                              WEBHOOK_ALLOW_PRIVATE="1") as server:
        api = processes.http(base_url=server.base_url, timeout=20, headers=tenant.headers)
        public = processes.http(base_url=server.base_url, timeout=20)
        hook = api.post("/v1/webhooks", json={"url": f"http://127.0.0.1:{free_port()}/hook",
                                              "events": ["consent.changed", "contact.erased"]})
        assert hook.status_code == 201, hook.text  # nobody listens: deliveries fail, are retried

        form = public.post(f"/p/{tenant.slug}/subscribe", json={
            "email": subscriber, "phone": phone,
            "consents": [{"channel": "email", "purpose": "news", "notice_id": notice["id"]}]},
            headers={"Accept": "application/json", "X-Forwarded-For": ips[1],
                     "X-Request-ID": "forged-by-a-client", "User-Agent": f"Agent{mark}"})
        assert form.status_code in (200, 202), form.text
        assert form.headers["x-request-id"] != "forged-by-a-client"  # no trusted proxy
        confirmation = _mail_to(mail_dir, subscriber)
        text = confirmation.get_body(("plain",)).get_content()  # multipart/alternative
        link = re.search(r"(http://\S+/p/confirm/\S+)", text).group(1)
        assert public.get(link).status_code == 200
        assert public.post(link).status_code == 200
        unsubscribe = re.search(r"<([^>]+)>", confirmation["List-Unsubscribe"]).group(1)
        preferences = re.search(r"(http://\S+/p/preferences/\S+)", text)
        if preferences:
            assert public.get(preferences.group(1)).status_code == 200
        assert public.post(unsubscribe, content=b"List-Unsubscribe=One-Click", headers={
            "Content-Type": "application/x-www-form-urlencoded"}).status_code == 200

        rows = "\n".join(f"{e},{p},{f},{l},news,email,{notice['id']},2026-01-02T03:04:05Z,{ips[0]}"
                         for e, p, f, l in imported)
        csv = ("email,phone,first_name,last_name,consent_purpose,consent_channel,notice_id,"
               f"collected_at,ip\n{rows}\nnot-an-address.{mark},,,,,,,,\n")
        job = api.post("/v1/imports", content=csv.encode(), headers={"Content-Type": "text/csv"})
        assert job.status_code == 202, job.text
        assert api.get(f"/v1/imports/{job.json()['id']}").json()["rejected"] == 1

        found = api.get("/v1/contacts", params={"email": imported[0][0]}).json()["items"][0]
        granted = api.post(f"/v1/contacts/{found['id']}/consents", json={
            "channel": "email", "purpose": "news", "action": "withdraw", "method": "api",
            "ip": ips[2], "user_agent": f"Agent{mark}"})
        assert granted.status_code == 201, granted.text
        bad = api.post("/v1/contacts", json={"email": f"broken@{mark}", "first_name": 5})
        assert bad.status_code == 422 and bad.headers["x-request-id"]
        asked = public.post(f"/p/{tenant.slug}/requests",
                            json={"kind": "access", "email": asker},
                            headers={"Accept": "application/json"})
        assert asked.status_code in (200, 202), asked.text
        verify = re.search(r"(http://\S+/p/requests/verify/\S+)",
                           _mail_to(mail_dir, asker).get_body(("plain",)).get_content()).group(1)
        assert public.get(verify).status_code == 200
        assert api.delete(f"/v1/contacts/{found['id']}").status_code == 204
        forged = public.get("/p/confirm/forged.token.value")
        assert forged.status_code == 404 and forged.headers["x-request-id"]
        missing = public.get(f"/nowhere/{subscriber}")
        assert missing.status_code == 404 and missing.headers["x-request-id"]
        time.sleep(1.5)  # the worker's next pass (deliveries, retries) is in the log too

    log = (installation.workdir / "server.log").read_text()
    tokens = [link.rsplit("/", 1)[1], unsubscribe.rsplit("/", 1)[1], verify.rsplit("/", 1)[1]]
    needles = [subscriber, asker, "+33612345678", "06 12 34 56 78", *ips, tenant.key,
               tenant.key.split("_", 2)[2], *tokens, f"broken@{mark}", f"not-an-address.{mark}"]
    needles += [v for row in imported for v in (row[0], row[2], row[3], row[1])]
    assert [n for n in needles if n in log] == []

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    requests = [line for line in lines if line["message"] == "request"]
    assert len(requests) >= 15
    for line in requests:
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"]), line
        assert {"method", "route", "status", "duration_ms"} <= set(line), line
    routes = {line["route"] for line in requests}
    assert "/p/confirm/{token}" in routes and "unmatched" in routes
    assert all("{" in r or r in ("unmatched", "/admin") or "/" in r for r in routes)
    api_lines = [line for line in requests if line["route"].startswith("/v1/")]
    assert api_lines and all(line["tenant_id"] == str(tenant.id) for line in api_lines)
    # The confirmation mail was written by the worker under the id of the request
    # that queued it.
    form_id = form.headers["x-request-id"]
    assert any(line.get("request_id") == form_id and line["logger"] == "optinbase.mail"
               for line in lines), [line for line in lines if line["logger"] == "optinbase.mail"]


async def test_quiet_by_default_one_line_per_request(installation, engine):
    tenant = await make_tenant(slug=unique_slug("quiet"))
    with installation.serving() as server:
        start = len((installation.workdir / "server.log").read_text().splitlines())
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)
        answers = [api.get("/v1/tenant"), api.get("/v1/purposes"), api.get("/health"),
                   api.post("/v1/purposes", json={"key": "x", "name": "X"})]
        assert [a.status_code for a in answers] == [200, 200, 200, 201]
        ids = {a.headers["x-request-id"] for a in answers}
        assert len(ids) == 4
        time.sleep(0.3)
        new = (installation.workdir / "server.log").read_text().splitlines()[start:]
    lines = [json.loads(line) for line in new if line.strip()]
    mine = [line for line in lines if line.get("request_id") in ids]
    assert len(mine) == 4 and all(line["message"] == "request" for line in mine)
