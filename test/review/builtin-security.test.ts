import { describe, expect, it } from 'vitest';
import { runBuiltinReviewer } from '../../src/core/llm/builtin/index.js';
import type { DiffFile } from '../../src/core/review/diff.js';
import { newFile } from './diff-builder.js';

async function rules(file: DiffFile | DiffFile[]): Promise<string[]> {
  return (await runBuiltinReviewer('security', Array.isArray(file) ? file : [file])).map((f) => f.rule ?? '');
}

// Fake credentials are assembled at run time so this file itself never holds one.
const fake = (prefix: string, body: string) => prefix + body;

describe('secrets', () => {
  it.each([
    ['secrets/aws-access-key', `const id = '${fake('AKIA', 'Z7Q4M2WB9XKTN3PL')}';`],
    ['secrets/github-token', `token = "${fake('ghp_', 'a'.repeat(12) + 'B7c9D2e4F6g8H1j3K5m7N9p2')}"`],
    ['secrets/github-token', `GH=${fake('github_pat_', '11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ')}`],
    ['secrets/slack-token', `url: ${fake('xoxb-', '1234567890-0987654321-AbCdEfGhIjKl')}`],
    ['secrets/stripe-live-key', `stripe(${JSON.stringify(fake('sk_live_', '4eC39HqLyjWDarjtT1zdp7dc'))})`],
    ['secrets/anthropic-api-key', `key = '${fake('sk-ant-', 'api03-' + 'x1Y2z3W4v5U6t7S8r9Q0p1O2n3M4')}'`],
    ['secrets/openai-api-key', `OPENAI='${fake('sk-proj-', 'Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78')}'`],
    ['secrets/private-key', fake('-----BEGIN RSA ', 'PRIVATE KEY-----')],
    ['secrets/jwt', `auth = "${fake('eyJ', 'hbGciOiJIUzI1NiJ9')}.${fake('eyJ', 'zdWIiOiIxMjM0NTY3ODkwIn0')}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"`],
    ['secrets/high-entropy-assignment', `const dbPassword = "${'hT9$kQ2!vX7#mP4z'}";`],
    ['secrets/hardcoded-password', `const dbPassword = "hunter2hunter2";`],
    ['secrets/hardcoded-password', `conn = connect(user="admin", pwd='letmein1')`],
  ])('%s is found', async (rule, line) => {
    expect(await rules(newFile('src/config.ts', [line]))).toContain(rule);
  });

  it('reports a provider key once, not again as a high-entropy credential', async () => {
    expect(await rules(newFile('src/config.ts', [`const accessKey = '${fake('AKIA', 'Z7Q4M2WB9XKTN3PL')}';`]))).toEqual(['secrets/aws-access-key']);
  });

  it('finds bare secrets in .env files and redacts them in the detail', async () => {
    const findings = await runBuiltinReviewer('security', [newFile('.env.production', [`CLIENT_SECRET=${'Zq8Rt5Yp2Lk9Mw3Nx7Vb4'}`])]);
    expect(findings.map((f) => f.rule)).toEqual(['secrets/high-entropy-assignment']);
    expect(findings[0]?.detail).not.toContain('Zq8Rt5Yp2Lk9Mw3Nx7Vb4');
    expect(findings[0]?.severity).toBe(8);
  });

  it.each([
    `const password = process.env.DB_PASSWORD;`,
    `const token = "changeme-changeme-changeme";`,
    `const apiKey = "aaaaaaaaaaaaaaaaaaaa";`,
    `const tokenizer = "hT9kQ2vX7mP4zLw8";`,
    `password: z.string().min(12),`,
    `const example = 'AKIAIOSFODNN7EXAMPLE';`,
    `const secretPath = "/var/run/secrets/kubernetes.io/token";`,
    `const passwordLabel = "Enter your password";`,
    `<input type="password" name="password" />`,
    `password: "password",`,
    `const password = "changeme";`,
  ])('stays quiet on %s', async (line) => {
    expect(await rules(newFile('src/config.ts', [line]))).toEqual([]);
  });

  it('skips the entropy rule in tests but still catches provider keys there', async () => {
    expect(await rules(newFile('test/x.test.ts', [`const password = "hT9$kQ2!vX7#mP4z";`]))).toEqual([]);
    expect(await rules(newFile('test/x.test.ts', [`const k = '${fake('AKIA', 'Z7Q4M2WB9XKTN3PL')}';`]))).toEqual(['secrets/aws-access-key']);
  });
});

