"""The event bus: transactional outbox, derived subscriptions, one delivery per
(event, subscription), retries with backoff, held / dead states and replay."""
