"""What the hub measures for Prometheus: request latency (`requests`), counts of what workers do,
kept in Redis so every process adds to one total (`counters`), and who may read them (`access`).
The scrape itself, with the gauges read from the database at scrape time, is `portal.metrics`."""
