import type { ColumnType, Generated } from 'kysely';

/** Kysely table types. Domain types live in core; repos map rows to them in one function. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<Record<string, unknown>, string | undefined, string>;

export interface OrgsTable {
  id: ColumnType<string, string | undefined, never>;
  name: string;
  slug: string;
  tier: 'free' | 'pro' | 'enterprise';
  settings: Json;
  created_at: Generated<Date>;
}

export interface UsersTable {
  id: ColumnType<string, string, never>;
  email: string;
  name: string;
  password_hash: string | null;
  disabled: Generated<boolean>;
  created_at: Generated<Date>;
}

export interface OrgMembershipsTable {
  org_id: string;
  user_id: string;
  role: 'owner' | 'admin' | 'member';
  created_at: Generated<Date>;
}

export interface ProjectsTable {
  id: ColumnType<string, string | undefined, never>;
  org_id: string;
  slug: string;
  name: string;
  repo_url: string | null;
  default_branch: Generated<string>;
  settings: Json;
  created_by: string | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface ProjectMembersTable {
  org_id: string;
  project_id: string;
  user_id: string;
  role: 'admin' | 'reviewer' | 'viewer';
  created_at: Generated<Date>;
}

export interface ApiKeysTable {
  id: ColumnType<string, string | undefined, never>;
  org_id: string;
  user_id: string;
  name: string;
  prefix: string;
  key_hash: Buffer;
  project_ids: string[] | null;
  max_role: 'admin' | 'reviewer' | 'viewer' | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_by: string | null;
  created_at: Generated<Date>;
}

export interface InvitesTable {
  id: ColumnType<string, string | undefined, never>;
  org_id: string;
  email: string;
  role: 'admin' | 'member';
  token_hash: Buffer;
  expires_at: Date;
  accepted_at: Date | null;
  revoked_at: Date | null;
  created_by: string | null;
  created_at: Generated<Date>;
}

export interface RefreshTokensTable {
  id: string;
  user_id: string;
  family_id: string;
  org_id: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  created_at: Generated<Date>;
}

export interface AuditLogTable {
  id: Generated<string>;
  org_id: string;
  actor_user_id: string | null;
  api_key_id: string | null;
  project_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  correlation_id: string | null;
  diff: Json | null;
  created_at: Generated<Date>;
}

export interface SecretsTable {
  id: Generated<string>;
  org_id: string;
  name: string;
  key_id: string;
  ciphertext: Buffer;
  iv: Buffer;
  auth_tag: Buffer;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface WorkerHeartbeatsTable {
  worker_id: string;
  hostname: string;
  pid: number;
  graphile_worker_ids: string[];
  started_at: Generated<Date>;
  last_seen: Timestamp;
}

export type ReviewStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface ReviewsTable {
  id: ColumnType<string, string | undefined, never>;
  org_id: string;
  project_id: string;
  task_id: string;
  developer_id: string;
  api_key_id: string | null;
  status: ColumnType<ReviewStatus, ReviewStatus | undefined, ReviewStatus>;
  priority: 'low' | 'normal' | 'high';
  target: Json;
  panel: ColumnType<unknown[], string, string>;
  base_sha: string | null;
  head_sha: string | null;
  commit_sha: string | null;
  branch: string | null;
  score: ColumnType<string | null, number | null | undefined, number | null>;
  verdict: 'pass' | 'comment' | 'request_changes' | null;
  coverage: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  report_md: string | null;
  report_json: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  error: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  attempts: Generated<number>;
  correlation_id: string | null;
  cancel_requested: Generated<boolean>;
  created_at: Generated<Date>;
  started_at: Date | null;
  completed_at: Date | null;
  slot_retry_at: Timestamp | null;
}

export interface ReviewerRunsTable {
  org_id: string;
  review_id: string;
  reviewer: string;
  status: 'completed' | 'failed';
  findings: ColumnType<unknown[], string, string>;
  usage: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  error: string | null;
  duration_ms: number | null;
  completed_at: Generated<Date>;
}

export interface FindingsTable {
  id: Generated<string>;
  org_id: string;
  project_id: string;
  review_id: string;
  developer_id: string;
  fingerprint: string;
  file: string;
  line_start: number;
  line_end: number;
  category: string;
  severity: ColumnType<string, number, number>;
  score: ColumnType<string, number, number>;
  title: string;
  detail: string;
  suggestion: string | null;
  rules: string[];
  reviewers: string[];
  agreement: number;
  panel_size: number;
  similar_finding: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  created_at: Generated<Date>;
}

export interface KnowledgeTable {
  id: Generated<string>;
  org_id: string;
  project_id: string;
  review_id: string;
  finding_id: string;
  developer_id: string;
  category: string;
  normalized_title: string;
  title: string;
  file: string;
  severity: ColumnType<string, number, number>;
  detail: string;
  created_at: Generated<Date>;
  /** The inserting transaction (xid8, as text): KNOWLEDGE.md exports read what is new since their last snapshot. */
  xid: Generated<string>;
}

