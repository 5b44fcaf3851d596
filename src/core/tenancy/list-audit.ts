import type { CoreDeps } from '../deps.js';
import { forbidden, notFound } from '../errors.js';
import { withTenant } from '../../db/client.js';
import type { Actor } from './actor.js';
import { listAudit } from './audit.repo.js';
import type { AuditEntryOut, AuditQueryInput } from './audit.schemas.js';
import type { Page } from './list-projects.js';
import { findProject } from './projects.repo.js';
import { isOrgAdmin } from './rbac.js';

/** The org's audit trail, newest first (org admins/owners with an unrestricted credential). */
export async function listAuditEntries(deps: CoreDeps, actor: Actor, q: AuditQueryInput): Promise<Page<AuditEntryOut>> {
  // A key limited to some projects must not read what happened in the others.
  if (!isOrgAdmin(actor) || actor.keyProjectIds !== null) throw forbidden('reading the audit log needs the org admin or owner role');
  return withTenant(
    deps.db,
    actor.orgId,
    async (tx) => {
      let projectId: string | undefined;
      if (q.project) {
        const p = await findProject(tx, q.project);
        if (!p) throw notFound('project');
        projectId = p.id;
      }
      const rows = await listAudit(tx, {
        actor: q.actor,
        project: projectId,
        action: q.action,
        since: q.since ? new Date(q.since) : undefined,
        until: q.until ? new Date(q.until) : undefined,
        cursor: q.cursor,
        limit: q.limit,
      });
      const page = rows.slice(0, q.limit);
      return {
        items: page.map((r) => ({ ...r, diff: r.diff, created_at: r.created_at.toISOString() })),
        next_cursor: rows.length > q.limit ? page.at(-1)!.id : null,
      };
    },
    { userId: actor.userId },
  );
}
