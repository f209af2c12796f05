-- The metrics service's accounting: what each task attempt and execution
-- used, the hourly roll-ups that summaries read, the inbox of applied event
-- ids, and how far ingest has got. Every row is written by one transaction
-- per fetched batch of contrail.executions, with the ids of its events.

-- The inbox: an event id here was applied; a redelivered one is skipped.
CREATE TABLE applied_events (
    id          text        PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per task attempt that reached a terminal phase.
CREATE TABLE attempts (
    id                      bigserial   NOT NULL UNIQUE,
    execution_key           text        NOT NULL,
    node_id                 text        NOT NULL,
    attempt                 integer     NOT NULL,
    project                 text        NOT NULL,
    domain                  text        NOT NULL,
    execution_name          text        NOT NULL,
    workflow                text        NOT NULL,
    launch_plan             text        NOT NULL,
    task                    text        NOT NULL,
    phase                   text        NOT NULL,
    worker                  text        NOT NULL,
    queued_at               timestamptz,
    started_at              timestamptz,
    ended_at                timestamptz NOT NULL,
    wall_seconds            double precision NOT NULL,
    cpu_seconds             double precision NOT NULL,
    peak_memory_bytes       bigint      NOT NULL,
    requested_cpu           double precision,
    requested_memory_bytes  bigint,
    limit_cpu               double precision,
    limit_memory_bytes      bigint,
    error_kind              text,
    error_code              text,
    labels                  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    event_id                text        NOT NULL,
    PRIMARY KEY (execution_key, node_id, attempt)
);

CREATE INDEX attempts_ended ON attempts (ended_at);

-- One row per execution, its latest phase; ``terminal`` once it ended.
CREATE TABLE executions (
    key               text        PRIMARY KEY,
    project           text        NOT NULL,
    domain            text        NOT NULL,
    name              text        NOT NULL,
    workflow          text        NOT NULL,
    launch_plan       text        NOT NULL,
    phase             text        NOT NULL,
    terminal          boolean     NOT NULL,
    queued_at         timestamptz,
    started_at        timestamptz,
    ended_at          timestamptz,
    duration_seconds  double precision,
    labels            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    trigger           jsonb,
    updated_at        timestamptz NOT NULL
);

-- One row per node served from the cache.
CREATE TABLE cache_hits (
    execution_key  text        NOT NULL,
    node_id        text        NOT NULL,
    at             timestamptz NOT NULL,
    PRIMARY KEY (execution_key, node_id)
);

-- Sketches are jsonb objects of bucket key -> count; they merge by adding counts.
CREATE FUNCTION sketch_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
    FROM (
        SELECT k, sum(v::bigint) AS n
        FROM (
            SELECT key AS k, value AS v FROM jsonb_each_text(coalesce(a, '{}'::jsonb))
            UNION ALL
            SELECT key, value FROM jsonb_each_text(coalesce(b, '{}'::jsonb))
        ) AS both_sketches
        GROUP BY k
    ) AS merged
$$;

CREATE AGGREGATE sketch_sum(jsonb) (
    SFUNC = sketch_merge,
    STYPE = jsonb,
    INITCOND = '{}'
);

-- The roll-ups: one row per hour and combination of the dimensions. Execution
-- rows have task = '' and worker = ''; cache hits task = '' and worker = ''.
CREATE TABLE rollups (
    hour                          timestamptz NOT NULL,
    project                       text        NOT NULL,
    domain                        text        NOT NULL,
    workflow                      text        NOT NULL,
    launch_plan                   text        NOT NULL,
    task                          text        NOT NULL,
    phase                         text        NOT NULL,
    worker                        text        NOT NULL,
    labels                        jsonb       NOT NULL,
    executions                    bigint      NOT NULL DEFAULT 0,
    succeeded                     bigint      NOT NULL DEFAULT 0,
    failed                        bigint      NOT NULL DEFAULT 0,
    attempts                      bigint      NOT NULL DEFAULT 0,
    attempts_succeeded            bigint      NOT NULL DEFAULT 0,
    attempts_failed               bigint      NOT NULL DEFAULT 0,
    retries                       bigint      NOT NULL DEFAULT 0,
    first_attempts                bigint      NOT NULL DEFAULT 0,
    cache_hits                    bigint      NOT NULL DEFAULT 0,
    oom_kills                     bigint      NOT NULL DEFAULT 0,
    wall_seconds                  double precision NOT NULL DEFAULT 0,
    cpu_seconds                   double precision NOT NULL DEFAULT 0,
    cpu_reserved_seconds          double precision NOT NULL DEFAULT 0,
    memory_byte_seconds           double precision NOT NULL DEFAULT 0,
    memory_reserved_byte_seconds  double precision NOT NULL DEFAULT 0,
    requested_cpu_max             double precision NOT NULL DEFAULT 0,
    requested_memory_max          bigint      NOT NULL DEFAULT 0,
    peak_memory_max               bigint      NOT NULL DEFAULT 0,
    execution_durations           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    task_durations                jsonb       NOT NULL DEFAULT '{}'::jsonb,
    peak_memory                   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    cpu_cores                     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (hour, project, domain, workflow, launch_plan, task, phase, worker, labels)
);

CREATE INDEX rollups_project_hour ON rollups (project, domain, hour);

-- How far ingest has got: the newest event applied (its time) and when.
CREATE TABLE ingest_progress (
    id               integer     PRIMARY KEY CHECK (id = 1),
    newest_event_at  timestamptz,
    applied_at       timestamptz,
    events           bigint      NOT NULL DEFAULT 0
);

INSERT INTO ingest_progress (id) VALUES (1);
