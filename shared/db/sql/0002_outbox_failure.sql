-- A record Kafka can never accept (larger than the broker allows) is set aside
-- with the reason instead of blocking every record after it.
ALTER TABLE outbox ADD COLUMN failure text;
