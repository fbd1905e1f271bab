"""Amazon SNS message signatures (SES events reach us through SNS).

SNS signs a canonical string of the message's fields with the private key of
a certificate it publishes at `SigningCertURL`: RSA PKCS#1 v1.5 with SHA-1
(`SignatureVersion` 1) or SHA-256 (2). Anyone can send a message naming a
certificate URL, so the URL must be https on an SNS host
(`sns.<region>.amazonaws.com`, `.amazonaws.com.cn` in China) before it is
fetched; certificates are cached per URL. `SubscribeURL` is held to the same
hosts before we visit it to confirm a subscription.

Tests serve a certificate of their own from a local host named by
INBOUND_SNS_TEST_HOST (http, that host:port only; refused in production).
https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import re
from typing import Any, Optional
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from optinbase.errors import Unauthorized

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
TIMEOUT = httpx.Timeout(5.0)
_CACHE_SIZE = 64

# Fields of the canonical string, in order, by message type.
NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

_certificates: dict[str, rsa.RSAPublicKey] = {}


def string_to_sign(message: dict[str, Any]) -> bytes:
    """`Name\\nvalue\\n` for each field of the type's list that the message has
    (a Notification's Subject is optional)."""
    names = NOTIFICATION if message.get("Type") == "Notification" else CONFIRMATION
    return "".join(f"{n}\n{message[n]}\n" for n in names if message.get(n) is not None).encode()


def allowed_url(url: str, test_host: str = "") -> bool:
    """https on an SNS host; or http on the test host when one is configured."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return False
    if parts.username or parts.password:
        return False
    if parts.scheme == "https" and SNS_HOST.fullmatch(host) and port in (None, 443):
        return True
    return bool(test_host) and parts.scheme == "http" and parts.netloc == test_host


async def _certificate(url: str) -> rsa.RSAPublicKey:
    key = _certificates.get(url)
    if key is not None:
        return key
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False,
                                     follow_redirects=False) as client:
            answer = await client.get(url)
        answer.raise_for_status()
        key = x509.load_pem_x509_certificate(answer.content).public_key()
    except (httpx.HTTPError, ValueError) as exc:
        raise Unauthorized(f"the SNS signing certificate could not be used: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unauthorized("the SNS signing certificate does not hold an RSA key")
    if len(_certificates) >= _CACHE_SIZE:
        _certificates.pop(next(iter(_certificates)))
    _certificates[url] = key
    return key


async def verify(message: dict[str, Any], test_host: str = "") -> None:
    """Raises Unauthorized unless SNS signed `message`."""
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    url = message.get("SigningCertURL")
    if algorithm is None or not isinstance(url, str) or not allowed_url(url, test_host):
        raise Unauthorized("not an SNS message: unknown signature version or certificate host")
    if not url.endswith(".pem"):
        raise Unauthorized("not an SNS certificate URL")
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except ValueError:
        raise Unauthorized("the SNS signature is not base64") from None
    key = await _certificate(url)
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise Unauthorized("the SNS signature does not verify") from None


async def confirm_subscription(url: str, test_host: str = "") -> Optional[str]:
    """Visits SubscribeURL (an SNS host only): the subscription is then live.
    Returns why it failed, or None."""
    if not allowed_url(url, test_host):
        return "SubscribeURL is not an SNS host"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, trust_env=False,
                                     follow_redirects=False) as client:
            (await client.get(url)).raise_for_status()
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
