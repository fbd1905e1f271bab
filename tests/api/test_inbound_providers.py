"""E-mail providers' events in, on both engines: an endpoint per provider,
each provider's documented payload signed in the test with real keys (SNS's
certificate served from a local host), valid, forged, replayed and batched;
hard bounce → suppression, complaint → withdrawal (esp_complaint) and
suppression, unsubscribe → withdrawal (esp_unsubscribe), soft bounces
counted; unknown addresses ignored; another tenant's endpoint is absent."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from messaging.inbound import sns
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant
from tests.local_site import LocalSite

SNS_CERT_PATH = "/SimpleNotificationService-test.pem"


def soon() -> str:
    """Just after the grants the test made (providers' event times are when the
    person acted; an older withdrawal does not override a later grant)."""
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).isoformat()


@dataclasses.dataclass
class Person:
    tenant: object
    contact: dict
    email: str


async def person(email: str = "anne@example.com") -> Person:
    tenant = await make_tenant()
    await make_purpose(tenant, "newsletter")
    await make_purpose(tenant, "promos")
    letters = await make_notice(tenant, "newsletter", channels=("email", "sms"))
    promos = await make_notice(tenant, "promos", channels=("email",))
    contact = await make_contact(tenant, email=email, phone="+33612345699")
    await grant(tenant, contact["id"], letters["id"], channel="email")
    await grant(tenant, contact["id"], promos["id"], channel="email", purpose="promos")
    await grant(tenant, contact["id"], letters["id"], channel="sms")
    return Person(tenant, contact, email)


async def endpoint(client, tenant, provider: str, **extra) -> dict:
    answer = await client.post("/v1/inbound-endpoints", headers=tenant.headers,
                               json={"provider": provider, **extra})
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["url"].endswith(f"/inbound/{provider}/{made['id']}")
    return made


def path_of(made: dict) -> str:
    return "/inbound/" + made["url"].split("/inbound/", 1)[1]


async def states(client, p: Person) -> dict:
    rows = (await client.get(f"/v1/contacts/{p.contact['id']}/consents",
                             headers=p.tenant.headers)).json()
    return {(s["channel"], s["purpose"]): s["status"] for s in rows}


async def suppressed(client, tenant, email: str) -> list[str]:
    answer = await client.get("/v1/suppressions/check", params={"email": email},
                              headers=tenant.headers)
    return answer.json()["channels"]


async def methods(client, p: Person) -> list[str]:
    rows = (await client.get(f"/v1/contacts/{p.contact['id']}/consent-events",
                             headers=p.tenant.headers)).json()
    items = rows["items"] if isinstance(rows, dict) else rows
    return [e["method"] for e in items]


async def contact_count(client, tenant) -> int:
    answer = await client.get("/v1/contacts", params={"limit": 500}, headers=tenant.headers)
    return len(answer.json()["items"])


# --- SendGrid ---------------------------------------------------------------------


class SendGrid:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                "Content-Type": "application/json"}


def sendgrid_event(email: str, event: str, **extra) -> dict:
    return {"email": email, "timestamp": int(time.time()) + 1, "event": event,
            "sg_event_id": uuid.uuid4().hex, "sg_message_id": "msg." + uuid.uuid4().hex, **extra}


async def test_sendgrid_batch_valid_forged_and_replayed(client):
    p = await person()
    other = await make_contact(p.tenant, email="bob@example.com")
    sg = SendGrid()
    made = await endpoint(client, p.tenant, "sendgrid", verification_key=sg.public)
    batch = [
        sendgrid_event(p.email, "delivered"),
        sendgrid_event(p.email, "spamreport"),
        sendgrid_event("bob@example.com", "bounce", type="bounce", reason="550 no such user"),
        sendgrid_event("nobody@example.com", "bounce", type="bounce"),
    ]
    body = json.dumps(batch).encode()
    answer = await client.post(path_of(made), content=body, headers=sg.headers(body))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 4, "duplicates": 0, "ignored": 2, "suppressed": 2,
                             "withdrawn": 2, "soft_bounces": 0}
    assert await states(client, p) == {("email", "newsletter"): "withdrawn",
                                       ("email", "promos"): "withdrawn",
                                       ("sms", "newsletter"): "granted"}
    assert (await methods(client, p))[-2:] == ["esp_complaint", "esp_complaint"]
    assert await suppressed(client, p.tenant, p.email) == ["email"]
    assert await suppressed(client, p.tenant, "bob@example.com") == ["email"]
    # The unknown address made no contact.
    assert await contact_count(client, p.tenant) == 2 and other

    # Replayed inside the window: every event is known (the delivery needs
    # nothing and is not kept), nothing changes.
    again = await client.post(path_of(made), content=body, headers=sg.headers(body))
    assert again.status_code == 200
    assert (again.json()["duplicates"], again.json()["ignored"]) == (3, 1)
    # Replayed with its original headers after the window: refused.
    stale = sg.headers(body, timestamp=int(time.time()) - 3600)
    assert (await client.post(path_of(made), content=body, headers=stale)).status_code == 401
    # Forged: another key, a changed body, no signature.
    forged = SendGrid().headers(body)
    assert (await client.post(path_of(made), content=body, headers=forged)).status_code == 401
    tampered = body.replace(b"spamreport", b"delivered")
    assert (await client.post(path_of(made), content=tampered,
                              headers=sg.headers(body))).status_code == 401
    assert (await client.post(path_of(made), content=body)).status_code == 401


async def test_a_batch_goes_in_whole_or_not_at_all(client):
    p = await person()
    sg = SendGrid()
    made = await endpoint(client, p.tenant, "sendgrid", verification_key=sg.public)
    # A well-signed batch whose last element is not an event: refused whole.
    body = json.dumps([sendgrid_event(p.email, "bounce", type="bounce"), 42]).encode()
    answer = await client.post(path_of(made), content=body, headers=sg.headers(body))
    assert answer.status_code == 422, answer.text
    assert await suppressed(client, p.tenant, p.email) == []
    huge = json.dumps([sendgrid_event(p.email, "delivered")] * 1001).encode()
    answer = await client.post(path_of(made), content=huge, headers=sg.headers(huge))
    assert answer.status_code in (413, 422), answer.text


async def test_sendgrid_key_is_checked_at_creation(client):
    tenant = await make_tenant()
    for bad in ({}, {"verification_key": "bm90IGEga2V5"},
                {"verification_key": base64.b64encode(rsa.generate_private_key(65537, 2048)
                 .public_key().public_bytes(serialization.Encoding.DER,
                 serialization.PublicFormat.SubjectPublicKeyInfo)).decode()}):
        answer = await client.post("/v1/inbound-endpoints", headers=tenant.headers,
                                   json={"provider": "sendgrid", **bad})
        assert answer.status_code == 422, (bad, answer.text)
    answer = await client.post("/v1/inbound-endpoints", headers=tenant.headers,
                               json={"provider": "pigeon"})
    assert answer.status_code in (400, 422)


# --- Mailgun ------------------------------------------------------------------------


def mailgun_body(key: str, recipient: str, event: str, *, stamp: int | None = None,
                 token: str | None = None, **data) -> bytes:
    stamp_text = str(int(time.time()) if stamp is None else stamp)
    token = token or uuid.uuid4().hex
    signature = hmac.new(key.encode(), (stamp_text + token).encode(), hashlib.sha256).hexdigest()
    return json.dumps({
        "signature": {"timestamp": stamp_text, "token": token, "signature": signature},
        "event-data": {"event": event, "recipient": recipient, "id": uuid.uuid4().hex,
                       "timestamp": time.time() + 1, **data},
    }).encode()


async def test_mailgun_hard_bounce_unsubscribe_forged_replayed(client):
    p = await person()
    key = "key-" + uuid.uuid4().hex
    made = await endpoint(client, p.tenant, "mailgun", signing_key=key)
    unsubscribe = mailgun_body(key, p.email, "unsubscribed")
    answer = await client.post(path_of(made), content=unsubscribe)
    assert answer.status_code == 200 and answer.json()["withdrawn"] == 2, answer.text
    assert (await methods(client, p))[-1] == "esp_unsubscribe"
    assert await suppressed(client, p.tenant, p.email) == []
    bounce = mailgun_body(key, p.email, "failed", severity="permanent")
    assert (await client.post(path_of(made), content=bounce)).json()["suppressed"] == 1
    assert await suppressed(client, p.tenant, p.email) == ["email"]
    # Replayed: the event id is known.
    assert (await client.post(path_of(made), content=bounce)).json()["duplicates"] == 1
    old = mailgun_body(key, p.email, "failed", severity="permanent", stamp=int(time.time()) - 900)
    assert (await client.post(path_of(made), content=old)).status_code == 401
    forged = mailgun_body("key-other", p.email, "complained")
    assert (await client.post(path_of(made), content=forged)).status_code == 401
    # Text that is not JSON is the handler's 422; bytes that cannot be JSON at all
    # (a raw NUL) are refused by the edge first, a 400 like on every JSON route
    # (api.guard).
    assert (await client.post(path_of(made), content=b"not json")).status_code == 422
    assert (await client.post(path_of(made), content=b"\x00not json")).status_code == 400


# --- Postmark and Brevo -------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_postmark_basic_auth(client):
    p = await person()
    made = await endpoint(client, p.tenant, "postmark")
    assert made["url_with_credentials"].startswith(f"http://{made['username']}:{made['password']}@")
    bounce = json.dumps({"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1,
                         "ID": 4323372036854775807, "Email": p.email,
                         "BouncedAt": "2026-11-30T10:00:00Z", "MessageID": str(uuid.uuid4())})
    auth = basic(made["username"], made["password"])
    assert (await client.post(path_of(made), content=bounce,
                              headers=basic(made["username"], "wrong"))).status_code == 401
    assert (await client.post(path_of(made), content=bounce)).status_code == 401
    answer = await client.post(path_of(made), content=bounce, headers=auth)
    assert answer.status_code == 200 and answer.json()["suppressed"] == 1, answer.text
    assert (await client.post(path_of(made), content=bounce,
                              headers=auth)).json()["duplicates"] == 1
    complaint = json.dumps({"RecordType": "SpamComplaint", "Type": "SpamComplaint",
                            "ID": 42, "Email": p.email.upper(),
                            "BouncedAt": soon()})
    answer = await client.post(path_of(made), content=complaint, headers=auth)
    assert answer.json()["withdrawn"] == 2
    assert sorted(await suppressed(client, p.tenant, p.email)) == ["email"]


async def test_brevo_token_and_soft_bounces_counted(client):
    p = await person()
    answer = await client.patch("/v1/tenant", headers=p.tenant.headers,
                                json={"settings": {"soft_bounce_limit": 2, "soft_bounce_days": 7}})
    assert answer.status_code == 200, answer.text
    made = await endpoint(client, p.tenant, "brevo")
    auth = {"Authorization": f"Bearer {made['token']}"}

    def soft(n: int) -> bytes:
        return json.dumps({"event": "soft_bounce", "email": p.email, "id": 1,
                           "message-id": f"<{n}@smtp-relay.mailin.fr>",
                           "ts_event": int(time.time()) + 1, "reason": "mailbox full"}).encode()

    first = await client.post(path_of(made), content=soft(1), headers=auth)
    assert first.json() == {"received": 1, "duplicates": 0, "ignored": 0, "suppressed": 0,
                            "withdrawn": 0, "soft_bounces": 1}
    assert await suppressed(client, p.tenant, p.email) == []
    second = await client.post(path_of(made), content=soft(2), headers=auth)
    assert second.json()["suppressed"] == 1
    assert await suppressed(client, p.tenant, p.email) == ["email"]
    assert (await client.post(path_of(made), content=soft(3),
                              headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_brevo_batch_valid_forged_and_replayed(client):
    """Brevo's batched webhooks post a list of events: handled together, once."""
    p = await person()
    await make_contact(p.tenant, email="bob@example.com")
    made = await endpoint(client, p.tenant, "brevo")
    auth = {"Authorization": f"Bearer {made['token']}"}
    stamp = int(time.time()) + 1
    batch = json.dumps([
        {"event": "delivered", "email": p.email, "message-id": "<1@relay>", "ts_event": stamp},
        {"event": "unsubscribed", "email": p.email, "message-id": "<2@relay>", "ts_event": stamp},
        {"event": "hard_bounce", "email": "bob@example.com", "message-id": "<3@relay>",
         "ts_event": stamp},
        {"event": "spam", "email": "nobody@example.com", "message-id": "<4@relay>",
         "ts_event": stamp},
    ]).encode()
    for forged in ({}, {"Authorization": "Bearer " + made["token"][:-1] + "x"},
                   {"Authorization": f"Basic {made['token']}"}):
        assert (await client.post(path_of(made), content=batch, headers=forged)).status_code == 401
    assert await states(client, p) == {("email", "newsletter"): "granted",
                                       ("email", "promos"): "granted",
                                       ("sms", "newsletter"): "granted"}
    answer = await client.post(path_of(made), content=batch, headers=auth)
    assert answer.json() == {"received": 4, "duplicates": 0, "ignored": 2, "suppressed": 1,
                             "withdrawn": 2, "soft_bounces": 0}, answer.text
    assert (await methods(client, p))[-2:] == ["esp_unsubscribe", "esp_unsubscribe"]
    assert await suppressed(client, p.tenant, "bob@example.com") == ["email"]
    assert await contact_count(client, p.tenant) == 2  # nobody@ made no contact
    replayed = await client.post(path_of(made), content=batch, headers=auth)
    assert replayed.json() == {"received": 4, "duplicates": 3, "ignored": 1, "suppressed": 0,
                               "withdrawn": 0, "soft_bounces": 0}, replayed.text


