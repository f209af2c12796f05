-- The notifier: subscriptions, the inbox of handled events, streaks, dedup, deliveries.

CREATE TABLE subscriptions (
    id          bigserial   PRIMARY KEY,
    rule_id     text        NOT NULL UNIQUE,
    spec        jsonb       NOT NULL,
    paused      boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every execution event handled: a replayed one is skipped.
CREATE TABLE consumed_events (
    event_id    text        PRIMARY KEY,
    consumed_at timestamptz NOT NULL DEFAULT now()
);

-- Failures in a row per launch plan (or workflow), and the open PagerDuty incidents.
CREATE TABLE streaks (
    key         text        PRIMARY KEY,
    failures    integer     NOT NULL DEFAULT 0,
    incidents   jsonb       NOT NULL DEFAULT '{}'::jsonb
);

-- The same rule, subject and phase alert once.
CREATE TABLE alerted (
    key         text        PRIMARY KEY,
    alerted_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deliveries (
    id              bigserial   NOT NULL UNIQUE,
    delivery_id     uuid        PRIMARY KEY,
    rule_id         text        NOT NULL,
    channel         text        NOT NULL,
    target          text        NOT NULL,
    execution       text,
    phase           text,
    alert           text        NOT NULL DEFAULT 'match',
    dedup_key       text        NOT NULL,
    template        text,
    subject         jsonb,
    digest_window   bigint,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);

CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_execution ON deliveries (execution, id DESC);
CREATE INDEX deliveries_rule ON deliveries (rule_id, id DESC);
-- At most one digest per rule, channel and window.
CREATE UNIQUE INDEX deliveries_digest ON deliveries (rule_id, channel, target, digest_window)
    WHERE digest_window IS NOT NULL;

-- The executions a digest gathers.
CREATE TABLE digest_items (
    delivery_id uuid        NOT NULL REFERENCES deliveries (delivery_id),
    position    bigserial,
    subject     jsonb       NOT NULL,
    PRIMARY KEY (delivery_id, position)
);
