"""Individual tracking in e-mails: open pixels and per-person tracked links.

CNIL, draft recommendation on tracking pixels in e-mails (2025), applying
Art. 82 of the loi Informatique et Libertés (ePrivacy Art. 5(3)): reading
whether *this* person opened *this* e-mail, or which link they followed, needs
their prior consent; measuring an aggregate, non-identifying open rate and
security uses (anti-fraud, spam filtering) do not.

Here that consent is a purpose of kind `tracking` on the `email` channel:
* asked on its own — its notices cover the e-mail channel only, so it is its
  own box on the forms, never ticked along with the newsletter;
* withdrawn like any other consent: from the preference centre every e-mail
  links to (export column `preferences_url`), its one-click link, the API;
* answered where contact happens: the e-mail consent check and e-mail exports
  say `tracking_allowed` per person, so the sending tool can strip the pixel
  and the tracked links for everyone else.

`tracking_allowed` is true only when the message may be sent at all (the
check's `allowed`) and the person holds a valid (granted, not expired) consent
to one of the tenant's tracking purposes on the e-mail channel.
"""

from __future__ import annotations

TRACKING = "tracking"


def granted_sql(tenant: str, contact: str, now: str = "{}") -> str:
    """A condition true when the contact `contact` (an SQL expression, e.g.
    `c.id`) of tenant `tenant` (an expression pinned to one tenant) holds a
    valid tracking consent on e-mail; `now` is the placeholder of the time."""
    return (
        "EXISTS (SELECT 1 FROM consent_state t JOIN purpose tp ON tp.tenant_id = t.tenant_id"
        f" AND tp.id = t.purpose_id WHERE t.tenant_id = {tenant} AND t.contact_id = {contact}"
        " AND t.channel = 'email' AND tp.kind = 'tracking' AND t.status = 'granted'"
        f" AND (t.expires_at IS NULL OR t.expires_at > {now}))"
    )


def offered_sql(tenant: str) -> str:
    """A condition true when tenant `tenant` has a tracking purpose at all. It
    names no row of the outer query, so the database evaluates it once per
    statement: a batch check guards `granted_sql` with it, and a tenant who
    never asks for tracking consent pays no lookup per person."""
    return (f"EXISTS (SELECT 1 FROM purpose tq WHERE tq.tenant_id = {tenant}"
            " AND tq.kind = 'tracking')")


# For the consent check (consent.consents), where `p` is the asked purpose and
# `s` the state for the asked channel: only an e-mail check pays for the lookup.
GRANTED_SQL = ("CASE WHEN s.channel = 'email' THEN "
               + granted_sql("p.tenant_id", "c.id").replace("{}", "{{}}") + " ELSE FALSE END")
