-- Coarser roll-ups, maintained by ingest in the same transaction as the fine
-- one (rollups), like an OLAP engine's aggregate tables: per project, domain,
-- workflow, launch plan and phase, without task, worker and labels, by hour
-- (rollups_workflow_hourly) and by UTC day (rollups_workflow_daily). A summary
-- reads the coarsest one that has every dimension and filter it asks for
-- (services/metrics/domain/levels.py). They have the same sums, maxima and
-- mergeable sketches as rollups, so the answer is the same; `hour` is the start
-- of the row's bucket. Filled here from the existing fine rows.

DO $$
DECLARE
    level record;
BEGIN
    FOR level IN SELECT * FROM (VALUES ('hourly', 'hour'), ('daily', 'day')) AS l(name, bucket)
    LOOP
        EXECUTE format(
            'CREATE TABLE %1$I (LIKE rollups INCLUDING DEFAULTS);
             ALTER TABLE %1$I DROP COLUMN task, DROP COLUMN worker, DROP COLUMN labels,
                 ADD PRIMARY KEY (hour, project, domain, workflow, launch_plan, phase);
             CREATE INDEX %2$I ON %1$I (project, domain, hour);
             INSERT INTO %1$I
             SELECT date_trunc(%3$L, hour, ''UTC''), project, domain, workflow, launch_plan, phase,
                 sum(executions), sum(succeeded), sum(failed), sum(attempts),
                 sum(attempts_succeeded), sum(attempts_failed), sum(retries),
                 sum(first_attempts), sum(cache_hits), sum(oom_kills), sum(wall_seconds),
                 sum(cpu_seconds), sum(cpu_reserved_seconds), sum(memory_byte_seconds),
                 sum(memory_reserved_byte_seconds), max(requested_cpu_max),
                 max(requested_memory_max), max(peak_memory_max),
                 sketch_sum(execution_durations), sketch_sum(task_durations),
                 sketch_sum(peak_memory), sketch_sum(cpu_cores)
             FROM rollups GROUP BY 1, project, domain, workflow, launch_plan, phase',
            'rollups_workflow_' || level.name,
            'rollups_workflow_' || level.name || '_project_hour',
            level.bucket
        );
    END LOOP;
END
$$;
