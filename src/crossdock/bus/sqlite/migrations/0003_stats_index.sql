-- Queue statistics read from this index alone, without the table or a sort: the intake
-- refreshes them every second for back-pressure and the queue gauges, at any backlog.
CREATE INDEX entries_stats ON entries (destination, flow, state, enqueued_at, attempt, available_at);
