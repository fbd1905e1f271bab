"""Forms on the tenants' own websites: versioned definitions (`definitions`),
their bodies (`schemas`), and what a submission records (`submission`).
Rendering and the embed snippets are the API's (api.controllers.public_forms)."""
