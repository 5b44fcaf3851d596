import fs from 'node:fs/promises';
import type { Command } from 'commander';
import { AppError } from '../../../core/errors.js';
import type { ApiClient } from '../client.js';
import { expectOk } from '../client.js';
import { envDefaults, withClient } from '../context.js';
import { output, printJson } from '../output.js';

interface Review {
  id: string;
  status: string;
  score: number | null;
  verdict: string | null;
  findings_count: number;
  progress: { completed: number; total: number };
  error: { code: string; message: string } | null;
  links: Record<string, string>;
}

interface EventsPage {
  items: Array<{ id: string; type: string; payload: Record<string, unknown> }>;
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return fs.readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function bar(done: number, total: number, label: string): string {
  const width = 24;
  const filled = total ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
}

/**
 * Follows a review through its events (the same stream the SSE endpoint serves) and draws progress
 * on stderr until it reaches a terminal state.
 */
async function follow(c: ApiClient, id: string, quiet: boolean): Promise<Review> {
  let after = '0';
  let delay = 100;
  const tty = process.stderr.isTTY;
  for (;;) {
    const page = expectOk(await c.request('GET', `/v1/reviews/${id}/events?format=json&after=${after}`)) as EventsPage;
    for (const e of page.items) {
      after = e.id;
      if (quiet) continue;
      const p = e.payload as { completed?: number; total?: number; reviewer?: string };
      const line =
        e.type === 'reviewer.completed' || e.type === 'reviewer.started'
          ? bar(p.completed ?? 0, p.total ?? 0, `${e.type === 'reviewer.started' ? 'running' : 'done'} ${p.reviewer ?? ''}`)
          : e.type;
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
      if (e.type.startsWith('review.') && e.type !== 'review.queued' && e.type !== 'review.started' && tty) process.stderr.write('\n');
    }
    if (page.items.some((e) => e.type === 'review.completed' || e.type === 'review.failed' || e.type === 'review.cancelled')) break;
    if (page.items.length === 0) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    } else delay = 100;
  }
  return expectOk(await c.request('GET', `/v1/reviews/${id}`)) as Review;
}

