-- Quorum 0002: the named, reviewed set of cross-org reads.
-- These are the ONLY paths by which the runtime role sees rows of an org it has not entered with
-- withTenant(). Each is SECURITY DEFINER (runs as the owner, which bypasses RLS), returns the
-- narrowest row it can, and has its own test in test/cross-org-functions.test.ts.

-- API key authentication: the key's row, its user's org role; touches last_used_at (at most once
-- a minute, to keep the hot path read-mostly).
create function quorum.auth_api_key(p_hash bytea)
returns table (
  key_id uuid, org_id uuid, user_id uuid, project_ids uuid[], max_role text,
  expires_at timestamptz, revoked_at timestamptz, org_role text, user_disabled boolean
)
language plpgsql security definer set search_path = public, pg_temp as $$
begin
  update api_keys k set last_used_at = now()
   where k.key_hash = p_hash and (k.last_used_at is null or k.last_used_at < now() - interval '60 seconds');
  return query
    select k.id, k.org_id, k.user_id, k.project_ids, k.max_role, k.expires_at, k.revoked_at, m.role, u.disabled
      from api_keys k
      join org_memberships m on m.org_id = k.org_id and m.user_id = k.user_id
      join users u on u.id = k.user_id
     where k.key_hash = p_hash;
end $$;

-- Login by email: the password hash is needed to verify; nothing org-scoped is returned.
create function quorum.auth_user_by_email(p_email text)
returns table (user_id uuid, name text, password_hash text, disabled boolean)
language sql stable security definer set search_path = public, pg_temp as $$
  select u.id, u.name, u.password_hash, u.disabled from users u where lower(u.email) = lower(p_email)
$$;

-- The orgs a user belongs to (for /v1/auth/me and choosing the org at login).
create function quorum.auth_user_orgs(p_user_id uuid)
returns table (org_id uuid, name text, slug text, tier text, role text, joined_at timestamptz)
language sql stable security definer set search_path = public, pg_temp as $$
  select o.id, o.name, o.slug, o.tier, m.role, m.created_at
    from org_memberships m join orgs o on o.id = m.org_id
   where m.user_id = p_user_id
   order by m.created_at, o.id
$$;

-- Accepting an invite: the invite is found by its secret token before the org is known.
create function quorum.auth_invite_by_token(p_hash bytea)
returns table (invite_id uuid, org_id uuid, email text, role text, expires_at timestamptz,
               accepted_at timestamptz, revoked_at timestamptz)
language sql stable security definer set search_path = public, pg_temp as $$
  select i.id, i.org_id, i.email, i.role, i.expires_at, i.accepted_at, i.revoked_at
    from invites i where i.token_hash = p_hash
$$;

-- Sweepers and system jobs iterate orgs, then do their work inside withTenant(org).
create function quorum.system_org_ids()
returns table (org_id uuid)
language sql stable security definer set search_path = public, pg_temp as $$
  select id from orgs order by id
$$;

-- Whether any user exists: decides the first-run banner; says nothing about any org.
create function quorum.system_has_users()
returns boolean
language sql stable security definer set search_path = public, pg_temp as $$
  select exists (select 1 from users)
$$;

-- Audit retention: the runtime role has no DELETE on audit_log; this is the one way rows leave it.
create function quorum.system_purge_audit(p_org uuid, p_before timestamptz)
returns bigint
language plpgsql security definer set search_path = public, pg_temp as $$
declare n bigint;
begin
  perform set_config('quorum.audit_retention', 'on', true);
  delete from audit_log where org_id = p_org and created_at < p_before;
  get diagnostics n = row_count;
  perform set_config('quorum.audit_retention', 'off', true);
  return n;
end $$;

revoke all on function quorum.system_purge_audit(uuid, timestamptz) from public;
grant execute on function quorum.system_purge_audit(uuid, timestamptz) to quorum_app;

revoke all on function quorum.auth_api_key(bytea), quorum.auth_user_by_email(text),
  quorum.auth_user_orgs(uuid), quorum.auth_invite_by_token(bytea), quorum.system_org_ids(),
  quorum.system_has_users() from public;
grant execute on function quorum.auth_api_key(bytea), quorum.auth_user_by_email(text),
  quorum.auth_user_orgs(uuid), quorum.auth_invite_by_token(bytea), quorum.system_org_ids(),
  quorum.system_has_users() to quorum_app;
