import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILTIN_RULES, runBuiltinPanel } from '../../src/core/llm/builtin/index.js';
import { parseUnifiedDiff } from '../../src/core/review/diff.js';
import { codeSpan, escapeProse } from '../../src/core/review/report-md.js';
import { fingerprint } from '../../src/core/review/fingerprint.js';
import { renderMarkdownReport, reviewReportJsonSchema, ReviewReportSchema, toJsonReport, toSarif, sarifLevel, type SarifLog } from '../../src/core/review/report.js';
import { summarizeReview } from '../../src/core/review/summary.js';
import type { RawFinding, ReviewSummary } from '../../src/core/review/types.js';

const modelFinding: RawFinding = {
  file: 'src/users/user.repo.ts',
  lineStart: 15,
  lineEnd: 16,
  category: 'security',
  severity: 7,
  title: 'SQL injection in findUserByEmail | unsafe <script>',
  detail: 'The email is *interpolated*\ninto the query.',
  reviewer: 'correctness',
};

const builtinRaw = await runBuiltinPanel(parseUnifiedDiff(readFileSync(new URL('../fixtures/review/sql-injection-ts.diff', import.meta.url), 'utf8')));

function summary(): ReviewSummary {
  return summarizeReview({
    raw: [...builtinRaw, modelFinding],
    panelSize: 5,
    coverage: { filesCovered: ['src/users/user.repo.ts', 'test/users/user.repo.test.ts'], filesClipped: [{ file: 'big.sql', reason: 'too large: ~9000 tokens, budget 4000' }] },
  });
}

