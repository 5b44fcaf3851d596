-- Quorum 0010: KNOWLEDGE.md is re-exported from what changed, not from the whole project.
-- Each knowledge row records the transaction that inserted it (64-bit, never wraps). An export
-- remembers the xmin of the snapshot it read with: every transaction below it had ended by then,
-- so a row it could not see yet has an xid at or above that mark. The next export of the project
-- reads only those rows (plus a count, which catches deletions), instead of every entry's id and
-- author on every review: a review adding 40 entries to a 5,000-entry project reads ~40 rows.
-- Existing rows get the migration's xid; a process's first export of a project reads it whole.
alter table knowledge add column xid xid8 not null default pg_current_xact_id();
create index knowledge_project_xid on knowledge (org_id, project_id, xid);
