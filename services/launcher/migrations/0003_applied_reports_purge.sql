-- Applied report ids are purged once Kafka can no longer redeliver them in
-- practice (a redelivery follows a crash by seconds): by age, so by applied_at.
CREATE INDEX applied_reports_applied_at ON applied_reports (applied_at);
