import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { RequestContext } from './actor.js';

export interface AuditEntry {
  action: string;
  projectId?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  diff?: Record<string, unknown> | null;
}

export interface AuditRow {
  id: string;
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
  diff: Record<string, unknown> | null;
  created_at: Date;
}

/** Writes one audit row in the caller's transaction (house rule 5: same transaction as the change). */
export async function insertAudit(tx: Transaction<Database>, ctx: RequestContext, e: AuditEntry): Promise<void> {
  await auditInsert(tx, ctx, e).execute();
}

/** The insert of insertAudit, not run: for a statement that writes the audit row along with the change. */
export function auditInsert(tx: Transaction<Database>, ctx: RequestContext, e: AuditEntry) {
  return tx.insertInto('audit_log').values({
    org_id: ctx.actor.orgId,
    actor_user_id: ctx.actor.userId,
    api_key_id: ctx.actor.apiKeyId,
    project_id: e.projectId ?? null,
    action: e.action,
    target_type: e.targetType ?? null,
    target_id: e.targetId ?? null,
    ip: ctx.ip,
    user_agent: ctx.userAgent?.slice(0, 500) ?? null,
    correlation_id: ctx.correlationId,
    diff: e.diff ? JSON.stringify(e.diff) : null,
  });
}

export interface AuditQuery {
  actor?: string | undefined;
  project?: string | undefined;
  action?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  cursor?: string | undefined;
  limit: number;
}

export async function listAudit(tx: Transaction<Database>, q: AuditQuery): Promise<AuditRow[]> {
  let query = tx.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(q.limit + 1);
  if (q.actor) query = query.where('actor_user_id', '=', q.actor);
  if (q.project) query = query.where('project_id', '=', q.project);
  if (q.action) query = query.where('action', '=', q.action);
  if (q.since) query = query.where('created_at', '>=', q.since);
  if (q.until) query = query.where('created_at', '<', q.until);
  if (q.cursor) query = query.where('id', '<', q.cursor);
  return await query.execute();
}

/** Retention: deletes one org's audit rows older than `before` through the named system function. */
export async function purgeAuditOlderThan(tx: Transaction<Database>, orgId: string, before: Date): Promise<number> {
  const res = await sql<{ n: string }>`select quorum.system_purge_audit(${orgId}::uuid, ${before}) as n`.execute(tx);
  return Number(res.rows[0]?.n ?? 0);
}
