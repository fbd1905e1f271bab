"""How each provider proves a call is its own, and how stale a call may be.

* SendGrid (signed event webhook): ECDSA P-256 / SHA-256 over
  `timestamp + raw body`, the DER signature base64 in
  `X-Twilio-Email-Event-Webhook-Signature`, the timestamp in
  `X-Twilio-Email-Event-Webhook-Timestamp`; verified with the public key the
  SendGrid console shows (base64 DER, SubjectPublicKeyInfo).
* Mailgun: `signature.signature` = hex HMAC-SHA256 of `timestamp + token`
  keyed with the webhook signing key (in the JSON body's `signature` object).
* Postmark: HTTP basic auth, a user and password we generate, put in the
  webhook URL (`https://user:password@host/...`).
* Brevo: `Authorization: Bearer <token>`, a token we generate.
* SES: SNS message signatures (`sns`).

Replay protection: SendGrid's and Mailgun's signed timestamps must be within
`WINDOW` of our clock (a captured request cannot be replayed later), and
every provider event is handled once per endpoint and event id
(`handling`), so a replay inside the window changes nothing either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import Optional

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from optinbase.errors import Unauthorized, invalid_field

WINDOW = 300  # seconds either side of our clock

SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"


def fresh(timestamp: str, now: Optional[float] = None) -> None:
    """Raises Unauthorized when a signed timestamp (unix seconds) is not
    within WINDOW of now: a replayed or forged call."""
    try:
        moment = float(timestamp)
    except (TypeError, ValueError):
        raise Unauthorized("the signed timestamp is missing or not a number") from None
    if abs((time.time() if now is None else now) - moment) > WINDOW:
        raise Unauthorized("the signed timestamp is too old or in the future (replayed?)")


def sendgrid_key(text: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or PEM."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error):
        raise invalid_field("verification_key", "is not a public key (base64 DER or PEM)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise invalid_field("verification_key", "must be an ECDSA P-256 public key")
    return key


def verify_sendgrid(key_text: str, headers: dict[str, str], body: bytes) -> None:
    signature, timestamp = headers.get(SENDGRID_SIGNATURE), headers.get(SENDGRID_TIMESTAMP)
    if not signature or not timestamp:
        raise Unauthorized("the SendGrid signature headers are missing")
    fresh(timestamp)
    try:
        sendgrid_key(key_text).verify(base64.b64decode(signature, validate=True),
                                      timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Unauthorized("the SendGrid signature does not verify") from None


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify_mailgun(signing_key: str, signature: object) -> None:
    if not isinstance(signature, dict):
        raise Unauthorized("the Mailgun signature object is missing")
    timestamp, token, given = (str(signature.get(k, "")) for k in ("timestamp", "token", "signature"))
    if not token or not given:
        raise Unauthorized("the Mailgun signature object is incomplete")
    fresh(timestamp)
    if not hmac.compare_digest(mailgun_signature(signing_key, timestamp, token), given):
        raise Unauthorized("the Mailgun signature does not verify")


def verify_basic(username: str, password: str, authorization: Optional[str]) -> None:
    scheme, _, value = (authorization or "").partition(" ")
    try:
        given = base64.b64decode(value, validate=True).decode() if scheme.lower() == "basic" else ""
    except (binascii.Error, UnicodeDecodeError):
        given = ""
    if not hmac.compare_digest(given.encode(), f"{username}:{password}".encode()):
        raise Unauthorized("basic authentication failed")


def verify_token(token: str, authorization: Optional[str]) -> None:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise Unauthorized("the token is missing or wrong")


def new_secret() -> str:
    return secrets.token_urlsafe(32)