async def test_another_tenants_endpoint_is_absent(client):
    mine, theirs = await person(), await person()
    made = await endpoint(client, theirs.tenant, "brevo")
    auth = {"Authorization": f"Bearer {made['token']}"}
    body = json.dumps({"event": "hard_bounce", "email": mine.email, "message-id": "<x@y>",
                       "ts_event": int(time.time())}).encode()
    endpoint_hex = made["id"][32:]
    for path in (f"/inbound/brevo/{mine.tenant.id.hex}{endpoint_hex}",  # my tenant, their endpoint
                 f"/inbound/sendgrid/{made['id']}",  # the wrong provider
                 f"/inbound/pigeon/{made['id']}", "/inbound/brevo/not-an-id",
                 f"/inbound/brevo/{uuid.uuid4().hex}{endpoint_hex}"):
        answer = await client.post(path, content=body, headers=auth)
        assert answer.status_code == 404, (path, answer.text)
    assert await suppressed(client, mine.tenant, mine.email) == []
    # Disabled endpoints read as absent too; listing shows no secret.
    listed = (await client.get("/v1/inbound-endpoints", headers=theirs.tenant.headers)).json()
    assert [e["id"] for e in listed] == [made["id"]] and "token" not in listed[0]
    assert (await client.delete(f"/v1/inbound-endpoints/{made['id']}",
                                headers=mine.tenant.headers)).status_code == 404
    assert (await client.delete(f"/v1/inbound-endpoints/{made['id']}",
                                headers=theirs.tenant.headers)).status_code == 204
    assert (await client.post(path_of(made), content=body, headers=auth)).status_code == 404


