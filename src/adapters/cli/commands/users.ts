import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { withClient } from '../context.js';
import { output, printJson } from '../output.js';

export function registerUsers(program: Command): void {
  const users = program.command('users').description('members of your org and invitations');

  users
    .command('list')
    .description('list the members of your org')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = expectOk(await c.request('GET', '/v1/orgs/current/members?limit=200')) as { items: Array<Record<string, unknown>> };
        output(!!g.json, page.items, page.items, ['user_id', 'email', 'name', 'role', 'joined_at']);
      }),
    );

  users
    .command('invite <email>')
    .description('invite someone to your org (prints the invite token once)')
    .option('--role <role>', 'admin or member', 'member')
    .action(async (email: string, o: { role: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const inv = expectOk(await c.request('POST', '/v1/orgs/current/invites', { email, role: o.role })) as Record<string, unknown>;
        if (g.json) printJson(inv);
        else process.stdout.write(`invited ${email} as ${o.role}; invite token (shown once): ${inv.token}\n`);
      }),
    );

  users
    .command('invites')
    .description('list the invites of your org (owner/admin)')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = expectOk(await c.request('GET', '/v1/orgs/current/invites?limit=200')) as { items: Array<Record<string, unknown>> };
        output(!!g.json, page.items, page.items, ['id', 'email', 'role', 'status', 'expires_at', 'created_at']);
      }),
    );

  users
    .command('revoke-invite <id>')
    .description('revoke a pending invite (owner/admin)')
    .action(async (id: string, _o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('DELETE', `/v1/orgs/current/invites/${encodeURIComponent(id)}`));
        if (g.json) printJson(r);
        else process.stdout.write(`revoked invite ${id}\n`);
      }),
    );

  users
    .command('role <user> <role>')
    .description("change a member's org role (owner, admin, member)")
    .action(async (user: string, role: string, _o, cmd: Command) =>
      withClient(cmd, async (c) => printJson(expectOk(await c.request('PUT', `/v1/orgs/current/members/${encodeURIComponent(user)}`, { role })))),
    );

  users
    .command('remove <user>')
    .description('remove a member from your org')
    .action(async (user: string, _o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('DELETE', `/v1/orgs/current/members/${encodeURIComponent(user)}`));
        if (g.json) printJson(r);
        else process.stdout.write(`removed ${user}\n`);
      }),
    );
}
