"""The forms LEDGER_SIGNING_KEY takes, and the development key: generated once,
the same for processes that start together, never readable by others."""

from __future__ import annotations

import base64
import multiprocessing
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from optinbase import ed25519


def _raw() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes_raw()


def test_every_documented_form_reads_as_the_same_key(tmp_path):
    raw = _raw()
    pem = ed25519.private_pem(raw)
    (tmp_path / "key.pem").write_text(pem)
    (tmp_path / "key.hex").write_text(raw.hex() + "\n")
    forms = [pem, pem.replace("\n", "\\n"), raw.hex(), base64.b64encode(raw).decode(),
             base64.urlsafe_b64encode(raw).decode().rstrip("="),
             str(tmp_path / "key.pem"), str(tmp_path / "key.hex")]
    assert {ed25519.load(form) for form in forms} == {raw}


@pytest.mark.parametrize("value, reason", [
    ("", "not an Ed25519 private key"),
    ("c2hvcnQ=", "not an Ed25519 private key"),  # base64, but 5 bytes
    ("ab" * 31, "not an Ed25519 private key"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "unreadable PEM"),
    ("./missing.pem", "no key file at ./missing.pem"),
])
def test_what_is_not_a_key_is_refused_with_a_reason(value, reason):
    with pytest.raises(ed25519.KeyProblem, match=reason):
        ed25519.load(value)


def test_another_kind_of_key_is_refused(tmp_path):
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    with pytest.raises(ed25519.KeyProblem, match="not an Ed25519 key"):
        ed25519.load(other)
    (tmp_path / "ec.pem").write_text(other)
    with pytest.raises(ed25519.KeyProblem, match="ec.pem: the PEM key is not an Ed25519 key"):
        ed25519.load(str(tmp_path / "ec.pem"))


def _create(path: str, start, out) -> None:
    from pathlib import Path

    start.wait()
    out.put(ed25519.load_or_create(Path(path)).hex())


def test_processes_starting_together_get_one_development_key(tmp_path):
    path = tmp_path / "dev" / ".optinbase-ledger-key"
    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_create, args=(str(path), start, out)) for _ in range(8)]
    for worker in workers:
        worker.start()
    start.set()
    keys = {out.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(timeout=30)
    assert len(keys) == 1 and keys == {ed25519.load(str(path)).hex()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    assert ed25519.load_or_create(path).hex() in keys  # and it stays
