-- Quorum 0007: the gate's shared state — token buckets shared by every process, the usage ledger,
-- limits and budgets per org / project / user / API key, monthly spend and in-flight reservations.

-- ---------------------------------------------------------------- shared token buckets (system)
-- One row per bucket: upstream pools (`pool:<provider>:<model class>:rpm|itpm|otpm`) and tenants'
-- own limits (`org:<uuid>:rpm`, `user:<uuid>:tpm`, …). Keys hold ids only, never names or text.
-- Continuous replenishment: tokens are refilled lazily from `updated_at` at capacity/60 s.
create table gate_buckets (
  key text primary key check (length(key) <= 200),
  tokens double precision not null,
  -- The provider's real limit as its headers reported it (pool buckets only); the effective capacity
  -- is the smaller of this and the configured capacity passed in by the caller.
  learned_capacity double precision check (learned_capacity > 0),
  paused_until timestamptz,
  updated_at timestamptz not null default clock_timestamp()
);
grant select, insert, update, delete on gate_buckets to quorum_app;

-- Effective capacity of a bucket row: the configured one lowered by what the provider reported; a
-- negative configured value means "not configured: follow the provider's limit, |value| until known".
create function quorum.gate_capacity(p_configured double precision, p_learned double precision)
returns double precision language sql immutable as $$
  select case when p_learned is null then abs(p_configured)
              when p_configured < 0 then p_learned
              else least(p_configured, p_learned) end
$$;

-- Takes p_amounts[i] from every bucket p_keys[i] (capacity p_caps[i] per minute) if ALL have enough;
-- otherwise takes nothing and says how long until they would. Items with p_tenant[i] are the
-- caller's own limits and are checked first: a request over its own limit must wait without
-- touching the shared pool. Rows are locked in key order, so concurrent callers never deadlock.
-- p_headroom_ms: a pool bucket admits only when it would still hold that much refill afterwards.
-- The provider takes its tokens when the request ARRIVES, some time after we took ours; if its
-- bucket sat full meanwhile, the refill we counted in between was wasted on its side. The headroom
-- absorbs that (it is a threshold, not a charge: nothing is lost while the pool stays busy).
create function quorum.gate_acquire(p_keys text[], p_caps double precision[], p_amounts double precision[], p_tenant boolean[], p_headroom_ms double precision)
returns table (ok boolean, wait_ms double precision, blocked_key text, blocked_tenant boolean)
language plpgsql as $$
declare
  v_now timestamptz := clock_timestamp();
  v_n int := coalesce(array_length(p_keys, 1), 0);
  v_avail double precision[] := array_fill(0::double precision, array[greatest(v_n, 1)]);
  v_caps double precision[] := array_fill(1::double precision, array[greatest(v_n, 1)]);
  v_cap double precision;
  v_need double precision;
  v_wait double precision;
  v_worst double precision := 0;
  v_worst_key text;
  v_worst_tenant boolean;
  v_pass int;
  r record;
  i int;
