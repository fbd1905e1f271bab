"""Ed25519 key material for the ledger's signed checkpoints: the forms
`LEDGER_SIGNING_KEY` may take, the development key generated once, and the
public forms a third party needs (PEM, raw base64, key id).

The private key never enters the database: it is read from the environment
or a file at start-up, so whoever can write the database cannot sign.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_HEX = re.compile(r"[0-9a-fA-F]{64}")


class KeyProblem(ValueError):
    """The key value or file cannot be read as an Ed25519 private key."""


def _from_text(text: str) -> bytes:
    """Raw 32 private bytes from PEM (PKCS#8), 64 hex digits or base64 of 32 bytes."""
    text = text.strip().replace("\\n", "\n")  # PEM pasted into a one-line env file
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyProblem(f"unreadable PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyProblem("the PEM key is not an Ed25519 key")
        return key.private_bytes_raw()
    if _HEX.fullmatch(text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_"
                               if ("-" in text or "_" in text) else None, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise KeyProblem("not an Ed25519 private key (PEM, 64 hex digits or base64 of 32 bytes)")
    return raw


def load(value: str) -> bytes:
    """The raw private key from LEDGER_SIGNING_KEY: a key value or the path of a file holding one."""
    value = value.strip()
    if not value.startswith("-----BEGIN") and Path(value).is_file():
        try:
            return _from_text(Path(value).read_text())
        except KeyProblem as exc:
            raise KeyProblem(f"{value}: {exc}") from None
    try:
        return _from_text(value)
    except KeyProblem:
        if not value.startswith("-----BEGIN") and ("/" in value or value.startswith(".")):
            raise KeyProblem(f"no key file at {value}") from None
        raise


def load_or_create(path: Path) -> bytes:
    """The development key kept in `path`, generated on first use (mode 0600).

    Processes starting together (server and worker) must end up with the same
    key: the new key is written to a private temporary file and linked into
    place, which fails if another process got there first; then its key is read.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = private_pem(Ed25519PrivateKey.generate().private_bytes_raw())
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, pem.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    try:
        return _from_text(path.read_text())
    except KeyProblem as exc:
        raise KeyProblem(f"{path}: {exc}") from None


def private_pem(raw: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(raw)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_key(raw_private: bytes) -> Ed25519PublicKey:
    return Ed25519PrivateKey.from_private_bytes(raw_private).public_key()


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes_raw()


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw 32-byte public key: names
    the key in every checkpoint, so a rotated or foreign key is told apart."""
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def load_public(text: str) -> Ed25519PublicKey:
    """A public key as `GET /v1/ledger/public-key` gives it: standard base64 of
    the raw 32 bytes (`public_key`) or the PEM (`public_key_pem`)."""
    text = text.strip().replace("\\n", "\n")
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise KeyProblem("the PEM key is not an Ed25519 public key")
            return key
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise KeyProblem("not an Ed25519 public key (base64 of 32 bytes, or PEM)") from None
