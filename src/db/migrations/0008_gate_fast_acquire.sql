-- Quorum 0008: quorum.gate_acquire in two statements instead of 2 + 2n. Every LLM call takes its
-- buckets through this function on the caller's path, so its cost is the gate's overhead. Same
-- contract and semantics as 0007: all-or-nothing, the caller's own limits checked before the shared
-- pool, rows locked in key order (no deadlocks), the clock read only once every lock is held (a
-- timestamp taken before waiting could be older than the holder's and refill an interval twice),
-- updated_at never moves back. The bucket rows are created on first use only.
create or replace function quorum.gate_acquire(p_keys text[], p_caps double precision[], p_amounts double precision[], p_tenant boolean[], p_headroom_ms double precision)
returns table (ok boolean, wait_ms double precision, blocked_key text, blocked_tenant boolean)
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
    return query select false, v_worst, v_worst_key, coalesce(v_worst_tenant, false);
    return;
  end if;
  update gate_buckets b
     set tokens = u.t, updated_at = greatest(b.updated_at, v_now)
    from unnest(p_keys, v_new[1:v_n]) as u(k, t)
   where b.key = u.k;
  return query select true, 0::double precision, null::text, false;
end $$;
