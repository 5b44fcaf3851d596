import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { withClient } from '../context.js';
import { output, printJson } from '../output.js';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage API keys');

  keys
    .command('list')
    .description('list your API keys (org admins: all keys of the org)')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = expectOk(await c.request('GET', '/v1/keys?limit=200')) as { items: Array<Record<string, unknown>> };
        output(!!g.json, page.items, page.items, ['id', 'name', 'prefix', 'max_role', 'project_ids', 'expires_at', 'revoked_at', 'last_used_at']);
      }),
    );

  keys
    .command('create <name>')
    .description('create an API key; it is printed once')
    .option('--project <project...>', 'limit the key to these projects (id or slug)')
    .option('--role <role>', 'cap the role the key acts with: admin, reviewer or viewer')
    .option('--expires-days <n>', 'expire after n days', (v) => Number(v))
    .addHelpText('after', '\nExample:\n  quorum keys create ci --project web --role reviewer --expires-days 90')
    .action(async (name: string, o: { project?: string[]; role?: string; expiresDays?: number }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const k = expectOk(
          await c.request('POST', '/v1/keys', {
            name,
            ...(o.project && { projects: o.project }),
            ...(o.role && { max_role: o.role }),
            ...(o.expiresDays && { expires_in_days: o.expiresDays }),
          }),
        ) as Record<string, unknown>;
        if (g.json) printJson(k);
        else process.stdout.write(`created key ${k.name} (${k.id})\n\n  ${k.api_key}\n\nStore it now: it is not shown again.\n`);
      }),
    );

  keys
    .command('revoke <id>')
    .description('revoke an API key')
    .action(async (id: string, _o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('DELETE', `/v1/keys/${encodeURIComponent(id)}`));
        if (g.json) printJson(r);
        else process.stdout.write(`revoked key ${id}\n`);
      }),
    );
}
