"""E-mail providers' events in: each tenant creates an endpoint per provider
(`POST /v1/inbound-endpoints`) and pastes its URL (and our secret, or gives us
the provider's key) into the provider; `POST /inbound/{provider}/{id}` then
receives the provider's own payloads, checked by the provider's own scheme.

* `endpoints` — creating, listing and disabling endpoints; the public id.
* `schemes` — proving a call is the provider's (signatures, basic auth,
  tokens, timestamps); `sns` — Amazon SNS message signatures and certificates.
* `providers` — each provider's payload read into `ProviderEvent`s.
* `handling` — what an event does to the base (suppression, withdrawal,
  soft-bounce counting), once per provider event id.
"""
