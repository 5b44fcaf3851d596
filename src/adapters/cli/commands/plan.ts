import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { envDefaults, withClient } from '../context.js';
import { printJson } from '../output.js';

interface Plan {
  summary: string;
  tasks: Array<{ id: string; title: string; description: string; depends_on: string[]; files: string[]; acceptance: string[]; complexity: string }>;
  provider: string;
  model: string;
}

async function readText(file: string): Promise<string> {
  if (file !== '-') return fs.readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('turn a requirements text into a task plan with the configured LLM provider (reviewer role)')
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .option('--requirements <text>', 'the requirements text')
    .option('--file <file>', 'read the requirements from a file ("-": standard input)')
    .option('--max-tasks <n>', 'at most n tasks', (v) => Number(v))
    .addHelpText(
      'after',
      `
Needs an LLM provider (ANTHROPIC_API_KEY, or QUORUM_OPENAI_BASE_URL + QUORUM_OPENAI_MODEL) on the
server; with only the built-in reviewers it fails with provider_not_configured (exit 2).

Examples:
  quorum plan --project web --requirements "Add password reset by email"
  gh issue view 42 --json body -q .body | quorum plan --project web --file - --json`,
    )
    .action(async (o: { project: string; requirements?: string; file?: string; maxTasks?: number }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const requirements = o.file ? await readText(o.file) : (o.requirements ?? '');
        const plan = expectOk(
          await c.request('POST', '/v1/plan', { project_id: o.project, requirements, ...(o.maxTasks && { max_tasks: o.maxTasks }) }),
        ) as Plan;
        if (g.json) return printJson(plan);
        const lines = [plan.summary, ''];
        for (const t of plan.tasks) {
          lines.push(`${t.id} [${t.complexity}] ${t.title}${t.depends_on.length ? `  (after ${t.depends_on.join(', ')})` : ''}`);
          if (t.description) lines.push(`    ${t.description}`);
          for (const a of t.acceptance) lines.push(`    - ${a}`);
        }
        lines.push('', `(${plan.provider} ${plan.model})`);
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}