export interface WorktreeLeasesTable {
  id: Generated<string>;
  org_id: string;
  project_id: string;
  review_id: string;
  path: string;
  branch: string;
  owner: string;
  heartbeat_at: Generated<Date>;
  created_at: Generated<Date>;
}

export interface EventsTable {
  id: Generated<string>;
  org_id: string;
  project_id: string | null;
  review_id: string | null;
  type: string;
  version: Generated<number>;
  payload: ColumnType<Record<string, unknown>, string, never>;
  correlation_id: string | null;
  created_at: Generated<Date>;
}

export interface UsageLedgerTable {
  id: Generated<string>;
  org_id: string;
  project_id: string | null;
  user_id: string | null;
  api_key_id: string | null;
  review_id: string | null;
  provider: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: ColumnType<string, string | number, string | number>;
  latency_ms: number;
  wait_ms: number;
  attempts: number;
  outcome: 'ok' | 'error' | 'aborted' | 'rejected';
  error_code: string | null;
  created_at: Generated<Date>;
}

export type LimitScope = 'org' | 'project' | 'user' | 'key';

export interface GateLimitsTable {
  id: Generated<string>;
  org_id: string;
  scope: LimitScope;
  subject_id: string;
  monthly_budget_usd: ColumnType<string | null, string | number | null, string | number | null>;
  rpm: number | null;
  tpm: number | null;
  updated_at: Generated<Date>;
}

export interface BudgetSpendTable {
  org_id: string;
  scope: 'org' | 'project' | 'user';
  subject_id: string;
  month: ColumnType<Date | string, string, string>;
  spent_usd: ColumnType<string, string | number | undefined, string | number>;
  warned_at: Timestamp | null;
}

export interface BudgetReservationsTable {
  id: Generated<string>;
  org_id: string;
  project_id: string | null;
  user_id: string | null;
  month: ColumnType<Date | string, string, string>;
  amount_usd: ColumnType<string, string | number, string | number>;
  expires_at: Timestamp;
  created_at: Generated<Date>;
}

export interface Database {
  orgs: OrgsTable;
  users: UsersTable;
  org_memberships: OrgMembershipsTable;
  projects: ProjectsTable;
  project_members: ProjectMembersTable;
  api_keys: ApiKeysTable;
  invites: InvitesTable;
  refresh_tokens: RefreshTokensTable;
  audit_log: AuditLogTable;
  secrets: SecretsTable;
  worker_heartbeats: WorkerHeartbeatsTable;
  reviews: ReviewsTable;
  reviewer_runs: ReviewerRunsTable;
  findings: FindingsTable;
  knowledge: KnowledgeTable;
  worktree_leases: WorktreeLeasesTable;
  events: EventsTable;
  usage_ledger: UsageLedgerTable;
  gate_limits: GateLimitsTable;
  budget_spend: BudgetSpendTable;
  budget_reservations: BudgetReservationsTable;
}
