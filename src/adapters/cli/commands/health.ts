import type { Command } from 'commander';
import { expectOk } from '../client.js';
import { withClient } from '../context.js';
import { printJson } from '../output.js';

export function registerHealth(program: Command): void {
  program
    .command('health')
    .description('is the server up and ready? --detailed: pool, queue, workers, versions (org admin)')
    .option('--detailed', 'the detailed report (org admin)')
    .addHelpText('after', '\nExit codes: 0 ready · 7 not ready or unreachable.\n\nExample:\n  quorum --url http://quorum:7420 health --detailed --json')
    .action(async (o: { detailed?: boolean }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const res = await c.request('GET', o.detailed ? '/health/detailed' : '/readyz');
        if (o.detailed) expectOk(res);
        if (g.json || o.detailed) printJson(res.body);
        else process.stdout.write(`${res.status < 400 ? 'ready' : 'not ready'}: ${JSON.stringify(res.body)}\n`);
        if (res.status >= 400) process.exitCode = 7;
      }),
    );

  program
    .command('metrics')
    .description('the Prometheus metrics of the process that answers (org admin, unless QUORUM_METRICS_PUBLIC)')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c) => {
        const res = await c.request('GET', '/metrics');
        expectOk(res);
        process.stdout.write(typeof res.body === 'string' ? res.body : JSON.stringify(res.body));
      }),
    );
}
