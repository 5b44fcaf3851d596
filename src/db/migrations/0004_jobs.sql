-- Quorum 0004: transactional job enqueue for the runtime role.
-- The graphile_worker schema belongs to the owner (its tables have RLS enabled and no policy for
-- quorum_app), and on a fresh database it is created only after our own migrations have run. So
-- the runtime role gets ONE named door into the queue instead of grants on graphile-worker's
-- private tables: quorum.enqueue_job, which calls graphile_worker.add_job in the caller's
-- transaction (a rolled-back transaction leaves no job). plpgsql resolves graphile_worker.* at
-- call time, which is why this can be created before graphile-worker's own migrations.
--
-- Tenant guard: a tenant transaction may only enqueue jobs for its own org (payload org_id must be
-- quorum.current_org()), and job keys are namespaced by org so one org's key can never replace
-- (or dedupe against) another org's job.
create function quorum.enqueue_job(
  p_task text,
  p_payload jsonb,
  p_job_key text default null,
  p_priority integer default null,
  p_max_attempts integer default null,
  p_run_at timestamptz default null,
  p_queue_name text default null
)
returns bigint
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_org uuid := quorum.current_org();
  v_id bigint;
begin
  if v_org is null then
    raise exception 'enqueue_job: no tenant is set (enqueue inside withTenant)' using errcode = 'insufficient_privilege';
  end if;
  if lower(p_payload ->> 'org_id') is distinct from v_org::text then
    raise exception 'enqueue_job: payload org_id must be the current org' using errcode = 'insufficient_privilege';
  end if;
  if p_task !~ '^[a-z][a-z0-9_]{0,62}$' then
    raise exception 'enqueue_job: invalid task name' using errcode = 'invalid_parameter_value';
  end if;
  select j.id into v_id
    from graphile_worker.add_job(
      identifier => p_task,
      payload => p_payload::json,
      queue_name => case when p_queue_name is null then null else v_org::text || ':' || p_queue_name end,
      run_at => p_run_at,
      max_attempts => p_max_attempts,
      job_key => case when p_job_key is null then null else v_org::text || ':' || p_job_key end,
      priority => p_priority
    ) as j;
  return v_id;
end $$;

revoke all on function quorum.enqueue_job(text, jsonb, text, integer, integer, timestamptz, text) from public;
grant execute on function quorum.enqueue_job(text, jsonb, text, integer, integer, timestamptz, text) to quorum_app;
