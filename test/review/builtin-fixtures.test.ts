import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runBuiltinPanel } from '../../src/core/llm/builtin/index.js';
import { parseUnifiedDiff } from '../../src/core/review/diff.js';
import { summarizeReview } from '../../src/core/review/summary.js';

function fixture(name: string) {
  return parseUnifiedDiff(readFileSync(new URL(`../fixtures/review/${name}.diff`, import.meta.url), 'utf8'));
}

describe('built-in reviewers on fixture diffs with known problems', () => {
  it.each([
    // fixture, rule, file, line, minimum severity
    ['sql-injection-ts', 'injection/sql-concat', 'src/users/user.repo.ts', 15, 8],
    ['aws-key', 'secrets/aws-access-key', 'src/storage/s3-client.ts', 7, 9],
    ['eval-request', 'injection/code-eval', 'src/routes/calc.routes.js', 10, 9],
    ['tls-disabled', 'tls/verification-disabled', 'src/integrations/billing-client.ts', 8, 7],
    ['md5-password', 'crypto/weak-hash-for-secret', 'src/auth/passwords.ts', 4, 6],
    ['python-shell', 'injection/python-shell', 'app/backup.py', 11, 9],
    ['missing-test', 'tests/missing-test', 'src/billing/invoice-total.ts', 1, 4],
  ] as const)('%s → %s', (name, rule, file, line, severity) => {
    const findings = runBuiltinPanel(fixture(name));
    const match = findings.find((f) => f.rule === rule);
    expect(match, `${rule} not found; got ${findings.map((f) => f.rule).join(', ')}`).toBeDefined();
    expect(match?.file).toBe(file);
    expect(match?.lineStart).toBeLessThanOrEqual(line);
    expect(match?.lineEnd).toBeGreaterThanOrEqual(line);
    expect(match?.severity).toBeGreaterThanOrEqual(severity);
  });

  it('blocks the secret, the shell injection and the eval', () => {
    for (const name of ['aws-key', 'python-shell', 'eval-request']) {
      const summary = summarizeReview({ raw: runBuiltinPanel(fixture(name)), panelSize: 5, coverage: { filesCovered: [], filesClipped: [] } });
      expect(summary.verdict, name).toBe('request_changes');
    }
  });
});

describe('built-in reviewers on clean fixture diffs', () => {
  it.each(['clean-tested', 'docs-only'])('%s produces no finding above severity 3', (name) => {
    const files = fixture(name);
    expect(files.length).toBeGreaterThan(0);
    const serious = runBuiltinPanel(files).filter((f) => f.severity > 3);
    expect(serious).toEqual([]);
  });

  it('the well-tested change passes outright', () => {
    const summary = summarizeReview({ raw: runBuiltinPanel(fixture('clean-tested')), panelSize: 5, coverage: { filesCovered: [], filesClipped: [] } });
    expect(summary.verdict).toBe('pass');
  });
});
