-- Quorum 0008: fairness shared by every process, and a cheaper quorum.gate_acquire.
--
-- Fairness across processes. Each process orders its own waiting calls by virtual token counters
-- (VTC), but processes hold different mixes of orgs: a process serving only a heavy org would take
-- the shared buckets as fast as one serving a light org and a heavy one. So the counters are also
-- kept here, per pool and org, and the pool admits a call only while its org is not ahead of every
-- other org waiting anywhere by more than the call's slack. An org counts as waiting (backlogged)
-- while some process reports it in its queue (`backlogged_until`, refreshed by every acquire that
-- process makes); an org that becomes backlogged again is lifted to the lowest counter of those
-- waiting (or to the highest of the pool when nobody waits), so idle time banks no credit.
-- System table: ids and counters only, nothing of an org's content; reviewed in the schema guard.
create table gate_fairness (
  pool text not null check (length(pool) <= 100),
  org uuid not null references orgs (id) on delete cascade,
  counter double precision not null default 0,
  backlogged_until timestamptz not null,
  primary key (pool, org)
);
grant select, insert, update, delete on gate_fairness to quorum_app;

drop function quorum.gate_acquire(text[], double precision[], double precision[], boolean[], double precision);

-- Takes p_amounts[i] from every bucket p_keys[i] (capacity p_caps[i] per minute) if ALL have enough
-- and, when p_pool is given, the org p_org is not ahead in fairness; otherwise takes nothing and
-- says how long to wait. Same contract as 0007 for the buckets: the caller's own limits
-- (p_tenant[i]) are checked before the shared pool; rows locked in key order (no deadlocks); the
-- clock read only once every lock is held (a timestamp taken before waiting could be older than the
-- holder's and refill an interval twice); updated_at never moves back; bucket rows are created on
-- first use. Fairness (p_pool not null): p_waiting are the orgs the calling process has waiting for
-- this pool (marked backlogged for p_backlog_ms); the call is refused with blocked_fair when p_org's
-- counter exceeds the lowest counter of the other backlogged orgs by more than p_slack; admitted,
-- p_org's counter grows by p_service (its weighted service). Fairness rows are read and written
-- while the pool's bucket rows are locked, so pool admissions are serialized and never race.
-- p_headroom_ms: a pool bucket admits only when it would still hold that much refill afterwards.
-- The provider takes its tokens when the request ARRIVES, some time after we took ours; if its
-- bucket sat full meanwhile, the refill we counted in between was wasted on its side. The headroom
-- absorbs that (it is a threshold, not a charge: nothing is lost while the pool stays busy).
create function quorum.gate_acquire(
  p_keys text[], p_caps double precision[], p_amounts double precision[], p_tenant boolean[], p_headroom_ms double precision,
  p_pool text, p_org uuid, p_waiting uuid[], p_service double precision, p_slack double precision, p_backlog_ms double precision)
returns table (ok boolean, wait_ms double precision, blocked_key text, blocked_tenant boolean, blocked_fair boolean)
language plpgsql as $$
declare
  v_n int := coalesce(array_length(p_keys, 1), 0);
  v_tokens double precision[];
  v_learned double precision[];
  v_paused timestamptz[];
  v_updated timestamptz[];
  v_now timestamptz;
  v_cap double precision;
  v_avail double precision;
  v_need double precision;
  v_wait double precision;
  v_worst double precision := 0;
  v_worst_key text;
  v_worst_tenant boolean;
  v_new double precision[] := array_fill(0::double precision, array[greatest(v_n, 1)]);
  v_found int;
  v_pass int;
  v_min_other double precision;
  v_mine double precision;
  v_floor double precision;
  r record;
  i int;
begin
  for v_pass in 1..2 loop
    v_tokens := array_fill(null::double precision, array[greatest(v_n, 1)]);
    v_learned := v_tokens;
    v_paused := array_fill(null::timestamptz, array[greatest(v_n, 1)]);
    v_updated := v_paused;
    v_found := 0;
    for r in select b.key, b.tokens, b.learned_capacity, b.paused_until, b.updated_at
               from gate_buckets b where b.key = any (p_keys) order by b.key for update loop
      i := array_position(p_keys, r.key);
      v_tokens[i] := r.tokens;
      v_learned[i] := r.learned_capacity;
      v_paused[i] := r.paused_until;
      v_updated[i] := r.updated_at;
      v_found := v_found + 1;
    end loop;
    exit when v_found >= v_n or v_pass = 2;
    -- First use of some bucket: create it full, then lock again (in key order, with the others).
    insert into gate_buckets (key, tokens, updated_at)
    select k, abs(c), clock_timestamp() from unnest(p_keys, p_caps) as u(k, c)
    on conflict (key) do nothing;
  end loop;
  v_now := clock_timestamp();

  for i in 1..v_n loop
    if v_paused[i] is not null and v_paused[i] > v_now then
      v_wait := extract(epoch from v_paused[i] - v_now) * 1000;
      if v_wait > v_worst then v_worst := v_wait; v_worst_key := p_keys[i]; v_worst_tenant := p_tenant[i]; end if;
    end if;
  end loop;

  -- Pass 1: the caller's own limits; pass 2: the shared pool (only when pass 1 admits).
  for v_pass in 1..2 loop
    exit when v_worst > 0;
    for i in 1..v_n loop
      continue when (v_pass = 1) <> p_tenant[i];
      v_cap := quorum.gate_capacity(p_caps[i], v_learned[i]);
      v_avail := least(v_cap, v_tokens[i] + greatest(0, extract(epoch from v_now - v_updated[i])) * v_cap / 60.0);
      v_need := least(p_amounts[i], v_cap);
      v_new[i] := v_avail - v_need;
      if not p_tenant[i] then v_need := least(v_cap, v_need + v_cap * p_headroom_ms / 60000.0); end if;
      if v_avail < v_need then
        v_wait := (v_need - v_avail) / (v_cap / 60000.0);
        if v_wait > v_worst then v_worst := v_wait; v_worst_key := p_keys[i]; v_worst_tenant := p_tenant[i]; end if;
      end if;
    end loop;
  end loop;

  if v_worst > 0 then
    return query select false, v_worst, v_worst_key, coalesce(v_worst_tenant, false), false;
    return;
  end if;

  if p_pool is not null then
    -- Orgs waiting in the caller's process are backlogged; one returning from idle is lifted.
    select min(f.counter) into v_floor from gate_fairness f where f.pool = p_pool and f.backlogged_until > v_now;
    if v_floor is null then select max(f.counter) into v_floor from gate_fairness f where f.pool = p_pool; end if;
    insert into gate_fairness as f (pool, org, counter, backlogged_until)
    select p_pool, w.org, coalesce(v_floor, 0), v_now + p_backlog_ms * interval '1 millisecond'
      from (select distinct unnest(p_waiting || p_org) as org) w
    on conflict (pool, org) do update
      set counter = case when f.backlogged_until <= v_now then greatest(f.counter, coalesce(v_floor, f.counter)) else f.counter end,
          backlogged_until = greatest(f.backlogged_until, excluded.backlogged_until);
    select f.counter into v_mine from gate_fairness f where f.pool = p_pool and f.org = p_org;
    select min(f.counter) into v_min_other from gate_fairness f where f.pool = p_pool and f.org <> p_org and f.backlogged_until > v_now;
    if v_min_other is not null and v_mine > v_min_other + p_slack then
      return query select false, p_backlog_ms / 4, 'fair:' || p_pool, false, true;
      return;
    end if;
    update gate_fairness f set counter = f.counter + p_service where f.pool = p_pool and f.org = p_org;
  end if;
  update gate_buckets b
     set tokens = u.t, updated_at = greatest(b.updated_at, v_now)
    from unnest(p_keys, v_new[1:v_n]) as u(k, t)
   where b.key = u.k;
  return query select true, 0::double precision, null::text, false, false;
end $$;
revoke all on function quorum.gate_acquire(text[], double precision[], double precision[], boolean[], double precision, text, uuid, uuid[], double precision, double precision, double precision) from public;
grant execute on function quorum.gate_acquire(text[], double precision[], double precision[], boolean[], double precision, text, uuid, uuid[], double precision, double precision, double precision) to quorum_app;
