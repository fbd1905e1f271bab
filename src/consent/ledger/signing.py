"""What a checkpoint signs, and how anyone checks it.

A checkpoint is the server's signed statement "at time `at`, event `seq` of
tenant `tenant_id`'s chain had hash `hash`". Since each event's hash covers
the one before, it commits to the whole history up to `seq`: deleting,
rewinding or rewriting any of it afterwards contradicts the checkpoint, which
lives outside the database (log file, receipts, webhooks).

The signed bytes are ASCII, five lines joined by "\\n" (no trailing newline):

    optinbase-ledger-checkpoint/v1
    <tenant id: lower-case UUID with dashes>
    <seq: decimal>
    <hash: 64 lower-case hex digits>
    <at: RFC 3339 UTC, microseconds, "Z">

signed with Ed25519 (RFC 8032); `signature` is the standard base64 of the 64
signature bytes. A third party needs only the public key
(`GET /v1/ledger/public-key`) and an Ed25519 library to check one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass
from functools import lru_cache

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consent.ledger.chain import canonical_time
from optinbase import ed25519
from optinbase.settings import get_settings

FORMAT = "optinbase-ledger-checkpoint/v1"


class Checkpoint(msgspec.Struct, kw_only=True, frozen=True):
    """One signed checkpoint, as logged, embedded in receipts and sent by webhook."""

    format: str
    tenant_id: str
    seq: int
    hash: str
    at: str
    key_id: str
    signature: str


class RetiredKey(msgspec.Struct, kw_only=True):
    key_id: str
    public_key: str


class PublicKeyOut(msgspec.Struct, kw_only=True):
    algorithm: str
    key_id: str
    public_key: str  # standard base64 of the raw 32-byte key (RFC 8032)
    public_key_pem: str  # SubjectPublicKeyInfo
    format: str
    signed_message: str
    # Keys rotated out whose checkpoints still verify (LEDGER_RETIRED_PUBLIC_KEYS).
    retired_keys: list[RetiredKey] = []


def message(tenant_id: str, seq: int, hash_: str, at: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return "\n".join([FORMAT, tenant_id, str(seq), hash_, at]).encode("ascii")


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    key_id: str


@lru_cache(maxsize=4)
def _signer(raw: bytes) -> Signer:
    private = Ed25519PrivateKey.from_private_bytes(raw)
    public = private.public_key()
    return Signer(private, public, ed25519.key_id(public))


def signer() -> Signer:
    """This server's key (LEDGER_SIGNING_KEY, read once at start-up)."""
    return _signer(get_settings().ledger_signing_key)


def sign(tenant_id: uuid.UUID, seq: int, hash_: str, at: dt.datetime) -> Checkpoint:
    key = signer()
    tenant, when = str(tenant_id), canonical_time(at)
    signature = key.private.sign(message(tenant, seq, hash_, when))
    return Checkpoint(format=FORMAT, tenant_id=tenant, seq=seq, hash=hash_, at=when,
                      key_id=key.key_id, signature=base64.b64encode(signature).decode())


def signature_problem(checkpoint: Checkpoint, tenant_id: uuid.UUID) -> str | None:
    """Why `checkpoint` is not this server's signed statement about this
    tenant's chain, or None. Checked field by field so the answer says which."""
    key = signer()
    if checkpoint.format != FORMAT:
        return f"unknown format {checkpoint.format[:40]!r}"
    if checkpoint.tenant_id != str(tenant_id):
        return "it is another tenant's checkpoint"
    public = key.public if checkpoint.key_id == key.key_id else retired_keys().get(
        checkpoint.key_id)
    if public is None:
        return (f"signed by another key (key id {checkpoint.key_id[:32]!r};"
                f" this server's is {key.key_id}, none retired matches)")
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        public.verify(signature, message(
            checkpoint.tenant_id, checkpoint.seq, checkpoint.hash, checkpoint.at))
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        return "bad signature: the checkpoint was altered or not signed by this server"
    return None


def retired_keys() -> dict[str, Ed25519PublicKey]:
    """Keys rotated out (LEDGER_RETIRED_PUBLIC_KEYS), by key id."""
    return {ed25519.key_id(k): k for k in get_settings().ledger_retired_public_keys}


def public_key() -> PublicKeyOut:
    key = signer()
    return PublicKeyOut(
        algorithm="Ed25519", key_id=key.key_id,
        public_key=base64.b64encode(ed25519.public_raw(key.public)).decode(),
        public_key_pem=ed25519.public_pem(key.public),
        retired_keys=[RetiredKey(key_id=key_id,
                                 public_key=base64.b64encode(ed25519.public_raw(k)).decode())
                      for key_id, k in sorted(retired_keys().items())],
        format=FORMAT,
        signed_message="ASCII lines joined by \\n, no trailing newline: format, tenant_id,"
                       " seq (decimal), hash (hex), at (RFC 3339 UTC with microseconds, Z);"
                       " signature = base64(Ed25519(signed_message))",
    )
