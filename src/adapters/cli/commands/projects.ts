import type { Command } from 'commander';
import { AppError } from '../../../core/errors.js';
import { expectOk } from '../client.js';
import { withClient } from '../context.js';
import { output, printJson } from '../output.js';

interface Page {
  items: Array<Record<string, unknown>>;
  next_cursor: string | null;
}

export function registerProjects(program: Command): void {
  const projects = program.command('projects').description('manage projects (repositories registered in your org)');

  projects
    .command('list')
    .description('list the projects you can see')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const items: Array<Record<string, unknown>> = [];
        let cursor: string | null = null;
        do {
          const page = expectOk(await c.request('GET', `/v1/projects?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)) as Page;
          items.push(...page.items);
          cursor = page.next_cursor;
        } while (cursor);
        output(!!g.json, items, items, ['slug', 'name', 'role', 'default_branch', 'repo_url', 'id']);
      }),
    );

  projects
    .command('create <slug>')
    .description('register a repository as a project (org admin)')
    .option('--name <name>', 'display name')
    .option('--repo <location>', 'repository URL or local path')
    .option('--branch <branch>', 'default branch', undefined)
    .addHelpText('after', '\nExample:\n  quorum projects create web --repo /srv/git/web.git --branch main')
    .action(async (slug: string, o: { name?: string; repo?: string; branch?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const p = expectOk(
          await c.request('POST', '/v1/projects', {
            slug,
            ...(o.name && { name: o.name }),
            ...(o.repo && { repo_url: o.repo }),
            ...(o.branch && { default_branch: o.branch }),
          }),
        ) as Record<string, unknown>;
        if (g.json) printJson(p);
        else process.stdout.write(`created project ${p.slug} (${p.id})\n`);
      }),
    );

  projects
    .command('show <project>')
    .description('show a project by id or slug')
    .action(async (ref: string, _o, cmd: Command) =>
      withClient(cmd, async (c) => printJson(expectOk(await c.request('GET', `/v1/projects/${encodeURIComponent(ref)}`)))),
    );

  projects
    .command('update <project>')
    .description('change a project: slug, name, repository, default branch, settings (project admin)')
    .option('--slug <slug>', 'new slug')
    .option('--name <name>', 'display name')
    .option('--repo <location>', 'repository URL or local path ("" removes it)')
    .option('--branch <branch>', 'default branch')
    .option('--settings <json>', 'settings object as JSON, e.g. \'{"knowledge_min_severity":8}\'')
    .addHelpText('after', '\nExample:\n  quorum projects update web --branch trunk --settings \'{"panel":[{"persona":"security","provider":"anthropic"}]}\'')
    .action(async (ref: string, o: { slug?: string; name?: string; repo?: string; branch?: string; settings?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        let settings: unknown;
        if (o.settings !== undefined) {
          try {
            settings = JSON.parse(o.settings);
          } catch {
            throw new AppError('bad_request', '--settings must be a JSON object');
          }
        }
        const p = expectOk(
          await c.request('PATCH', `/v1/projects/${encodeURIComponent(ref)}`, {
            ...(o.slug && { slug: o.slug }),
            ...(o.name && { name: o.name }),
            ...(o.repo !== undefined && { repo_url: o.repo === '' ? null : o.repo }),
            ...(o.branch && { default_branch: o.branch }),
            ...(settings !== undefined && { settings }),
          }),
        ) as Record<string, unknown>;
        if (g.json) printJson(p);
        else process.stdout.write(`updated project ${p.slug} (${p.id})\n`);
      }),
    );

  projects
    .command('delete <project>')
    .description('delete a project and everything in it (org admin)')
    .action(async (ref: string, _o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('DELETE', `/v1/projects/${encodeURIComponent(ref)}`));
        if (g.json) printJson(r);
        else process.stdout.write(`deleted project ${ref}\n`);
      }),
    );
}
