-- Quorum 0006: queue statistics for /health/detailed and doctor. Aggregates only: task names and
-- counts, nothing of any org's payloads. graphile_worker.* is resolved at call time (its schema is
-- migrated after ours on a fresh database).
create function quorum.system_queue_stats()
returns table (task text, queued bigint, locked bigint, failed bigint, oldest_run_at timestamptz)
language plpgsql stable security definer set search_path = public, pg_temp as $$
begin
  return query
    select t.identifier::text,
           count(*) filter (where j.locked_at is null and j.attempts < j.max_attempts),
           count(*) filter (where j.locked_at is not null),
           count(*) filter (where j.attempts >= j.max_attempts),
           min(j.run_at) filter (where j.locked_at is null and j.attempts < j.max_attempts)
      from graphile_worker._private_jobs j
      join graphile_worker._private_tasks t on t.id = j.task_id
     group by t.identifier
     order by t.identifier;
end $$;
revoke all on function quorum.system_queue_stats() from public;
grant execute on function quorum.system_queue_stats() to quorum_app;
