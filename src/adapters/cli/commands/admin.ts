import type { Command } from 'commander';
import { sql } from 'kysely';
import { redactConfig } from '../../../config.js';
import { BootstrapInput, bootstrapOwner } from '../../../core/tenancy/bootstrap.js';
import { migrate, migrationStatus } from '../../../db/migrate.js';
import { createLogger } from '../../../main/logger.js';
import { openRuntime } from '../../../main/runtime.js';
import { VERSION } from '../../../version.js';
import { DEAD_WORKER_SWEEPER, listSingletonSessions } from '../../../core/jobs/singletons.repo.js';
import { configFrom } from '../context.js';
import { printJson } from '../output.js';

/** Commands that need the database itself rather than the API: migrate, bootstrap, doctor. */
export function registerAdmin(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (also done at every start)')
    .action(async (_o, cmd: Command) => {
      const { config, opts } = configFrom(cmd);
      const logger = createLogger('warn', { role: 'cli' });
      const rt = await openRuntime(config, { logger, migrate: false, poolSize: 1 });
      try {
        const res = await migrate(rt.adminUrl, config.database.appRole);
        if (opts.json) printJson(res);
        else process.stdout.write(res.applied.length ? `applied: ${res.applied.join(', ')}\n` : `up to date (schema ${res.current})\n`);
      } finally {
        await rt.close();
      }
    });

  program
    .command('bootstrap')
    .description('create the first owner, their org and an API key (printed once)')
    .requiredOption('--email <email>', "the owner's email")
    .requiredOption('--org <name>', 'the name of the new org')
    .option('--name <name>', "the owner's display name")
    .addHelpText('after', '\nExample:\n  quorum bootstrap --email alice@example.com --org "Acme" --json')
    .action(async (o: { email: string; org: string; name?: string }, cmd: Command) => {
      const { config, opts } = configFrom(cmd);
      const input = BootstrapInput.parse({ email: o.email, org: o.org, ...(o.name && { name: o.name }) });
      const logger = createLogger('warn', { role: 'cli' });
      const rt = await openRuntime(config, { logger, migrate: true, poolSize: 1 });
      try {
        const r = await bootstrapOwner(rt.deps, input);
        if (opts.json) printJson({ org_id: r.org_id, user_id: r.user_id, api_key: r.api_key });
        else
          process.stdout.write(
            [
              `Created org "${o.org}" (${r.org_id}) with owner ${input.email} (${r.user_id}).`,
              '',
              `  API key: ${r.api_key}`,
              '',
              'Store it now: it is shown only once. Use it as:',
              '  export QUORUM_API_KEY=<key>      (CLI)',
              '  curl -H "X-API-Key: <key>" …     (REST)',
              '',
            ].join('\n'),
          );
      } finally {
        await rt.close();
      }
    });

  program
    .command('doctor')
    .description('check the installation: effective config (secrets redacted), database, versions')
    .action(async (_o, cmd: Command) => {
      const { config, opts } = configFrom(cmd);
      const report: Record<string, unknown> = {
        quorum: VERSION,
        node: process.version,
        config: redactConfig(config),
      };
      let ok = true;
      try {
        const logger = createLogger('warn', { role: 'cli' });
        const rt = await openRuntime(config, { logger, migrate: false, poolSize: 1 });
        try {
          const v = await sql<{ v: string; role: string; bypass: boolean; sup: boolean }>`
            select current_setting('server_version') as v, current_user as role,
                   r.rolbypassrls as bypass, r.rolsuper as sup
              from pg_roles r where r.rolname = current_user`.execute(rt.deps.db);
          const st = await migrationStatus(rt.appPool);
          const row = v.rows[0];
          report.database = {
            reachable: true,
            mode: config.database.mode,
            server_version: row?.v,
            runtime_role: row?.role,
            runtime_role_bypasses_rls: !!(row?.bypass || row?.sup),
            schema_version: st.current,
            expected_schema_version: st.expected,
            pending_migrations: st.pending,
          };
          if (row?.bypass || row?.sup || st.pending > 0) ok = false;
          // Workers and the cluster singletons: with workers running, nobody holding the dead-worker
          // sweeper means a crashed worker's reviews stay locked (health looked fine without it).
          const [live, sessions] = await Promise.all([
            sql<{ n: number }>`select count(*)::int as n from worker_heartbeats where last_seen > now() - make_interval(secs => ${config.worker.lapseMs / 1000})`.execute(rt.deps.db),
            listSingletonSessions(rt.deps.db),
          ]);
          const held = sessions.filter((x) => x.state === 'held').map((x) => ({ name: x.name, holder: x.holder }));
          const workers = live.rows[0]?.n ?? 0;
          const unswept = workers > 0 && !held.some((h) => h.name === DEAD_WORKER_SWEEPER);
          report.workers = { live: workers, singletons_held: held, ...(unswept && { problem: `${workers} live worker(s) but no process holds the ${DEAD_WORKER_SWEEPER}: a crashed worker's reviews would stay locked (a worker started a moment ago may still be acquiring it; check again, then its log)` }) };
          if (unswept) ok = false;
        } finally {
          await rt.close();
        }
      } catch (e) {
        ok = false;
        report.database = { reachable: false, mode: config.database.mode, error: (e as Error).message.replace(/postgres(ql)?:\/\/[^@\s]*@/g, 'postgres://***@') };
      }
      report.master_key = config.masterKey ? 'QUORUM_MASTER_KEY' : `key file in ${config.dataDir}`;
      report.ok = ok;
      if (opts.json) printJson(report);
      else {
        const db = report.database as Record<string, unknown>;
        process.stdout.write(
          [
            `quorum ${VERSION} on node ${process.version}`,
            `database (${config.database.mode}): ${db.reachable ? `reachable, PostgreSQL ${db.server_version}, schema ${db.schema_version}/${db.expected_schema_version}, runtime role ${db.runtime_role}${db.runtime_role_bypasses_rls ? ' (BYPASSES RLS!)' : ''}` : `UNREACHABLE: ${db.error}`}`,
            `master key: ${report.master_key}`,
            ...(report.workers ? [workersLine(report.workers as { live: number; singletons_held: Array<{ name: string; holder: string }>; problem?: string })] : []),
            'effective config:',
            JSON.stringify(report.config, null, 2),
            ok ? 'ok' : 'problems found',
          ].join('\n') + '\n',
        );
      }
      if (!ok) process.exitCode = 7;
    });
}

function workersLine(w: { live: number; singletons_held: Array<{ name: string; holder: string }>; problem?: string }): string {
  const held = w.singletons_held.map((h) => `${h.name} (${h.holder})`).join(', ') || 'none';
  const head = w.live ? `workers: ${w.live} live; singletons held: ${held}` : 'workers: none live (queued reviews wait until one runs)';
  return w.problem ? `${head}\nPROBLEM: ${w.problem}` : head;
}
