-- Quorum 0001: tenancy, auth, audit, secrets, worker heartbeats.
-- Runs as the owner. The runtime role (quorum_app, created by the migrator before this runs)
-- gets only what it needs; every tenant table has RLS enabled AND forced.

create extension if not exists pgcrypto;

create schema if not exists quorum;

-- Reads the current tenant; NULL when unset so that policies match nothing.
create function quorum.current_org() returns uuid
  language sql stable
  as $$ select nullif(current_setting('quorum.org_id', true), '')::uuid $$;

create function quorum.current_user_id() returns uuid
  language sql stable
  as $$ select nullif(current_setting('quorum.user_id', true), '')::uuid $$;

-- ---------------------------------------------------------------- orgs
create table orgs (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  tier text not null default 'free' check (tier in ('free', 'pro', 'enterprise')),
  settings jsonb not null default '{}',
  created_at timestamptz not null default now()
);
alter table orgs enable row level security;
alter table orgs force row level security;
create policy tenant_isolation on orgs using (id = quorum.current_org()) with check (id = quorum.current_org());

-- ---------------------------------------------------------------- users (global: a person may belong to several orgs)
create table users (
  id uuid primary key default gen_random_uuid(),
  email text not null,
  name text not null check (length(name) between 1 and 200),
  password_hash text,
  disabled boolean not null default false,
  created_at timestamptz not null default now()
);
create unique index users_email_key on users (lower(email));

create table org_memberships (
  org_id uuid not null references orgs (id) on delete cascade,
  user_id uuid not null references users (id) on delete cascade,
  role text not null check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (org_id, user_id)
);
create index org_memberships_user on org_memberships (user_id);

-- A user row is visible to the runtime only when it is a member of the current org, or is the
-- acting user. Membership rows are themselves filtered by org, so this never crosses tenants.
alter table users enable row level security;
alter table users force row level security;
create policy users_visible on users for select
  using (id = quorum.current_user_id() or exists (select 1 from org_memberships m where m.user_id = users.id));
create policy users_insert on users for insert with check (true);
create policy users_update_self on users for update
  using (id = quorum.current_user_id() or exists (select 1 from org_memberships m where m.user_id = users.id))
  with check (true);

-- ---------------------------------------------------------------- projects
create table projects (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  slug text not null check (slug ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
  name text not null check (length(name) between 1 and 200),
  repo_url text,
  default_branch text not null default 'main',
  settings jsonb not null default '{}',
  created_by uuid references users (id),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, slug),
  unique (org_id, id)
);

create table project_members (
  org_id uuid not null,
  project_id uuid not null,
  user_id uuid not null references users (id) on delete cascade,
  role text not null check (role in ('admin', 'reviewer', 'viewer')),
  created_at timestamptz not null default now(),
  primary key (project_id, user_id),
  foreign key (org_id, project_id) references projects (org_id, id) on delete cascade,
  foreign key (org_id, user_id) references org_memberships (org_id, user_id) on delete cascade
);

-- ---------------------------------------------------------------- API keys
create table api_keys (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  user_id uuid not null,
  name text not null check (length(name) between 1 and 200),
  prefix text not null,
  key_hash bytea not null unique,
  project_ids uuid[],
  max_role text check (max_role in ('admin', 'reviewer', 'viewer')),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_by uuid references users (id),
  created_at timestamptz not null default now(),
  foreign key (org_id, user_id) references org_memberships (org_id, user_id) on delete cascade
);
create index api_keys_org on api_keys (org_id, created_at);

-- ---------------------------------------------------------------- invites
create table invites (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  email text not null,
  role text not null check (role in ('admin', 'member')),
  token_hash bytea not null unique,
  expires_at timestamptz not null,
  accepted_at timestamptz,
  revoked_at timestamptz,
  created_by uuid references users (id),
  created_at timestamptz not null default now()
);

-- ---------------------------------------------------------------- refresh tokens (per user, not per org)
create table refresh_tokens (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  family_id uuid not null,
  org_id uuid not null references orgs (id) on delete cascade,
  expires_at timestamptz not null,
  used_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz not null default now()
);
create index refresh_tokens_family on refresh_tokens (family_id);

-- ---------------------------------------------------------------- audit log (append-only)
create table audit_log (
  id bigint generated always as identity primary key,
  org_id uuid not null references orgs (id) on delete cascade,
  actor_user_id uuid,
  api_key_id uuid,
  project_id uuid,
  action text not null,
  target_type text,
  target_id text,
  ip text,
  user_agent text,
  correlation_id text,
  diff jsonb,
  created_at timestamptz not null default now()
);
create index audit_log_org_time on audit_log (org_id, id desc);

create function quorum.audit_log_immutable() returns trigger language plpgsql as $$
begin
  -- Retention (a named system job) may delete rows older than the retention window.
  if tg_op = 'DELETE' and current_setting('quorum.audit_retention', true) = 'on' then
    return old;
  end if;
  raise exception 'audit_log is append-only' using errcode = 'insufficient_privilege';
end $$;
create trigger audit_log_no_update before update or delete on audit_log
  for each row execute function quorum.audit_log_immutable();

-- ---------------------------------------------------------------- secrets at rest
create table secrets (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references orgs (id) on delete cascade,
  name text not null,
  key_id text not null,
  ciphertext bytea not null,
  iv bytea not null,
  auth_tag bytea not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (org_id, name)
);

-- ---------------------------------------------------------------- worker heartbeats (system, not tenant)
create table worker_heartbeats (
  worker_id text primary key,
  hostname text not null,
  pid integer not null,
  graphile_worker_ids text[] not null default '{}',
  started_at timestamptz not null default now(),
  last_seen timestamptz not null default now()
);

-- ---------------------------------------------------------------- tenant policies
do $$
declare t text;
begin
  foreach t in array array['org_memberships', 'projects', 'project_members', 'api_keys', 'invites', 'audit_log', 'secrets'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format('create policy tenant_isolation on %I using (org_id = quorum.current_org()) with check (org_id = quorum.current_org())', t);
  end loop;
end $$;

-- Refresh tokens are per user: visible only to that user (verified from the signed token first).
alter table refresh_tokens enable row level security;
alter table refresh_tokens force row level security;
create policy user_isolation on refresh_tokens
  using (user_id = quorum.current_user_id()) with check (user_id = quorum.current_user_id());

-- ---------------------------------------------------------------- grants to the runtime role
grant usage on schema quorum to quorum_app;
grant execute on function quorum.current_org(), quorum.current_user_id() to quorum_app;
grant select, insert, update, delete on orgs, users, org_memberships, projects, project_members,
  api_keys, invites, refresh_tokens, secrets to quorum_app;
grant select, insert on audit_log to quorum_app;
grant select, insert, update, delete on worker_heartbeats to quorum_app;
-- audit_log: no UPDATE/DELETE grant at all; the trigger also stops the owner.
