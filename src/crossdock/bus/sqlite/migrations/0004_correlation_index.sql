-- Messages found by correlation id; only the messages that have one are in the index.
CREATE INDEX messages_correlation ON messages (correlation_id) WHERE correlation_id IS NOT NULL;