begin
  insert into gate_buckets (key, tokens, updated_at)
  select k, abs(c), v_now from unnest(p_keys, p_caps) as u(k, c)
  on conflict (key) do nothing;
  -- Lock first, then read the clock: a timestamp taken before waiting for the lock could be older
  -- than the holder's, and writing it back would refill the same interval twice.
  perform 1 from gate_buckets b where b.key = any (p_keys) order by b.key for update;
  v_now := clock_timestamp();

  for r in select b.key, b.tokens, b.learned_capacity, b.paused_until, b.updated_at
             from gate_buckets b where b.key = any (p_keys) order by b.key for update loop
    i := array_position(p_keys, r.key);
    v_cap := quorum.gate_capacity(p_caps[i], r.learned_capacity);
    v_caps[i] := v_cap;
    v_avail[i] := least(v_cap, r.tokens + greatest(0, extract(epoch from v_now - r.updated_at)) * v_cap / 60.0);
    if r.paused_until is not null and r.paused_until > v_now then
      v_wait := extract(epoch from r.paused_until - v_now) * 1000;
      if v_wait > v_worst then v_worst := v_wait; v_worst_key := r.key; v_worst_tenant := p_tenant[i]; end if;
    end if;
  end loop;

  -- Pass 1: the caller's own limits; pass 2: the shared pool (only when pass 1 admits).
  for v_pass in 1..2 loop
    if v_worst = 0 then
      for i in 1..v_n loop
        continue when (v_pass = 1) <> p_tenant[i];
        v_cap := v_caps[i];
        v_need := least(p_amounts[i], v_cap);
        if not p_tenant[i] then v_need := least(v_cap, v_need + v_cap * p_headroom_ms / 60000.0); end if;
        if v_avail[i] < v_need then
          v_wait := (v_need - v_avail[i]) / (v_cap / 60000.0);
          if v_wait > v_worst then v_worst := v_wait; v_worst_key := p_keys[i]; v_worst_tenant := p_tenant[i]; end if;
        end if;
      end loop;
    end if;
  end loop;

  if v_worst > 0 then
    return query select false, v_worst, v_worst_key, coalesce(v_worst_tenant, false);
    return;
  end if;
  for i in 1..v_n loop
    update gate_buckets set tokens = v_avail[i] - least(p_amounts[i], v_caps[i]), updated_at = greatest(updated_at, v_now) where key = p_keys[i];
  end loop;
  return query select true, 0::double precision, null::text, false;
end $$;

-- Settles a call: positive deltas give back what was reserved but not used, negative ones charge
-- what was used beyond the reservation (a bucket may go below zero: it then refills from there).
create function quorum.gate_adjust(p_keys text[], p_caps double precision[], p_deltas double precision[])
returns void language plpgsql as $$
declare
  v_now timestamptz;
  i int;
begin
  perform 1 from gate_buckets b where b.key = any (p_keys) order by b.key for update;
  v_now := clock_timestamp();
  for i in 1..coalesce(array_length(p_keys, 1), 0) loop
    update gate_buckets b
       set tokens = least(quorum.gate_capacity(p_caps[i], b.learned_capacity),
                          least(quorum.gate_capacity(p_caps[i], b.learned_capacity),
                                b.tokens + greatest(0, extract(epoch from v_now - b.updated_at)) * quorum.gate_capacity(p_caps[i], b.learned_capacity) / 60.0)
                          + p_deltas[i]),
           updated_at = greatest(b.updated_at, v_now)
     where b.key = p_keys[i];
  end loop;
end $$;

-- What the provider told us: its real limit, what it has left (lowers ours, never raises it) and,
-- after a 429, a pause until its retry-after.
create function quorum.gate_learn(p_key text, p_cap double precision, p_limit double precision, p_remaining double precision, p_pause_until timestamptz)
returns void language plpgsql as $$
declare
  v_now timestamptz := clock_timestamp();
  r record;
  v_cap double precision;
  v_tokens double precision;
begin
  insert into gate_buckets (key, tokens, updated_at) values (p_key, abs(p_cap), v_now) on conflict (key) do nothing;
  -- Read and write under the row lock: a concurrent acquire's deduction must never be lost.
  select b.tokens, b.learned_capacity, b.updated_at into r from gate_buckets b where b.key = p_key for update;
  v_now := clock_timestamp();
  v_cap := quorum.gate_capacity(p_cap, r.learned_capacity);
  v_tokens := least(v_cap, r.tokens + greatest(0, extract(epoch from v_now - r.updated_at)) * v_cap / 60.0);
  if p_remaining is not null then v_tokens := least(v_tokens, p_remaining); end if;
  update gate_buckets
     set tokens = v_tokens,
         learned_capacity = coalesce(p_limit, learned_capacity),
         paused_until = case when p_pause_until is null then paused_until else greatest(coalesce(paused_until, p_pause_until), p_pause_until) end,
         updated_at = greatest(updated_at, v_now)
   where key = p_key;
