import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { withClient } from '../context.js';
import { output, printJson } from '../output.js';

/** The org the credential acts in; its members and invites are under `quorum users`. */
export function registerOrg(program: Command): void {
  const org = program.command('org').description('the org your API key acts in: show it, rename it, accept an invite to another');

  org
    .command('show')
    .description('the current org, your role in it and its tier')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const o = expectOk(await c.request('GET', '/v1/orgs/current')) as Record<string, unknown>;
        output(!!g.json, o, [o], ['id', 'name', 'slug', 'tier', 'role', 'created_at']);
      }),
    );

  org
    .command('rename <name>')
    .description('rename the current org (owner/admin)')
    .action(async (name: string, _o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const o = expectOk(await c.request('PATCH', '/v1/orgs/current', { name })) as Record<string, unknown>;
        if (g.json) printJson(o);
        else process.stdout.write(`renamed the org to ${o.name}\n`);
      }),
    );

  org
    .command('accept-invite <token>')
    .description("join the org of an invite addressed to your email")
    .addHelpText('after', '\nExample:\n  QUORUM_API_KEY=qk_… quorum org accept-invite inv_…')
    .action(async (token: string, _o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('POST', '/v1/invites/accept', { token })) as { org: { name: string; id: string } };
        if (g.json) printJson(r);
        else process.stdout.write(`joined ${r.org.name} (${r.org.id})\n`);
      }),
    );
}