describe('injection', () => {
  it.each([
    ['injection/sql-concat', 'src/r.ts', ['const rows = await db.query("SELECT * FROM users WHERE id = " + req.params.id);']],
    ['injection/sql-concat', 'src/r.ts', ['const sql = `DELETE FROM sessions WHERE user_id = ${userId}`;']],
    ['injection/sql-concat', 'src/r.ts', ['await pool.query(', '  `UPDATE users SET name = \'${name}\'', '   WHERE id = ${id}`,', ');']],
    ['injection/sql-concat', 'app/r.py', ['cursor.execute(f"SELECT id FROM users WHERE name = \'{name}\'")']],
    ['injection/sql-concat', 'app/r.py', ['cursor.execute("SELECT id FROM users WHERE name = \'%s\'" % name)']],
    ['injection/code-eval', 'src/r.js', ['const fn = new Function("a", body);']],
    ['injection/code-eval', 'app/r.py', ['result = eval(request.args["expr"])']],
    ['injection/command-exec', 'src/r.ts', ['exec(`git log ${branch}`, cb);']],
    ['injection/command-exec', 'src/r.ts', ["child_process.execSync('convert ' + file + ' out.png');"]],
    ['injection/command-exec', 'src/r.ts', ["spawn('sh', ['-c', `ls ${dir}`]);"]],
    ['injection/python-shell', 'app/r.py', ['os.system("rm -rf " + path)']],
    ['injection/python-shell', 'app/r.py', ['subprocess.call("ping -c 1 {}".format(host), shell=True)']],
    ['injection/path-traversal', 'src/r.ts', ['res.sendFile(path.join(__dirname, "uploads", req.params.name));']],
    ['injection/path-traversal', 'app/r.py', ['with open(os.path.join(BASE, request.args["f"])) as fh:']],
  ])('%s in %s', async (rule, path, lines) => {
    expect(await rules(newFile(path, lines))).toContain(rule);
  });

  it('rates tainted SQL and eval at 9', async () => {
    const f = await runBuiltinReviewer('security', [newFile('src/r.ts', ['const r = await db.query(`SELECT * FROM t WHERE id = ${req.query.id}`);', 'eval(req.body.code);'])]);
    expect(f.map((x) => [x.rule, x.severity])).toEqual([
      ['injection/sql-concat', 9],
      ['injection/code-eval', 9],
    ]);
  });

  it.each([
    ["const rows = await db.query('SELECT id FROM users WHERE id = $1', [id]);"],
    ['const rows = await sql`SELECT id FROM users WHERE id = ${id}`;'],
    ['logger.info(`selected ${count} rows from cache`);'],
    ['const m = pattern.exec(`${input}`);'],
    ["execFile('git', ['log', branch]);"],
    ["setTimeout(() => run(), 10);"],
    ['const cfg = JSON.parse(readFileSync(path.join(__dirname, "config.json"), "utf8"));'],
    ["const safe = path.join(root, path.basename(req.params.name));"],
    ['const res = await sql<{ id: string }>`select id from users where email = ${email}`.execute(db);'],
    ['await client.query(`grant select on t to ${pg.escapeIdentifier(role)}`);'],
    ['const token = `qi_${randomBytes(32).toString("base64url")}`;'],
  ])('stays quiet on %s', async (line) => {
    expect(await rules(newFile('src/r.ts', [line]))).toEqual([]);
  });

  it('accepts subprocess with an argument list', async () => {
    expect(await rules(newFile('app/r.py', ['subprocess.run(["tar", "-czf", archive, src], check=True)']))).toEqual([]);
  });
});

describe('crypto and TLS', () => {
  it.each([
    ['crypto/weak-hash-for-secret', 'src/a.ts', "const h = createHash('sha1').update(password).digest('hex');"],
    ['crypto/weak-hash-for-secret', 'app/a.py', 'sig = hashlib.md5(secret + payload).hexdigest()'],
    ['crypto/create-cipher', 'src/a.ts', "const c = crypto.createCipher('aes192', key);"],
    ['crypto/weak-cipher', 'src/a.ts', "const c = crypto.createCipheriv('des-ede3-cbc', key, iv);"],
    ['crypto/weak-cipher', 'app/a.py', 'cipher = AES.new(key, AES.MODE_ECB)'],
    ['tls/verification-disabled', 'src/a.ts', "process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';"],
    ['tls/verification-disabled', 'app/a.py', 'requests.get(url, verify=False)'],
    ['tls/verification-disabled', 'pkg/a.go', 'cfg := &tls.Config{InsecureSkipVerify: true}'],
  ])('%s in %s', async (rule, path, line) => {
    expect(await rules(newFile(path, [line]))).toContain(rule);
  });

  it.each([
    ['app/auth.py', ['def hash_password(pw):', '    return hashlib.md5(pw.encode()).hexdigest()']],
    ['src/auth.ts', ['export function hashPassword(p: string): string {', "  const h = createHash('sha1');", '  return h.update(p).digest("hex");', '}']],
    ['src/sign.ts', ['const signPayload = (body) =>', "  createHash('md5').update(body + KEY).digest('hex');"]],
  ])('a weak hash inside a function named for a secret (%s)', async (path, lines) => {
    expect(await rules(newFile(path, lines))).toContain('crypto/weak-hash-for-secret');
  });

  it('a weak hash under an unrelated function stays quiet, also when a secret-named function is further up', async () => {
    const lines = ['def hash_password(pw):', '    return argon2.hash(pw)', '', 'def cache_key(body):', '    return hashlib.md5(body).hexdigest()'];
    expect(await rules(newFile('app/cache.py', lines))).toEqual([]);
    expect(await rules(newFile('src/etag.ts', ['export function etagOf(body: string): string {', "  return createHash('md5').update(body).digest('hex');", '}']))).toEqual([]);
  });

  it.each([
    "const etag = createHash('md5').update(body).digest('hex');",
    "const c = crypto.createCipheriv('aes-256-gcm', key, iv);",
    '// never set rejectUnauthorized: false here',
    "const what = '`rejectUnauthorized: false` disables TLS';",
  ])('stays quiet on %s', async (line) => {
    expect(await rules(newFile('src/a.ts', [line]))).toEqual([]);
  });
});

describe('file selection', () => {
  it('ignores deleted files and only looks at added lines', async () => {
    const deleted = { ...newFile('src/x.ts', ['eval(req.body.x);']), status: 'deleted' as const };
    expect(await rules(deleted)).toEqual([]);
  });

  it('reports on the right file and line', async () => {
    const [f] = await runBuiltinReviewer('security', [newFile('src/x.ts', ['const a = 1;', 'const b = 2;', 'eval(req.body.x);'])]);
    expect([f?.file, f?.lineStart, f?.reviewer, f?.category]).toEqual(['src/x.ts', 3, 'security', 'security']);
  });
});