end $$;

revoke all on function quorum.gate_acquire(text[], double precision[], double precision[], boolean[], double precision) from public;
revoke all on function quorum.gate_adjust(text[], double precision[], double precision[]) from public;
revoke all on function quorum.gate_learn(text, double precision, double precision, double precision, timestamptz) from public;
grant execute on function quorum.gate_capacity(double precision, double precision) to quorum_app;
grant execute on function quorum.gate_acquire(text[], double precision[], double precision[], boolean[], double precision) to quorum_app;
grant execute on function quorum.gate_adjust(text[], double precision[], double precision[]) to quorum_app;
grant execute on function quorum.gate_learn(text, double precision, double precision, double precision, timestamptz) to quorum_app;

-- ---------------------------------------------------------------- usage ledger (tenant)
create table usage_ledger (
  id bigint generated always as identity primary key,
  org_id uuid not null references orgs (id) on delete cascade,
  project_id uuid,
  user_id uuid,
  api_key_id uuid,
  review_id uuid,
  provider text not null,
  model text not null,
  input_tokens integer not null default 0,
  output_tokens integer not null default 0,
  cache_creation_tokens integer not null default 0,
  cache_read_tokens integer not null default 0,
  cost_usd numeric(14, 6) not null default 0,
  latency_ms integer not null default 0,
  wait_ms integer not null default 0,
  attempts integer not null default 1,
  outcome text not null check (outcome in ('ok', 'error', 'aborted', 'rejected')),
  error_code text,
  created_at timestamptz not null default now()
);
create index usage_ledger_org_time on usage_ledger (org_id, created_at);

-- ---------------------------------------------------------------- limits and budgets (tenant)
-- One row per subject: the org itself, a project, a user or an API key. A null column means
-- "no limit at this level" (the org row's budget defaults to the tier's when there is no row).
create table gate_limits (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  scope text not null check (scope in ('org', 'project', 'user', 'key')),
  subject_id uuid not null,
  monthly_budget_usd numeric(14, 2) check (monthly_budget_usd >= 0),
  rpm integer check (rpm > 0),
  tpm integer check (tpm > 0),
  updated_at timestamptz not null default now(),
  unique (org_id, scope, subject_id),
  check (scope <> 'org' or subject_id = org_id),
  check (scope not in ('project') or (rpm is null and tpm is null)),
  check (scope <> 'key' or monthly_budget_usd is null)
);

-- Spend per budget subject and calendar month (UTC), kept in step with the ledger in the same
-- transaction; `warned_at` makes the 90 % warning fire once per month.
create table budget_spend (
  org_id uuid not null references orgs (id) on delete cascade,
  scope text not null check (scope in ('org', 'project', 'user')),
  subject_id uuid not null,
  month date not null,
  spent_usd numeric(14, 6) not null default 0,
  warned_at timestamptz,
  primary key (org_id, scope, subject_id, month)
);

