import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { envDefaults, withClient } from '../context.js';
import { output, printJson } from '../output.js';

const enc = encodeURIComponent;

/** Project members: who has which role (admin, reviewer, viewer) on one project. */
export function registerMembers(program: Command): void {
  const members = program
    .command('members')
    .description("manage a project's members and their roles (org admins are admins of every project)")
    .addHelpText(
      'after',
      `
Examples:
  quorum members list --project web
  quorum members set bob@example.com reviewer --project web
  quorum members remove 5b0d3f52-… --project web --json`,
    );

  members
    .command('list')
    .description("list a project's explicit members (viewer)")
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .action(async (o: { project: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const items: Array<Record<string, unknown>> = [];
        let cursor: string | null = null;
        do {
          const page = expectOk(
            await c.request('GET', `/v1/projects/${enc(o.project)}/members?limit=200${cursor ? `&cursor=${enc(cursor)}` : ''}`),
          ) as { items: Array<Record<string, unknown>>; next_cursor: string | null };
          items.push(...page.items);
          cursor = page.next_cursor;
        } while (cursor);
        output(!!g.json, items, items, ['user_id', 'email', 'name', 'role', 'created_at']);
      }),
    );

  members
    .command('show <user>')
    .description("a user's role on the project (viewer)")
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .action(async (user: string, o: { project: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const m = expectOk(await c.request('GET', `/v1/projects/${enc(o.project)}/members/${enc(user)}`)) as Record<string, unknown>;
        output(!!g.json, m, [m], ['user_id', 'email', 'name', 'role', 'created_at']);
      }),
    );

  members
    .command('set <user> <role>')
    .description('grant or change a role on the project: admin, reviewer or viewer (project admin)')
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .action(async (user: string, role: string, o: { project: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const m = expectOk(await c.request('PUT', `/v1/projects/${enc(o.project)}/members/${enc(user)}`, { role })) as Record<string, unknown>;
        if (g.json) printJson(m);
        else process.stdout.write(`${m.email ?? user} is ${m.role} on ${o.project}\n`);
      }),
    );

  members
    .command('remove <user>')
    .description('remove a member from the project (project admin)')
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .action(async (user: string, o: { project: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('DELETE', `/v1/projects/${enc(o.project)}/members/${enc(user)}`));
        if (g.json) printJson(r);
        else process.stdout.write(`removed ${user} from ${o.project}\n`);
      }),
    );
}
