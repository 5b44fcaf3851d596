-- Quorum 0011: a deletion of knowledge entries leaves a mark (the project and the deleting
-- transaction's id), so that a KNOWLEDGE.md export learns whether anything it holds may be gone
-- with one index probe, instead of counting the project's entries on every export (a count visits
-- every entry, and its heap: milliseconds per review at thousands of entries). Entries are
-- deleted with their review, project or org (cascades), or by hand; TRUNCATE marks every project.
--
-- Not a tenant table: it holds a project id and a transaction id, no content, and is read by
-- project id only (reviewed in test/security/schema-guard.test.ts). Written only by the trigger
-- (security definer); the runtime role may only read it.
create table knowledge_deletions (
  id bigint generated always as identity primary key,
  -- null: every project (TRUNCATE).
  project_id uuid,
  xid xid8 not null default pg_current_xact_id()
);
create index knowledge_deletions_project on knowledge_deletions (project_id, xid);
grant select on knowledge_deletions to quorum_app;

create function quorum.note_knowledge_deleted() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  if tg_op = 'TRUNCATE' then
    insert into knowledge_deletions (project_id) values (null);
  else
    insert into knowledge_deletions (project_id) select distinct project_id from gone;
  end if;
  -- (a statement that deleted nothing inserts nothing)
  return null;
end $$;
revoke all on function quorum.note_knowledge_deleted() from public;
-- Only ever run by its triggers (a trigger function cannot be called directly); granted like the
-- other reviewed security definer functions (test/security/cross-org-functions.test.ts).
grant execute on function quorum.note_knowledge_deleted() to quorum_app;

create trigger knowledge_deleted after delete on knowledge
  referencing old table as gone for each statement execute function quorum.note_knowledge_deleted();
create trigger knowledge_truncated after truncate on knowledge
  for each statement execute function quorum.note_knowledge_deleted();
