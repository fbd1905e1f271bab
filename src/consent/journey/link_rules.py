"""What a link that travels may do (DESIGN, threat model).

The preference and unsubscribe links are in every e-mail, every
`List-Unsubscribe` header and every export row: e-mail providers and campaign
tools hold them, people forward e-mails. Whoever holds one is not known to be
the person, so through a link:

* a withdrawal is instant (withdrawing is as easy as giving);
* a new grant becomes `requested`, on every channel and whatever the
  tenant's double opt-in channels, and the confirmation e-mail of the subscribe
  form goes to the contact's address: only a click there, by whoever reads that
  mailbox, grants (DESIGN: a link "may withdraw but never create consent that
  the person did not confirm"). A contact without an e-mail address is
  offered no new grant at all;
* a new grant on SMS or phone is never offered: no confirmation can reach the
  phone (Optinbase has no SMS provider), and holding an e-mail link proves
  nothing about who holds the phone. What is already granted or pending on
  those channels can still be withdrawn;
* nor is a new grant on a channel the person is on the suppression list for;
* every event records which link was used (`source`: the link's purpose,
  channel and a fingerprint of the token) and when (`collected_at`).
"""

from __future__ import annotations

import hashlib

from consent.schemas import PHONE_CHANNELS

# Channels whose confirmation would have to reach a phone: none can be sent.
UNCONFIRMABLE = PHONE_CHANNELS
HELD = ("granted", "pending")  # what a box shows ticked


def offered(channel: str, status: str, has_email: bool, suppressed: bool) -> bool:
    """Whether the preference centre shows this box: always when there is
    something to withdraw, else only when a confirmed grant could follow
    (never for a channel the person is on the suppression list for:
    suppression wins)."""
    if status in HELD:
        return True
    return has_email and channel not in UNCONFIRMABLE and not suppressed


def proof(kind: str, purpose_key: str, channel: str, token: str) -> str:
    """The event's `source`: which link (its fingerprint, not the token: the
    ledger must not hold a working link) was used. Personal data like every
    source (consent.ledger.chain): erasure blanks it."""
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:16]
    return f"{kind} link {purpose_key}/{channel}, fingerprint {fingerprint}"
