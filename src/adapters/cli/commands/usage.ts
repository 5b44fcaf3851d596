import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { withClient } from '../context.js';
import { output, printJson, printTable } from '../output.js';

const usd = (v: unknown) => (typeof v === 'number' ? `$${v.toFixed(4)}` : '-');

export function registerUsage(program: Command): void {
  program
    .command('usage')
    .description('LLM usage and cost (org admins: the whole org; members: their own calls)')
    .option('--group-by <g>', 'org, project, user, key, model or day', 'org')
    .option('--from <iso>', 'inclusive start (default: start of this month, UTC)')
    .option('--to <iso>', 'exclusive end (default: now)')
    .option('--project <project>', 'only this project (id or slug)')
    .addHelpText('after', '\nExamples:\n  quorum usage --group-by model\n  quorum usage --group-by user --from 2026-11-01T00:00:00Z --json')
    .action(async (o: { groupBy: string; from?: string; to?: string; project?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const qs = new URLSearchParams({ group_by: o.groupBy });
        if (o.from) qs.set('from', o.from);
        if (o.to) qs.set('to', o.to);
        if (o.project) qs.set('project', o.project);
        const u = expectOk(await c.request('GET', `/v1/usage?${qs.toString()}`)) as {
          from: string;
          to: string;
          scope: string;
          items: Array<Record<string, unknown>>;
          total: Record<string, unknown>;
        };
        if (g.json) return printJson(u);
        process.stdout.write(`usage ${u.from} → ${u.to}${u.scope === 'self' ? ' (your calls)' : ''}\n`);
        const rows = [...u.items, { key: 'TOTAL', label: null, ...u.total }].map((r) => ({ ...r, group: r.label ?? r.key ?? '(none)', cost: usd(r.cost_usd) }));
        printTable(rows, ['group', 'calls', 'failed_calls', 'input_tokens', 'output_tokens', 'cost', 'avg_latency_ms', 'avg_wait_ms']);
      }),
    );

  const limits = program.command('limits').description('monthly budgets and rate limits (org admin)');

  limits
    .command('list')
    .description('budgets and rate limits with month-to-date spend')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const l = expectOk(await c.request('GET', '/v1/limits')) as { month: string; tier: string; org_spent_this_month_usd: number; defaults: Record<string, unknown>; items: Array<Record<string, unknown>> };
        if (g.json) return printJson(l);
        const orgBudget = l.items.find((r) => r.scope === 'org' && r.monthly_budget_usd != null)?.monthly_budget_usd;
        const budget = orgBudget != null ? `org budget ${usd(orgBudget)}` : `default org budget ${usd(l.defaults.org_monthly_budget_usd)}`;
        process.stdout.write(`${l.month} · tier ${l.tier} · org spent ${usd(l.org_spent_this_month_usd)} of its ${budget}\n`);
        output(false, l, l.items.map((r) => ({ ...r, budget: usd(r.monthly_budget_usd), spent: usd(r.spent_this_month_usd) })), ['id', 'scope', 'subject_id', 'budget', 'spent', 'rpm', 'tpm']);
      }),
    );

  limits
    .command('set <scope> [subject]')
    .description('set a budget and/or rate limits: scope org, project, user or key; subject = project id/slug, member id/email or key id')
    .option('--budget <usd>', "monthly budget in USD ('none' clears it)")
    .option('--rpm <n>', "requests per minute ('none' clears it)")
    .option('--tpm <n>', "tokens per minute ('none' clears it)")
    .addHelpText('after', '\nExamples:\n  quorum limits set org --budget 200\n  quorum limits set project web --budget 50\n  quorum limits set user alice@example.com --rpm 30 --tpm 100000\n  quorum limits set key 3f2a… --rpm none')
    .action(async (scope: string, subject: string | undefined, o: { budget?: string; rpm?: string; tpm?: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const val = (v: string | undefined) => (v === undefined ? undefined : v === 'none' ? null : Number(v));
        const body = { scope, ...(subject !== undefined && { subject }), monthly_budget_usd: val(o.budget), rpm: val(o.rpm), tpm: val(o.tpm) };
        const r = expectOk(await c.request('PUT', '/v1/limits', JSON.parse(JSON.stringify(body)))) as Record<string, unknown>;
        if (g.json) printJson(r);
        else if (r.removed) process.stdout.write(`removed the ${scope} limits\n`);
        else process.stdout.write(`set ${scope} ${String(r.subject_id)}: budget ${usd(r.monthly_budget_usd)} rpm ${String(r.rpm ?? '-')} tpm ${String(r.tpm ?? '-')}\n`);
      }),
    );

  limits
    .command('remove <id>')
    .description('remove a limit row (its subject falls back to the defaults)')
    .action(async (id: string, _o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('DELETE', `/v1/limits/${encodeURIComponent(id)}`));
        if (g.json) printJson(r);
        else process.stdout.write(`removed limit ${id}\n`);
      }),
    );
}
