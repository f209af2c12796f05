-- The launcher's state: executions, their node states, the task cache, and
-- what the engine needs to notice lost workers and duplicate reports.

-- Closures are immutable and shared by many executions: stored once, by digest.
CREATE TABLE closures (
    digest      text PRIMARY KEY,
    closure     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per execution: identifiers, what the API shows, and the
-- execution-level fields of the engine's state. ``version`` grows with every
-- stored decision so a process can tell whether its cached state is current.
CREATE TABLE executions (
    id              bigserial   NOT NULL UNIQUE,
    key             text        PRIMARY KEY,
    project         text        NOT NULL,
    domain          text        NOT NULL,
    name            text        NOT NULL,
    workflow        jsonb       NOT NULL,
    workflow_name   text        NOT NULL,
    launch_plan     jsonb,
    launch_plan_name text,
    closure_digest  text        NOT NULL REFERENCES closures (digest),
    phase           text        NOT NULL,
    inputs          jsonb       NOT NULL,
    outputs         jsonb,
    error           jsonb,
    labels          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    next_seq        integer     NOT NULL,
    version         bigint      NOT NULL DEFAULT 0,
    active          integer     NOT NULL DEFAULT 0,
    stop            text,
    recovered       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    relaunched_from text,
    recovered_from  text,
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    updated_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    UNIQUE (project, domain, name)
);

CREATE INDEX executions_listing ON executions (project, domain, created_at DESC, id DESC);
CREATE INDEX executions_phase ON executions (phase) WHERE phase IN ('QUEUED', 'RUNNING', 'FAILING', 'ABORTING');

-- One row per node path: the engine's NodeState, upserted only when it changes.
CREATE TABLE nodes (
    execution_key text    NOT NULL REFERENCES executions (key),
    path          text    NOT NULL,
    position      integer NOT NULL,
    state         jsonb   NOT NULL,
    PRIMARY KEY (execution_key, path)
);

-- Attempts a worker runs: for heartbeat timeouts (WorkerLost).
CREATE TABLE running_attempts (
    execution_key  text        NOT NULL,
    node_path      text        NOT NULL,
    attempt        integer     NOT NULL,
    worker_id      text        NOT NULL,
    last_heartbeat timestamptz NOT NULL,
    PRIMARY KEY (execution_key, node_path, attempt)
);

CREATE INDEX running_attempts_heartbeat ON running_attempts (last_heartbeat);

-- Reports already applied, by the worker's report id (Kafka redelivers).
CREATE TABLE applied_reports (
    report_id   text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- The task cache: outputs by cache key (see services/launcher/domain/cache.py).
CREATE TABLE task_cache (
    cache_key     text PRIMARY KEY,
    outputs       jsonb       NOT NULL,
    task          jsonb       NOT NULL,
    execution_key text        NOT NULL,
    node_path     text        NOT NULL,
    attempt       integer     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
