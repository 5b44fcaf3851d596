import type { Command } from 'commander';
import { AppError } from '../../../core/errors.js';
import { expectOk } from '../client.js';
import { envDefaults, withClient } from '../context.js';
import { output, printJson } from '../output.js';

/** The password from QUORUM_PASSWORD or standard input (never a flag: flags land in shell history). */
async function password(fromStdin: boolean): Promise<string> {
  if (!fromStdin && envDefaults.password) return envDefaults.password;
  if (!fromStdin) throw new AppError('bad_request', 'give the password on standard input with --password-stdin, or in QUORUM_PASSWORD');
  const chunks: Buffer[] = [];
  for await (const ch of process.stdin) chunks.push(ch as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Accounts and sessions (people log in with a password; programs use API keys). */
export function registerAuth(program: Command): void {
  const auth = program
    .command('auth')
    .description('accounts and sessions: sign up, log in (prints tokens), refresh, log out')
    .addHelpText(
      'after',
      `
Examples:
  echo "$PASSWORD" | quorum auth signup --email me@example.com --name Me --password-stdin --json
  QUORUM_PASSWORD=… quorum auth login --email me@example.com --json
  quorum auth logout --refresh-token eyJ…`,
    );

  auth
    .command('signup')
    .description('create an account (open signup: with your own org; invite signup: --invite TOKEN)')
    .requiredOption('--email <email>', 'your email')
    .requiredOption('--name <name>', 'your display name')
    .option('--org-name <name>', 'open signup: the name of your new org')
    .option('--invite <token>', 'join the inviting org')
    .option('--password-stdin', 'read the password from standard input (else QUORUM_PASSWORD)')
    .action(async (o: { email: string; name: string; orgName?: string; invite?: string; passwordStdin?: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        const body = { email: o.email, name: o.name, password: await password(!!o.passwordStdin), ...(o.orgName && { org_name: o.orgName }), ...(o.invite && { invite_token: o.invite }) };
        printJson(expectOk(await c.request('POST', '/v1/auth/signup', body)));
      }),
    );

  auth
    .command('login')
    .description('log in with email and password; prints an access token (1 h) and a refresh token (7 d)')
    .requiredOption('--email <email>', 'your email')
    .option('--org <org_id>', 'the org to act in (default: your first)')
    .option('--password-stdin', 'read the password from standard input (else QUORUM_PASSWORD)')
    .action(async (o: { email: string; org?: string; passwordStdin?: boolean }, cmd: Command) =>
      withClient(cmd, async (c) => {
        printJson(expectOk(await c.request('POST', '/v1/auth/login', { email: o.email, password: await password(!!o.passwordStdin), ...(o.org && { org_id: o.org }) })));
      }),
    );

  auth
    .command('refresh')
    .description('rotate a refresh token (each is good once)')
    .requiredOption('--refresh-token <jwt>', 'the refresh token')
    .option('--org <org_id>', 'switch to this org')
    .action(async (o: { refreshToken: string; org?: string }, cmd: Command) =>
      withClient(cmd, async (c) => {
        printJson(expectOk(await c.request('POST', '/v1/auth/refresh', { refresh_token: o.refreshToken, ...(o.org && { org_id: o.org }) })));
      }),
    );

  auth
    .command('logout')
    .description('revoke a refresh token and every token rotated from the same login')
    .requiredOption('--refresh-token <jwt>', 'the refresh token')
    .action(async (o: { refreshToken: string }, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const r = expectOk(await c.request('POST', '/v1/auth/logout', { refresh_token: o.refreshToken }));
        if (g.json) printJson(r ?? { ok: true });
        else process.stdout.write('logged out\n');
      }),
    );

  program
    .command('whoami')
    .description('who the credential acts as: user, org and role, API key limits, quota')
    .action(async (_o, cmd: Command) =>
      withClient(cmd, async (c, g) => {
        const me = expectOk(await c.request('GET', '/v1/auth/me')) as Record<string, unknown> & { user?: Record<string, unknown>; org?: Record<string, unknown> };
        output(!!g.json, me, [{ email: me.user?.email, name: me.user?.name, org: me.org?.name, role: me.org?.role ?? me.role, user_id: me.user?.id }], ['email', 'name', 'org', 'role', 'user_id']);
      }),
    );
}
