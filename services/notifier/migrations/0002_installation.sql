-- When the notifier was installed: an execution event that happened before it is
-- consumed without alerting, so a first deployment (or a new consumer group, which
-- starts at the topic's earliest offset) does not replay the topic's history as alerts.
-- One row, written once. A notifier already running when this migration arrives was
-- installed at its first recorded activity (so nothing it would have alerted on is skipped).

CREATE TABLE installation (
    one          boolean     PRIMARY KEY DEFAULT true CHECK (one),
    installed_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO installation (installed_at)
SELECT least(
    (SELECT min(consumed_at) FROM consumed_events),
    (SELECT min(created_at) FROM deliveries),
    (SELECT min(created_at) FROM subscriptions),
    now()
);
