-- Quorum 0009: the runtime role's door to take back a job it queued (see 0004 for enqueue_job).
-- A sync review run in the API process keeps a fallback job (due after a grace period) so that a
-- worker finishes the review if that process dies; once the review is complete, the job is removed
-- in the completing transaction instead of running later only to find nothing to do. Same tenant
-- guard as enqueue_job: keys are namespaced by the current org, so an org can only remove its own.
-- graphile_worker.remove_job deletes an unlocked job; a job a worker holds right now is left to
-- finish (and, for a review, finds it complete).
create function quorum.remove_job(p_job_key text)
returns boolean
language plpgsql volatile security definer set search_path = public, pg_temp as $$
declare
  v_org uuid := quorum.current_org();
  v_removed boolean;
begin
  if v_org is null then
    raise exception 'remove_job: no tenant is set (remove inside withTenant)' using errcode = 'insufficient_privilege';
  end if;
  select j.id is not null into v_removed from graphile_worker.remove_job(v_org::text || ':' || p_job_key) as j;
  return coalesce(v_removed, false);
end $$;

revoke all on function quorum.remove_job(text) from public;
grant execute on function quorum.remove_job(text) to quorum_app;
