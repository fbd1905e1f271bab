"""Subscriber link tokens: they name their subject, and nothing altered or
signed with another key is accepted."""

from __future__ import annotations

import base64
import uuid

import pytest

from consent.tokens import LinkToken, Signer, make_token, verify_token

KEY = "k" * 48


def _subject() -> LinkToken:
    return LinkToken(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "social_ads")


def test_a_token_names_its_subject():
    subject = _subject()
    token = make_token(KEY, subject.tenant_id, subject.contact_id, subject.purpose_id,
                       subject.channel)
    assert verify_token(KEY, token) == subject
    assert token.isascii() and "=" not in token and "/" not in token and "+" not in token


def test_export_signer_matches_make_token():
    subject = _subject()
    signer = Signer(KEY, subject.tenant_id, subject.purpose_id, subject.channel)
    assert signer.token(subject.contact_id) == make_token(
        KEY, subject.tenant_id, subject.contact_id, subject.purpose_id, subject.channel)
    long_key = "x" * 100  # longer than the SHA-256 block: hashed first, as HMAC does
    assert verify_token(long_key, Signer(long_key, subject.tenant_id, subject.purpose_id,
                                         "email").token(subject.contact_id)) is not None


def test_every_altered_byte_is_refused():
    subject = _subject()
    token = make_token(KEY, subject.tenant_id, subject.contact_id, subject.purpose_id, "email")
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    for index in range(len(raw)):
        altered = bytearray(raw)
        altered[index] ^= 0x01
        forged = base64.urlsafe_b64encode(bytes(altered)).rstrip(b"=").decode()
        assert verify_token(KEY, forged) is None, index


@pytest.mark.parametrize("token", ["", "x", "not base64 !!", "A" * 88, "A" * 200, "é" * 10])
def test_garbage_is_refused(token):
    assert verify_token(KEY, token) is None


def test_another_key_or_another_contact_is_refused():
    subject = _subject()
    token = make_token(KEY, subject.tenant_id, subject.contact_id, subject.purpose_id, "sms")
    assert verify_token("z" * 48, token) is None
    other = make_token(KEY, subject.tenant_id, uuid.uuid4(), subject.purpose_id, "sms")
    assert verify_token(KEY, other).contact_id != subject.contact_id
    # Splicing one token's MAC onto another's subject fails.
    assert verify_token(KEY, token[:66] + other[66:]) is None


def test_every_channel_has_a_code():
    from consent.schemas import CHANNELS
    from consent.tokens import CHANNEL_CODES

    assert set(CHANNELS) <= set(CHANNEL_CODES)
    for channel in CHANNELS:
        subject = LinkToken(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), channel)
        assert verify_token(KEY, make_token(KEY, subject.tenant_id, subject.contact_id,
                                            subject.purpose_id, channel)) == subject
