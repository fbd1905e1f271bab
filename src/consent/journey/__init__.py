"""The subscriber journey: what the public pages do (`pages`) — the hosted
subscribe form (`subscription`), double opt-in confirmation (`double_opt_in`),
one-click unsubscribe, the preference centre — and SMS STOP replies
(`sms_stop`). Built on the ledger core; never imported by it."""