# --- SES through SNS ------------------------------------------------------------------


class SnsHost:
    """A local stand-in for sns.<region>.amazonaws.com: serves the signing
    certificate and records visits to SubscribeURL."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=1))
                .sign(self.key, hashes.SHA256()))
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.site = LocalSite(lambda path: ("text/plain", self.pem if path == SNS_CERT_PATH
                                            else b"<ConfirmSubscriptionResponse/>"))
        self.netloc, self.visits = self.site.netloc, self.site.visits

    def message(self, kind: str, *, version: str = "1", topic: str = "arn:aws:sns:eu-west-1:1:ses",
                key=None, **fields) -> bytes:
        message = {"Type": kind, "MessageId": str(uuid.uuid4()), "TopicArn": topic,
                   "Timestamp": dt.datetime.now(dt.timezone.utc).isoformat(), **fields,
                   "SignatureVersion": version,
                   "SigningCertURL": f"http://{self.netloc}{SNS_CERT_PATH}"}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(sns.string_to_sign(message), padding.PKCS1v15(),
                                           algorithm)
        message["Signature"] = base64.b64encode(signature).decode()
        return json.dumps(message).encode()

    def notification(self, ses: dict, **kw) -> bytes:
        return self.message("Notification", Message=json.dumps(ses), **kw)


def ses_bounce(email: str, bounce_type: str = "Permanent") -> dict:
    return {"notificationType": "Bounce",
            "bounce": {"bounceType": bounce_type, "bounceSubType": "General",
                       "bouncedRecipients": [{"emailAddress": email}],
                       "timestamp": soon(), "feedbackId": str(uuid.uuid4())},
            "mail": {"messageId": str(uuid.uuid4()), "source": "news@example.org"}}


def ses_complaint(*emails: str) -> dict:
    return {"notificationType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": e} for e in emails],
                          "timestamp": soon(),
                          "feedbackId": str(uuid.uuid4()), "complaintFeedbackType": "abuse"},
            "mail": {"messageId": str(uuid.uuid4())}}


@pytest.fixture
def sns_host(app):
    host = SnsHost()
    settings = app.state.settings
    app.state.settings = dataclasses.replace(settings, inbound_sns_test_host=host.netloc)
    yield host
    app.state.settings = settings
    host.site.stop()


async def test_ses_through_sns(client, sns_host):
    p = await person()
    made = await endpoint(client, p.tenant, "ses")
    path = path_of(made)
    confirm = sns_host.message("SubscriptionConfirmation", Token="tok",
                               Message="You have chosen to subscribe",
                               SubscribeURL=f"http://{sns_host.netloc}/confirm?Token=tok")
    answer = await client.post(path, content=confirm)
    assert answer.status_code == 200, answer.text
    assert "/confirm?Token=tok" in sns_host.visits  # visited once committed
    listed = (await client.get("/v1/inbound-endpoints", headers=p.tenant.headers)).json()
    assert listed[0]["topic_arn"] == "arn:aws:sns:eu-west-1:1:ses"

    # Signature version 2 (SHA-256); a complaint naming the person and a stranger.
    complaint = sns_host.notification(ses_complaint(p.email, "stranger@example.com"), version="2")
    answer = await client.post(path, content=complaint)
    assert answer.json()["withdrawn"] == 2 and answer.json()["ignored"] == 1, answer.text
    assert (await methods(client, p))[-1] == "esp_complaint"
    assert await suppressed(client, p.tenant, p.email) == ["email"]
    assert (await client.post(path, content=complaint)).json()["duplicates"] == 2

    # Version 1 (SHA-1): a soft bounce is counted, not suppressed.
    soft = sns_host.notification(ses_bounce(p.email, "Transient"))
    assert (await client.post(path, content=soft)).json()["soft_bounces"] == 1

    # Forged: another key; another topic; a certificate from a host that is not SNS.
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = sns_host.notification(ses_bounce(p.email), key=forger)
    assert (await client.post(path, content=bad)).status_code == 401
    other_topic = sns_host.notification(ses_bounce(p.email), topic="arn:aws:sns:eu-west-1:2:evil")
    assert (await client.post(path, content=other_topic)).status_code == 401
    message = json.loads(sns_host.notification(ses_bounce(p.email)))
    message["SigningCertURL"] = "https://evil.example.com/SimpleNotificationService-x.pem"
    assert (await client.post(path, content=json.dumps(message))).status_code == 401
    message["SignatureVersion"] = "3"
    assert (await client.post(path, content=json.dumps(message))).status_code == 401


@pytest.mark.parametrize("url,ok", [
    ("https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
    ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
    ("http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem", False),
    ("https://sns.eu-west-1.amazonaws.com.evil.com/x.pem", False),
    ("https://evil.com/sns.eu-west-1.amazonaws.com/x.pem", False),
    ("https://user@sns.eu-west-1.amazonaws.com/x.pem", False),
    ("https://sns.eu-west-1.amazonaws.com:8443/x.pem", False),
    ("https://s3.amazonaws.com/x.pem", False),
    ("http://127.0.0.1:9/x.pem", False),
])
def test_sns_certificate_hosts(url, ok):
    assert sns.allowed_url(url) is ok


async def test_ses_endpoint_named_topic_refuses_others(client, sns_host):
    """Any AWS account can send a signed confirmation to a URL it learnt: an
    endpoint created with its topic takes that topic only, from the start."""
    p = await person()
    mine = "arn:aws:sns:eu-west-1:123456789012:ses-events"
    made = await endpoint(client, p.tenant, "ses", topic_arn=mine)
    intruder = sns_host.message("SubscriptionConfirmation", Token="t", Message="m",
                                topic="arn:aws:sns:eu-west-1:999999999999:evil",
                                SubscribeURL=f"http://{sns_host.netloc}/confirm?Token=evil")
    assert (await client.post(path_of(made), content=intruder)).status_code == 401
    assert "/confirm?Token=evil" not in sns_host.visits
    bounce = sns_host.notification(ses_bounce(p.email), topic=mine)
    assert (await client.post(path_of(made), content=bounce)).json()["suppressed"] == 1
    answer = await client.post("/v1/inbound-endpoints", headers=p.tenant.headers,
                               json={"provider": "brevo", "topic_arn": mine})
    assert answer.status_code == 422
