-- Quorum 0005: reviews, per-reviewer checkpoints, findings, knowledge, worktree leases, event outbox.

create table reviews (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  project_id uuid not null,
  task_id text not null check (task_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$'),
  developer_id uuid not null references users (id),
  api_key_id uuid,
  status text not null default 'queued' check (status in ('queued', 'running', 'completed', 'failed', 'cancelled')),
  priority text not null default 'normal' check (priority in ('low', 'normal', 'high')),
  -- {"kind":"refs","base":..,"head":..} | {"kind":"diff","diff":..} | {"kind":"last_commit"}
  target jsonb not null,
  panel jsonb not null,
  base_sha text,
  head_sha text,
  commit_sha text,
  branch text,
  score numeric(5, 2),
  verdict text check (verdict in ('pass', 'comment', 'request_changes')),
  coverage jsonb,
  report_md text,
  report_json jsonb,
  error jsonb,
  attempts integer not null default 0,
  correlation_id text,
  cancel_requested boolean not null default false,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  completed_at timestamptz,
  foreign key (org_id, project_id) references projects (org_id, id) on delete cascade,
  unique (org_id, id)
);
create index reviews_project_time on reviews (org_id, project_id, created_at desc, id desc);
create index reviews_task on reviews (org_id, project_id, task_id);
create index reviews_developer on reviews (org_id, developer_id, created_at desc);

-- One checkpoint per reviewer of a review: a crashed review resumes with the missing ones only.
create table reviewer_runs (
  org_id uuid not null,
  review_id uuid not null,
  reviewer text not null,
  status text not null check (status in ('completed', 'failed')),
  findings jsonb not null default '[]',
  usage jsonb,
  error text,
  duration_ms integer,
  completed_at timestamptz not null default now(),
  primary key (review_id, reviewer),
  foreign key (org_id, review_id) references reviews (org_id, id) on delete cascade
);

create table findings (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null,
  project_id uuid not null,
  review_id uuid not null,
  developer_id uuid not null,
  fingerprint text not null,
  file text not null,
  line_start integer not null,
  line_end integer not null,
  category text not null,
  severity numeric(4, 2) not null,
  score numeric(5, 2) not null,
  title text not null,
  detail text not null,
  suggestion text,
  rules text[] not null default '{}',
  reviewers text[] not null,
  agreement integer not null,
  panel_size integer not null,
  similar_finding jsonb,
  created_at timestamptz not null default now(),
  -- Completing a review twice (a retried job) can never duplicate a finding.
  unique (review_id, fingerprint, line_start),
  foreign key (org_id, review_id) references reviews (org_id, id) on delete cascade
);
create index findings_project on findings (org_id, project_id, created_at desc);

create table knowledge (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  project_id uuid not null,
  review_id uuid not null,
  finding_id uuid not null references findings (id) on delete cascade,
  developer_id uuid not null references users (id),
  category text not null,
  normalized_title text not null,
  title text not null,
  file text not null,
  severity numeric(4, 2) not null,
  detail text not null,
  created_at timestamptz not null default now(),
  unique (finding_id),
  foreign key (org_id, project_id) references projects (org_id, id) on delete cascade
);
create index knowledge_match on knowledge (org_id, category, normalized_title, created_at);
create index knowledge_project on knowledge (org_id, project_id, created_at);

-- A worktree exists while its lease row does; a lapsed lease means its process died.
create table worktree_leases (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  project_id uuid not null,
  review_id uuid not null,
  path text not null unique,
  branch text not null,
  owner text not null,
  heartbeat_at timestamptz not null default now(),
  created_at timestamptz not null default now()
);

-- Transactional outbox of versioned, tenant-scoped events; NOTIFY wakes listeners in any process.
create table events (
  id bigint generated always as identity primary key,
  org_id uuid not null references orgs (id) on delete cascade,
  project_id uuid,
  review_id uuid,
  type text not null,
  version integer not null default 1,
  payload jsonb not null,
  correlation_id text,
  created_at timestamptz not null default now()
);
create index events_review on events (org_id, review_id, id);
create index events_org on events (org_id, id);

create function quorum.notify_event() returns trigger language plpgsql as $$
begin
  -- Only ids travel over NOTIFY; listeners read the row through RLS in their tenant.
  perform pg_notify('quorum_events', json_build_object('id', new.id, 'org_id', new.org_id, 'review_id', new.review_id, 'type', new.type)::text);
  return new;
end $$;
create trigger events_notify after insert on events for each row execute function quorum.notify_event();

do $$
declare t text;
begin
  foreach t in array array['reviews', 'reviewer_runs', 'findings', 'knowledge', 'worktree_leases', 'events'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('create policy tenant_isolation on %I using (org_id = quorum.current_org()) with check (org_id = quorum.current_org())', t);
  end loop;
end $$;

grant select, insert, update, delete on reviews, reviewer_runs, findings, knowledge, worktree_leases to quorum_app;
grant select, insert on events to quorum_app;

-- Sweeper: lapsed or over-age worktree leases of every org (the sweeper then works per org).
create function quorum.system_stale_worktrees(p_lapse interval, p_ttl interval)
returns table (lease_id uuid, org_id uuid, project_id uuid, review_id uuid, path text, branch text, owner text, reason text)
language sql stable security definer set search_path = public, pg_temp as $$
  select l.id, l.org_id, l.project_id, l.review_id, l.path, l.branch, l.owner,
         case when l.created_at < now() - p_ttl then 'ttl' else 'lapsed' end
    from worktree_leases l
   where l.heartbeat_at < now() - p_lapse or l.created_at < now() - p_ttl
$$;
revoke all on function quorum.system_stale_worktrees(interval, interval) from public;
grant execute on function quorum.system_stale_worktrees(interval, interval) to quorum_app;