-- Worst-case cost of calls in flight: counted against every budget until the call settles, so
-- concurrent calls cannot overshoot. A crashed process's reservations expire.
create table budget_reservations (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  project_id uuid,
  user_id uuid,
  month date not null,
  amount_usd numeric(14, 6) not null check (amount_usd >= 0),
  expires_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index budget_reservations_org on budget_reservations (org_id, month);

do $$
declare t text;
begin
  foreach t in array array['usage_ledger', 'gate_limits', 'budget_spend', 'budget_reservations'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('create policy tenant_isolation on %I using (org_id = quorum.current_org()) with check (org_id = quorum.current_org())', t);
  end loop;
end $$;

grant select, insert on usage_ledger to quorum_app;

-- One call settled, in one round trip inside the caller's tenant transaction (RLS applies: the
-- function runs as the caller): its actual cost moves from the budget reservation it ran under to
-- the month's spend of the org, project and user; the ledger row is written; the buckets get back
-- what was reserved but not used. Returns the budgets that crossed 90 % with this call (once per
-- month each). Serialized per org with reservations, so "spent + reserved" is never read half-moved.
create function quorum.gate_settle(
  p_reservation uuid, p_org uuid, p_project uuid, p_user uuid, p_api_key uuid, p_review uuid,
  p_provider text, p_model text, p_tokens integer[], p_cost numeric, p_latency_ms integer, p_wait_ms integer,
  p_attempts integer, p_outcome text, p_error text, p_month date,
  p_scopes text[], p_subjects uuid[], p_limits numeric[],
  p_bucket_keys text[], p_bucket_caps double precision[], p_bucket_deltas double precision[])
returns table (scope text, subject_id uuid, spent_usd numeric, limit_usd numeric)
language plpgsql as $$
#variable_conflict use_column
declare
  v_spent numeric;
  v_warned timestamptz;
  i int;
begin
  perform pg_advisory_xact_lock(hashtextextended('quorum:budget:' || p_org::text, 0));
  if p_reservation is not null and p_cost > 0 then
    update budget_reservations set amount_usd = greatest(0, amount_usd - p_cost) where id = p_reservation;
  end if;
  insert into usage_ledger (org_id, project_id, user_id, api_key_id, review_id, provider, model, input_tokens, output_tokens,
                            cache_creation_tokens, cache_read_tokens, cost_usd, latency_ms, wait_ms, attempts, outcome, error_code)
  values (p_org, p_project, p_user, p_api_key, p_review, p_provider, p_model, p_tokens[1], p_tokens[2], p_tokens[3], p_tokens[4],
          p_cost, p_latency_ms, p_wait_ms, p_attempts, p_outcome, p_error);
  if p_cost > 0 then
    for i in 1..coalesce(array_length(p_scopes, 1), 0) loop
      insert into budget_spend as b (org_id, scope, subject_id, month, spent_usd)
      values (p_org, p_scopes[i], p_subjects[i], p_month, p_cost)
      on conflict (org_id, scope, subject_id, month) do update set spent_usd = b.spent_usd + excluded.spent_usd
      returning b.spent_usd, b.warned_at into v_spent, v_warned;
      if p_limits[i] is not null and v_warned is null and v_spent >= 0.9 * p_limits[i] then
        update budget_spend b set warned_at = now()
         where b.org_id = p_org and b.scope = p_scopes[i] and b.subject_id = p_subjects[i] and b.month = p_month and b.warned_at is null;
        if found then
          scope := p_scopes[i]; subject_id := p_subjects[i]; spent_usd := v_spent; limit_usd := p_limits[i];
          return next;
        end if;
      end if;
    end loop;
  end if;
  if coalesce(array_length(p_bucket_keys, 1), 0) > 0 then
    perform quorum.gate_adjust(p_bucket_keys, p_bucket_caps, p_bucket_deltas);
  end if;
end $$;
revoke all on function quorum.gate_settle(uuid, uuid, uuid, uuid, uuid, uuid, text, text, integer[], numeric, integer, integer, integer, text, text, date, text[], uuid[], numeric[], text[], double precision[], double precision[]) from public;
grant execute on function quorum.gate_settle(uuid, uuid, uuid, uuid, uuid, uuid, text, text, integer[], numeric, integer, integer, integer, text, text, date, text[], uuid[], numeric[], text[], double precision[], double precision[]) to quorum_app;
grant select, insert, update, delete on gate_limits, budget_spend, budget_reservations to quorum_app;

-- ---------------------------------------------------------------- running-review slots per org
-- A review whose org is at its tier's limit of running reviews waits for a slot: its job is put
-- back with run_at = slot_retry_at. When a slot frees, the oldest waiting review whose job is not
-- due yet (so no worker can hold it) is moved to now.
alter table reviews add column slot_retry_at timestamptz;
create index reviews_waiting_for_slot on reviews (org_id, created_at) where status = 'queued' and slot_retry_at is not null;
