-- Stable, read-only views for BI tools (Metabase, Superset, Grafana's PostgreSQL
-- source), and the role that may read them and nothing else. docs/usage.md
-- documents each column; a change to these views is a change of contract.
--
--   usage_attempts    one row per task attempt that ended
--   usage_executions  one row per execution, its latest phase
--   usage_hourly      the roll-ups: one row per hour and dimensions
--   usage_daily       usage_hourly summed per UTC day (no sketches)
--
-- GB is 2^30 bytes. Reserved = requested x wall time (what was used when a
-- task requests nothing).

CREATE VIEW usage_attempts AS
SELECT
    project, domain, execution_name, workflow, launch_plan, task, node_id, attempt,
    phase, worker, queued_at, started_at, ended_at,
    wall_seconds, cpu_seconds, peak_memory_bytes,
    requested_cpu, requested_memory_bytes, limit_cpu, limit_memory_bytes,
    coalesce(requested_cpu * wall_seconds, cpu_seconds) / 3600.0 AS cpu_hours_reserved,
    cpu_seconds / 3600.0 AS cpu_hours,
    peak_memory_bytes * wall_seconds / 1073741824.0 / 3600.0 AS memory_gb_hours,
    coalesce(requested_memory_bytes, peak_memory_bytes) * wall_seconds
        / 1073741824.0 / 3600.0 AS memory_gb_hours_reserved,
    error_kind, error_code, error_code = 'OOMKilled' AS oom_killed, labels
FROM attempts;

CREATE VIEW usage_executions AS
SELECT
    project, domain, name, workflow, launch_plan, phase, terminal,
    queued_at, started_at, ended_at, duration_seconds, labels,
    trigger ->> 'kind' AS trigger_kind, trigger ->> 'principal' AS trigger_principal, trigger
FROM executions;

CREATE VIEW usage_hourly AS
SELECT
    hour, project, domain, workflow, launch_plan, task, phase, worker, labels,
    executions, succeeded, failed, attempts, attempts_succeeded, attempts_failed,
    retries, cache_hits, oom_kills,
    wall_seconds / 3600.0 AS wall_hours,
    cpu_seconds / 3600.0 AS cpu_hours,
    cpu_reserved_seconds / 3600.0 AS cpu_hours_reserved,
    memory_byte_seconds / 1073741824.0 / 3600.0 AS memory_gb_hours,
    memory_reserved_byte_seconds / 1073741824.0 / 3600.0 AS memory_gb_hours_reserved,
    execution_durations, task_durations
FROM rollups;

CREATE VIEW usage_daily AS
SELECT
    date_trunc('day', hour, 'UTC') AS day, project, domain, workflow, launch_plan, task,
    phase, worker,
    sum(executions) AS executions, sum(succeeded) AS succeeded, sum(failed) AS failed,
    sum(attempts) AS attempts, sum(attempts_succeeded) AS attempts_succeeded,
    sum(attempts_failed) AS attempts_failed, sum(retries) AS retries,
    sum(cache_hits) AS cache_hits, sum(oom_kills) AS oom_kills,
    sum(wall_seconds) / 3600.0 AS wall_hours,
    sum(cpu_seconds) / 3600.0 AS cpu_hours,
    sum(cpu_reserved_seconds) / 3600.0 AS cpu_hours_reserved,
    sum(memory_byte_seconds) / 1073741824.0 / 3600.0 AS memory_gb_hours,
    sum(memory_reserved_byte_seconds) / 1073741824.0 / 3600.0 AS memory_gb_hours_reserved
FROM rollups
GROUP BY 1, project, domain, workflow, launch_plan, task, phase, worker;

-- contrail_usage_reader: SELECT on the views above, nothing else. A BI tool's
-- login is made a member of it (docs/usage.md). Creating the role needs
-- CREATEROLE; without it the views are still made and a notice says so.
DO $$
DECLARE
    can_create boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'contrail_usage_reader') THEN
        SELECT rolsuper OR rolcreaterole INTO can_create
        FROM pg_roles WHERE rolname = current_user;
        IF can_create THEN
            CREATE ROLE contrail_usage_reader NOLOGIN;
        ELSE
            RAISE NOTICE 'no role contrail_usage_reader: % may not create roles', current_user;
            RETURN;
        END IF;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO contrail_usage_reader', current_schema());
    EXECUTE format(
        'GRANT SELECT ON %1$I.usage_attempts, %1$I.usage_executions, %1$I.usage_hourly, '
        '%1$I.usage_daily TO contrail_usage_reader',
        current_schema()
    );
END
$$;
