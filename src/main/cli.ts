import { Command, CommanderError } from 'commander';
import { ZodError } from 'zod';
import { ConfigError } from '../config.js';
import { AppError, exitCodeFor } from '../core/errors.js';
import { registerAdmin } from '../adapters/cli/commands/admin.js';
import { registerDev } from '../adapters/cli/commands/dev.js';
import { registerKeys } from '../adapters/cli/commands/keys.js';
import { registerMcp } from '../adapters/cli/commands/mcp.js';
import { registerAudit } from '../adapters/cli/commands/audit.js';
import { registerCommandList } from '../adapters/cli/commands/commands.js';
import { registerAuth } from '../adapters/cli/commands/auth.js';
import { registerHealth } from '../adapters/cli/commands/health.js';
import { registerKnowledge } from '../adapters/cli/commands/knowledge.js';
import { registerMembers } from '../adapters/cli/commands/members.js';
import { registerOrg } from '../adapters/cli/commands/org.js';
import { registerPlan } from '../adapters/cli/commands/plan.js';
import { registerProcesses } from '../adapters/cli/commands/processes.js';
import { registerProjects } from '../adapters/cli/commands/projects.js';
import { registerReview } from '../adapters/cli/commands/review.js';
import { registerUsers } from '../adapters/cli/commands/users.js';
import { registerUsage } from '../adapters/cli/commands/usage.js';
import { VERSION } from '../version.js';

const program = new Command('quorum')
  .description('Quorum: multi-tenant AI code reviews and coding-agent jobs')
  .version(VERSION)
  .option('--data-dir <dir>', 'data directory (env QUORUM_DATA_DIR, default ~/.quorum)')
  .option('--url <url>', 'talk to this Quorum server (env QUORUM_URL); default: the local installation')
  .option('--api-key <key>', 'API key (env QUORUM_API_KEY)')
  .option('--json', 'machine-readable output')
  .showHelpAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    `
Exit codes: 0 ok · 1 unexpected error · 2 bad input · 3 not authenticated / forbidden
            4 not found · 5 conflict · 6 rate limited / over budget · 7 database or server unavailable
            9 review verdict at or above --fail-on

Examples:
  quorum serve                                  # API + workers on the embedded database
  quorum bootstrap --email me@example.com --org "Me"
  QUORUM_API_KEY=qk_… quorum projects list --json`,
  );

// `quorum … | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

registerProcesses(program);
registerAdmin(program);
registerProjects(program);
registerKeys(program);
registerUsers(program);
registerReview(program);
registerUsage(program);
registerMcp(program);
registerMembers(program);
registerKnowledge(program);
registerPlan(program);
registerAudit(program);
registerOrg(program);
registerAuth(program);
registerHealth(program);
registerCommandList(program);
registerDev(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  if (e instanceof AppError) {
    process.stderr.write(`error: ${e.code}: ${e.message}\n`);
    if (e.details) process.stderr.write(JSON.stringify(e.details, null, 2) + '\n');
    process.exit(exitCodeFor(e.code));
  }
  if (e instanceof ZodError) {
    process.stderr.write(`error: validation_failed: ${e.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
    process.exit(2);
  }
  if (e instanceof ConfigError) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(2);
  }
  const err = e as { code?: string; message?: string };
  if (err.code === 'database_newer_than_code' || err.code === 'migration_checksum_mismatch') {
    process.stderr.write(`error: ${err.code}: ${err.message}\n`);
    process.exit(7);
  }
  process.stderr.write(`error: ${err.message ?? String(e)}\n`);
  process.exit(1);
});