export function registerReview(program: Command): void {
  program
    .command('review')
    .description('review a change: the last commit of the default branch, two refs, or a diff')
    .requiredOption('--project <project>', 'project id or slug (env QUORUM_PROJECT)', envDefaults.project)
    .option('--task <task_id>', 'your label for this piece of work', 'cli')
    .option('--base <ref>', 'base ref (with --head)')
    .option('--head <ref>', 'head ref (with --base)')
    .option('--diff <file>', 'a unified diff file ("-" reads standard input)')
    .option('--reviewers <list>', 'comma-separated personas, e.g. security,tests')
    .option('--priority <p>', 'low, normal or high', 'normal')
    .option('--format <fmt>', 'report printed at the end: md, json or sarif', 'md')
    .option('--wait', 'wait for the review, with progress, and print its report (the default)')
    .option('--no-wait', 'queue the review and print its id without waiting')
    .option('--fail-on <verdict>', 'exit 9 when the verdict is this or worse: comment or request_changes')
    .addHelpText(
      'after',
      `
Examples:
  quorum review --project web                         # last commit of the default branch
  quorum review --project web --base main --head feature/login --format sarif > review.sarif
  git diff | quorum review --project web --diff - --task PR-42 --fail-on request_changes`,
    )
    .action(
      async (
        o: { project: string; task: string; base?: string; head?: string; diff?: string; reviewers?: string; priority: string; format: string; wait?: boolean; failOn?: string },
        cmd: Command,
      ) =>
        withClient(cmd, async (c, g) => {
          if ((o.base && !o.head) || (!o.base && o.head)) throw new AppError('bad_request', '--base and --head go together');
          if (o.diff && o.base) throw new AppError('bad_request', 'use either --diff or --base/--head');
          if (!['md', 'json', 'sarif'].includes(o.format)) throw new AppError('bad_request', '--format is md, json or sarif');
          const body = {
            project_id: o.project,
            task_id: o.task,
            priority: o.priority,
            ...(o.base && o.head && { target: { base: o.base, head: o.head } }),
            ...(o.diff && { target: { diff: await readInput(o.diff) } }),
            ...(o.reviewers && { reviewers: o.reviewers.split(',').map((s) => s.trim()).filter(Boolean) }),
          };
          const started = expectOk(await c.request('POST', '/v1/review/async', body)) as Review;
          if (o.wait === false) {
            if (g.json) printJson(started);
            else process.stdout.write(`queued review ${started.id}\n`);
            return;
          }
          // Local mode: no server may be running, so this process works the queue while it waits.
          const stopLocalWorker = await c.startLocalWorker?.();
          let review: Review;
          try {
            review = await follow(c, started.id, !!g.json);
          } finally {
            await stopLocalWorker?.();
          }
          if (review.status !== 'completed') {
            // Every reviewer over budget or rate limited: that code's exit status (6), not "bad input".
            const code = review.error?.code === 'budget_exceeded' ? 'budget_exceeded' : 'unprocessable';
            throw new AppError(code, `review ${review.id} ${review.status}${review.error ? `: ${review.error.code}: ${review.error.message}` : ''}`);
          }
          const report = await c.request('GET', `/v1/reviews/${review.id}/report.${o.format}`);
          expectOk(report);
          process.stdout.write(typeof report.body === 'string' ? report.body : JSON.stringify(report.body, null, 2));
          process.stdout.write('\n');
          const rank = { pass: 0, comment: 1, request_changes: 2 } as Record<string, number>;
          if (o.failOn && review.verdict && (rank[review.verdict] ?? 0) >= (rank[o.failOn] ?? 99)) process.exitCode = 9;
        }),
    );

  const reviews = program.command('reviews').description('list, show and cancel reviews');
  reviews
    .command('list')
    .description('reviews you can see, newest first')
    .option('--project <project>', 'only this project')
    .option('--status <status>', 'queued, running, completed, failed or cancelled')
    .option('--task <task_id>', 'only this task')
    .option('--developer <user>', "only this developer's (user id or email)")
    .option('--min-score <score>', 'only reviews scoring at least this (0-10)')
    .option('--since <date>', 'only reviews created at or after this ISO 8601 date or time')
    .option('--limit <n>', 'at most n, newest first (more than 200: several pages)', '50')
    .action(async (o: { project?: string; status?: string; task?: string; developer?: string; minScore?: string; since?: string; limit: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const want = Number(o.limit);
        if (!Number.isInteger(want) || want < 1) throw new Error('--limit must be a positive whole number');
        const q = new URLSearchParams();
        if (o.project) q.set('project', o.project);
        if (o.status) q.set('status', o.status);
        if (o.task) q.set('task_id', o.task);
        if (o.developer) q.set('developer', o.developer);
        if (o.minScore) q.set('min_score', o.minScore);
        if (o.since) q.set('since', o.since);
        const items: Array<Record<string, unknown>> = [];
        let cursor: string | null = null;
        do {
          q.set('limit', String(Math.min(200, want - items.length)));
          if (cursor) q.set('cursor', cursor);
          const page = expectOk(await c.request('GET', `/v1/reviews?${q}`)) as { items: Array<Record<string, unknown>>; next_cursor: string | null };
          items.push(...page.items);
          cursor = page.next_cursor;
        } while (cursor && items.length < want);
        const rows = items.map((r) => ({ ...r, progress: `${(r.progress as Review['progress']).completed}/${(r.progress as Review['progress']).total}` }));
        output(!!g.json, items, rows, ['id', 'task_id', 'status', 'progress', 'score', 'verdict', 'findings_count', 'created_at']);
      }),
    );
  reviews
    .command('show <id>')
    .description('a review as JSON with its findings, or its report (--format md, json or sarif)')
    .option('--format <fmt>', 'md, json or sarif (default: the review as JSON)')
    .action(async (id: string, o: { format?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        if (!o.format) return printJson(expectOk(await c.request('GET', `/v1/reviews/${encodeURIComponent(id)}`)));
        const r = await c.request('GET', `/v1/reviews/${encodeURIComponent(id)}/report.${o.format}`);
        expectOk(r);
        process.stdout.write((typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2)) + '\n');
      }),
    );
  reviews
    .command('events <id>')
    .description("a review's progress events so far (JSON lines with --json)")
    .option('--after <event_id>', 'only events after this one', '0')
    .action(async (id: string, o: { after: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const page = expectOk(await c.request('GET', `/v1/reviews/${encodeURIComponent(id)}/events?format=json&after=${encodeURIComponent(o.after)}`)) as EventsPage;
        const rows = page.items.map((e) => ({ id: e.id, type: e.type, payload: JSON.stringify(e.payload) }));
        output(!!g.json, page, rows, ['id', 'type', 'payload']);
      }),
    );
  reviews
    .command('cancel <id>')
    .description('cancel a queued or running review')
    .action(async (id: string, _o, cmd: Command) =>
      withClient(cmd, async (c) => printJson(expectOk(await c.request('POST', `/v1/reviews/${encodeURIComponent(id)}/cancel`)))),
    );
}
