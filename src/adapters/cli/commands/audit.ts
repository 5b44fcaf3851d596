import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { withClient } from '../context.js';
import { output } from '../output.js';

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description("read the org's audit trail, newest first (org admin)")
    .option('--actor <user_id>', 'only this user')
    .option('--project <project>', 'only this project (id or slug)')
    .option('--action <action>', 'only this action, e.g. project.create, review.start')
    .option('--since <iso>', 'from this time (ISO 8601)')
    .option('--until <iso>', 'until this time (ISO 8601)')
    .option('--limit <n>', 'at most n entries (pages are followed)', '50')
    .addHelpText(
      'after',
      `
Examples:
  quorum audit --project web --since 2026-01-01T00:00:00Z
  quorum audit --action key.create --json | jq '.[].actor_user_id'`,
    )
    .action(async (o: { actor?: string; project?: string; action?: string; since?: string; until?: string; limit: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const want = Math.max(1, Number(o.limit) || 50);
        const items: Array<Record<string, unknown>> = [];
        let cursor: string | null = null;
        do {
          const q = new URLSearchParams({ limit: String(Math.min(200, want - items.length)) });
          for (const k of ['actor', 'project', 'action', 'since', 'until'] as const) if (o[k]) q.set(k, o[k]);
          if (cursor) q.set('cursor', cursor);
          const page = expectOk(await c.request('GET', `/v1/audit?${q}`)) as { items: Array<Record<string, unknown>>; next_cursor: string | null };
          items.push(...page.items);
          cursor = page.next_cursor;
        } while (cursor && items.length < want);
        output(!!g.json, items, items, ['id', 'created_at', 'action', 'actor_user_id', 'project_id', 'target_type', 'target_id', 'ip']);
      }),
    );
}
