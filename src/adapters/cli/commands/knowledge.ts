import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { envDefaults, withClient } from '../context.js';
import { output } from '../output.js';

const enc = encodeURIComponent;

export function registerKnowledge(program: Command): void {
  const knowledge = program
    .command('knowledge')
    .description("search and export a project's shared knowledge (serious findings kept from reviews)")
    .addHelpText(
      'after',
      `
Examples:
  quorum knowledge search --project web --query "sql"
  quorum knowledge export --project web > KNOWLEDGE.md`,
    );

  knowledge
    .command('search')
    .description('knowledge entries, newest first, optionally matching a text (viewer)')
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .option('--query <text>', 'text to look for in title, detail, file or category')
    .option('--limit <n>', 'at most n', '50')
    .action(async (o: { project: string; query?: string; limit: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const q = new URLSearchParams({ limit: o.limit });
        if (o.query) q.set('q', o.query);
        const page = expectOk(await c.request('GET', `/v1/projects/${enc(o.project)}/knowledge?${q}`)) as { items: Array<Record<string, unknown>> };
        output(!!g.json, page, page.items, ['severity', 'category', 'title', 'file', 'developer_name', 'created_at']);
      }),
    );

  knowledge
    .command('export')
    .description("the project's KNOWLEDGE.md (viewer)")
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .option('--out <file>', 'write to this file instead of standard output')
    .action(async (o: { project: string; out?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const res = await c.request('GET', `/v1/projects/${enc(o.project)}/knowledge.md`);
        expectOk(res);
        const md = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
        if (o.out) await fs.writeFile(o.out, md);
        else process.stdout.write(md.endsWith('\n') ? md : md + '\n');
      }),
    );
}
