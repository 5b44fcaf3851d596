import { describe, expect, it } from 'vitest';
import { buildReviewPrompt, buildSystemPrompt } from '../../src/core/llm/providers/prompt.js';
import { LlmFindingsSchema } from '../../src/core/review/finding.schemas.js';
import { personaFromSystem, scriptedFindings } from '../../src/dev/stand-ins/scripted-review.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';

/** A diff that adds `lines` to `file` starting at new-file line `start`. */
function added(file: string, lines: string[], start = 1): string {
  return [`diff --git a/${file} b/${file}`, `--- a/${file}`, `+++ b/${file}`, `@@ -${start},0 +${start},${lines.length} @@`, ...lines.map((l) => `+${l}`), ''].join('\n');
}

const PROBLEMS = added(
  'src/api.ts',
  [
    'const q = `SELECT * FROM orders WHERE id = ${req.params.id}`;', // 20
    'const value = eval(req.body.expression);', // 21
    "const apiKey = 'sk-live-9f8e7d6c5b4a39281706';", // 22
    "exec('git log ' + branch);", // 23
    'const agent = new https.Agent({ rejectUnauthorized: false });', // 24
    'try { await save(x); } catch (e) {}', // 25
    'for (const id of ids) {', // 26
    '  const row = await db.query("select * from t where id = $1", [id]);', // 27
    '}', // 28
  ],
  20,
);

describe('scripted reviewer (the stand-in model)', () => {
  it('finds the classic problems on the right file and new-file line, with well-formed findings', () => {
    const findings = scriptedFindings(buildReviewPrompt(PROBLEMS, ['src/api.ts']));
    const at = (line: number) => findings.filter((f) => f.lineStart === line).map((f) => f.title);
    expect(at(20)).toEqual(['SQL injection via string concatenation']);
    expect(at(21)).toEqual(['Code injection via eval']);
    expect(at(22)).toEqual(['Hard-coded credential']);
    expect(at(23)).toEqual(['Command injection via shell string']);
    expect(at(24)).toEqual(['TLS certificate verification disabled']);
    expect(at(25)).toEqual(['Exception swallowed by an empty catch']);
    expect(at(27)).toEqual(['Query inside a loop (N+1)']);
    expect(at(26).concat(at(28))).toEqual([]);
    for (const f of findings) {
      expect(f.file).toBe('src/api.ts');
      expect(f.lineEnd).toBe(f.lineStart);
      expect(f.detail.toLowerCase()).toContain(`line ${f.lineStart}`);
      expect(f.suggestion.length).toBeGreaterThan(10);
    }
    // Exactly what the report tool's schema accepts.
    expect(LlmFindingsSchema.safeParse({ findings }).success).toBe(true);
  });

  it('names the spliced value, never the secret', () => {
    const findings = scriptedFindings(PROBLEMS);
    expect(findings.find((f) => f.lineStart === 20)?.detail).toContain('`req.params.id`');
    const secret = findings.find((f) => f.title === 'Hard-coded credential');
    expect(secret?.detail).toContain('`apiKey`');
    expect(JSON.stringify(findings)).not.toContain('sk-live-9f8e7d6c5b4a39281706');
  });

  it('reviews the SQL fixture of the review tests exactly where the injection is', () => {
    const findings = scriptedFindings(newFileDiff('src/users.ts', SQLI_TS));
    expect(findings).toEqual([expect.objectContaining({ file: 'src/users.ts', lineStart: 4, category: 'security', severity: 9, title: 'SQL injection via string concatenation' })]);
  });

  it('answers as the persona of the system prompt', () => {
    expect(personaFromSystem(buildSystemPrompt('security'))).toBe('security');
    expect(personaFromSystem(buildSystemPrompt('performance'))).toBe('performance');
    expect(personaFromSystem('You are a helpful assistant.')).toBeUndefined();
    const sec = scriptedFindings(PROBLEMS, { persona: 'security' });
    expect(new Set(sec.map((f) => f.category))).toEqual(new Set(['security']));
    expect(sec).toHaveLength(5);
    expect(scriptedFindings(PROBLEMS, { persona: 'performance' }).map((f) => f.title)).toEqual(['Query inside a loop (N+1)']);
    expect(scriptedFindings(PROBLEMS, { persona: 'tests' })).toEqual([]);
  });

  it('reviews only added lines, counts context lines, and skips deleted files', () => {
    const diff = [
      'diff --git a/src/db.ts b/src/db.ts',
      '--- a/src/db.ts',
      '+++ b/src/db.ts',
      '@@ -5,3 +5,3 @@',
      ' const a = 1;',
      "-const old = 'SELECT * FROM t WHERE id = ' + id;",
      "+const q = 'SELECT * FROM t WHERE id = ' + id;",
      ' const b = 2;',
      '\\ No newline at end of file',
      'diff --git a/src/gone.ts b/src/gone.ts',
      '--- a/src/gone.ts',
      '+++ /dev/null',
      '@@ -1,1 +0,0 @@',
      "-eval(input);",
      '',
    ].join('\n');
    expect(scriptedFindings(diff).map((f) => [f.file, f.lineStart])).toEqual([['src/db.ts', 6]]);
  });

  it('is quiet on clean code: parameterized queries, secrets from the environment, placeholders', () => {
    const clean = added('src/ok.ts', [
      "const rows = await db.query('SELECT * FROM t WHERE id = $1', [id]);",
      'const apiKey = process.env.API_KEY;',
      "const password = 'changeme';",
      "execFile('git', ['log', branch]);",
      'const n = JSON.parse(body);',
      '// TODO(#123): batch these',
    ]);
    expect(scriptedFindings(clean)).toEqual([]);
  });

  it('knows test files: focused, skipped and sleeping tests there; debug logging only outside', () => {
    const diff = [
      added('test/login.test.ts', ["it.only('logs in', async () => {", '  await sleep(500);', "it.skip('logs out', () => {});", "  console.log('debug');"]),
      added('src/login.ts', ["console.log('user', user);"]),
    ].join('\n');
    expect(scriptedFindings(diff).map((f) => `${f.file}:${f.lineStart} ${f.title}`)).toEqual([
      'test/login.test.ts:1 Focused test (.only) committed',
      'test/login.test.ts:2 Test waits on a fixed sleep',
      'test/login.test.ts:3 Test skipped',
      'src/login.ts:1 Leftover debug logging',
    ]);
  });
});