describe('Markdown report', () => {
  const s = summary();
  const sql = s.findings.find((f) => f.rule === 'injection/sql-concat')!;
  const md = renderMarkdownReport(s, { title: 'Review proj1/test', similar: new Map([[sql.fingerprint, 'similar finding detected by alice on 2026-02-21']]), generatedAt: '2026-02-21T10:00:00Z' });

  it('has title, score, verdict and coverage', () => {
    expect(md).toMatch(/^# Review proj1\/test\n/);
    expect(md).toContain(`**Score:** ${s.score.toFixed(2)} / 10`);
    // One reviewer's severity-8 finding scores about 6: worth a comment, not a block (see verdict()).
    expect(s.verdict).toBe('comment');
    expect(md).toContain('**Verdict:** 💬 comment');
    expect(md).toContain('- `src/users/user.repo.ts`');
    expect(md).toContain('- `big.sql`: too large: ~9000 tokens, budget 4000');
  });

  it('lists findings by score with agreement, rule, suggestion and the similar note', () => {
    const rows = md.split('\n').filter((l) => /^\| \d+ \|/.test(l));
    expect(rows).toHaveLength(s.findings.length);
    const scores = rows.map((r) => Number(r.split('|')[2]));
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(md).toContain(`${sql.agreement}/5 (security)`);
    expect(md).toContain('`injection/sql-concat`');
    expect(md).toContain('**Suggestion:** Use bound parameters');
    expect(md).toContain('> 🔁 similar finding detected by alice on 2026-02-21');
  });

  it('escapes reviewer text so it cannot break the table or inject HTML', () => {
    const row = md.split('\n').find((l) => l.includes('findUserByEmail \\| unsafe'));
    expect(row).toBeDefined();
    expect(md).not.toContain('<script>');
    expect(md).toContain('&lt;script&gt;');
    expect(md).toContain('\\*interpolated\\*');
  });

  it('keeps `code` in reviewer prose as inline code, literal inside, escaped around it', () => {
    expect(escapeProse('`eval` runs <b>any</b> string: `a < b && x_y`, and a lone ` stays text')).toBe(
      '`eval` runs &lt;b&gt;any&lt;/b&gt; string: `a < b && x_y`, and a lone \\` stays text',
    );
    expect(escapeProse('`</code><script>alert(1)</script>`')).toBe('`</code><script>alert(1)</script>`'); // a code span renders it as text
    expect(escapeProse('*bold* `x`\n`y` [link](http://e)')).toBe('\\*bold\\* `x`\n`y` \\[link\\](http://e)');
    expect(codeSpan('src/my_file.ts')).toBe('`src/my_file.ts`');
    expect(codeSpan('odd`name.ts')).toBe('`` odd`name.ts ``');
  });

  it('says so when there is nothing to report', () => {
    const empty = renderMarkdownReport({ score: 0, verdict: 'pass', findings: [], coverage: { filesCovered: [], filesClipped: [] } }, { title: 't' });
    expect(empty).toContain('No findings.');
    expect(empty).toContain('pass');
  });
});

describe('JSON report', () => {
  it('follows schema 1.0 and carries every finding', () => {
    const s = summary();
    const json = toJsonReport(s, { title: 'Review', similar: new Map([[s.findings[0]!.fingerprint, 'seen before']]) });
    expect(ReviewReportSchema.parse(JSON.parse(JSON.stringify(json)))).toEqual(json);
    expect(json.schema_version).toBe('1.0');
    expect(json.findings).toHaveLength(s.findings.length);
    expect(json.findings[0]?.similar).toBe('seen before');
    expect(json.coverage.files_clipped).toEqual([{ file: 'big.sql', reason: 'too large: ~9000 tokens, budget 4000' }]);
    const model = json.findings.find((f) => f.rule === null);
    expect(model?.agreement).toEqual({ k: 1, n: 5 });
    expect(model?.rules).toEqual([]);
    expect(json.findings.find((f) => f.rule === 'injection/sql-concat')?.rules).toEqual(['injection/sql-concat']);
  });

  it('rejects reports of another version and publishes a JSON Schema', () => {
    const json = toJsonReport(summary(), { title: 'Review' });
    expect(ReviewReportSchema.safeParse({ ...json, schema_version: '2.0' }).success).toBe(false);
    const schema = reviewReportJsonSchema();
    expect(schema.type).toBe('object');
    expect(Object.keys(schema.properties as object)).toContain('schema_version');
  });
});

describe('SARIF report', () => {
  const s = summary();
  const sarif = toSarif(s, { toolVersion: '0.1.0', informationUri: 'https://example.com/quorum', ruleCatalog: BUILTIN_RULES });
  const run = sarif.runs[0]!;

  it('has the 2.1.0 envelope and the Quorum driver with its rules', () => {
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/);
    expect(run.tool.driver.name).toBe('Quorum');
    const ids = run.tool.driver.rules.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain('injection/sql-concat');
    expect(ids).toContain('quorum/security');
    expect(run.tool.driver.rules.find((r) => r.id === 'injection/sql-concat')?.shortDescription.text).toBe(BUILTIN_RULES.get('injection/sql-concat')?.title);
  });

  it('maps each finding to a result with location, level and our fingerprint', () => {
    expect(run.results).toHaveLength(s.findings.length);
    for (const [i, r] of run.results.entries()) {
      const f = s.findings[i]!;
      expect(run.tool.driver.rules[r.ruleIndex]?.id).toBe(r.ruleId);
      expect(r.level).toBe(sarifLevel(f.severity));
      expect(r.partialFingerprints['quorum/v1']).toBe(fingerprint(f.file, f.category, f.title));
      const loc = r.locations[0]!.physicalLocation;
      expect(loc.artifactLocation.uri).toBe(f.file);
      expect(loc.region).toEqual({ startLine: f.lineStart, endLine: f.lineEnd });
      expect(r.message.text.length).toBeGreaterThan(0);
    }
    expect([sarifLevel(9), sarifLevel(7), sarifLevel(4), sarifLevel(3.9)]).toEqual(['error', 'error', 'warning', 'note']);
  });

  it('encodes paths as URI references', () => {
    const odd = summarizeReview({ raw: [{ ...modelFinding, file: 'docs/my notes#1.md' }], panelSize: 1, coverage: { filesCovered: [], filesClipped: [] } });
    expect(toSarif(odd, { toolVersion: '0' }).runs[0]?.results[0]?.locations[0]?.physicalLocation.artifactLocation.uri).toBe('docs/my%20notes%231.md');
  });

  // The OASIS SARIF 2.1.0 schema ships in @microsoft/jest-sarif (a dev dependency, with ajv and
  // ajv-formats): what GitHub code scanning validates uploads against.
  const require = createRequire(import.meta.url);
  const schemaPath = require.resolve('@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json');

  it('validates against the SARIF 2.1.0 JSON schema', () => {
    expect(validateSarif(require, schemaPath, sarif)).toEqual([]);
    const broken = structuredClone(sarif) as unknown as { runs: { results: { level: string }[] }[] };
    broken.runs[0]!.results[0]!.level = 'fatal';
    expect(validateSarif(require, schemaPath, broken as unknown as SarifLog)).not.toEqual([]);
  });
});

/**
 * The OASIS schema is draft-04; it uses no keyword whose meaning changed since (no exclusive*),
 * so it compiles under Ajv's draft-07 default once its root `id` is spelled `$id`. One of its
 * patterns is not valid with the `u` flag, hence unicodeRegExp: false.
 */
function validateSarif(require: NodeJS.Require, schemaPath: string, log: SarifLog): string[] {
  type AjvInstance = { compile(schema: object): ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null } };
  const AjvModule = require('ajv') as { default: new (opts: object) => AjvInstance };
  const addFormats = require('ajv-formats') as { default: (ajv: AjvInstance) => void };
  const { $schema: _draft, id, ...rest } = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
  const ajv = new AjvModule.default({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats.default(ajv);
  const validate = ajv.compile({ $id: id, ...rest });
  return validate(JSON.parse(JSON.stringify(log))) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}
