-- The scheduler's state: one row per active launch plan with a cron schedule,
-- learned from the registry's events (never from the registry's tables).
-- ``last_tick`` is the latest tick that fired (or was found already fired);
-- ticks at or before it never fire again.
CREATE TABLE schedules (
    project             text        NOT NULL,
    domain              text        NOT NULL,
    name                text        NOT NULL,
    version             text        NOT NULL,
    cron                text        NOT NULL,
    kickoff_time_input  text,
    active_since        timestamptz NOT NULL,
    last_tick           timestamptz,
    last_error          text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project, domain, name, version)
);

-- The tick an execution was created for; null for executions nobody scheduled.
ALTER TABLE executions ADD COLUMN scheduled_at timestamptz;
