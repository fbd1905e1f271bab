"""Long-running work beside the HTTP server: periodic housekeeping
(`housekeeping`) next to the outbox worker (`messaging.outbox.OutboxWorker`).
Both run in the server process and in `optinbase worker`; this package sits
above the domains and is imported only by entry points."""
