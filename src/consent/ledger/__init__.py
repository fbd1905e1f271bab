"""The proof core: the per-tenant hash-chained ledger of consent events
(`chain`), the current-state projection written beside every event (`states`),
and the change notifications that follow them (`notify`). Everything that
records a consent change goes through `states.record_events`."""
