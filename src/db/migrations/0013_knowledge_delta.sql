-- Quorum 0013: what a KNOWLEDGE.md export reads, after taking the project's knowledge lock, in
-- one call: the lock first, then — with a fresh snapshot, as every query of a volatile function
-- gets in READ COMMITTED — the entries inserted by transactions at or above p_since except
-- p_known (newest first, at most p_limit), whether entries of the project were deleted by such a
-- transaction (0011), the current names of p_developers (and each entry's author's: null when the
-- org no longer shows them), and the xmin of the snapshot it read with (the next call's p_since).
-- p_since 0 reads the project's newest p_limit entries. Runs as the caller: RLS scopes every read
-- to the current org. One round trip where a lock and a read took two, and callable inside a
-- larger statement (the one that locks a review to complete it).
create function quorum.knowledge_delta(p_project uuid, p_since xid8, p_known uuid[], p_developers uuid[], p_limit integer)
returns jsonb
language plpgsql volatile set search_path = public, pg_temp as $$
declare
  v jsonb;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'knowledge_delta: needs READ COMMITTED (a fresh snapshot after the lock)';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('knowledge:' || p_project::text, 0));
  select jsonb_build_object(
           'watermark', pg_snapshot_xmin(pg_current_snapshot())::text,
           'deleted', exists (select 1 from knowledge_deletions d
                               where (d.project_id = p_project or d.project_id is null) and d.xid >= p_since),
           'names', (select coalesce(jsonb_object_agg(u.id, u.name), '{}') from users u where u.id = any(p_developers)),
           'rows', coalesce((
             select jsonb_agg(jsonb_build_object(
                      'id', k.id, 'project_id', k.project_id, 'review_id', k.review_id, 'finding_id', k.finding_id,
                      'developer_id', k.developer_id, 'developer_name', u.name,
                      'category', k.category, 'title', k.title, 'file', k.file, 'severity', k.severity::float8,
                      'detail', k.detail, 'at_us', (extract(epoch from k.created_at) * 1000000)::int8::text, 'xid', k.xid::text)
                    order by k.created_at desc, k.id desc)
               from (select k.*
                       from knowledge k
                      where k.project_id = p_project and k.xid >= p_since
                        -- hashed, not compared one by one: while a long transaction holds the xmin back, the list grows
                        and k.id not in (select unnest(p_known))
                      order by k.created_at desc, k.id desc
                      limit p_limit) k
               left join users u on u.id = k.developer_id), '[]'::jsonb))
    into v;
  return v;
end $$;
revoke all on function quorum.knowledge_delta(uuid, xid8, uuid[], uuid[], integer) from public;
grant execute on function quorum.knowledge_delta(uuid, xid8, uuid[], uuid[], integer) to quorum_app;
