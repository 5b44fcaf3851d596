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
    ['eslint-unsafe-regex', 'eslint:security/detect-unsafe-regex', 'src/validation/email.ts', 10, 5],
    ['eslint-child-process', 'eslint:security/detect-child-process', 'src/tools/thumbnail.js', 13, 7],
    ['eslint-timing-attack', 'eslint:security/detect-possible-timing-attacks', 'src/webhooks/verify.ts', 14, 4],
    ['python-complex', 'tree-sitter:complexity', 'app/pricing/discounts.py', 8, 3],
    ['go-long-function', 'tree-sitter:function-length', 'pkg/report/render.go', 14, 3],
    ['java-nested', 'tree-sitter:deep-nesting', 'src/main/java/shop/Inventory.java', 23, 2],
    ['ruby-complex', 'tree-sitter:complexity', 'lib/billing/invoice.rb', 13, 3],
  ] as const)('%s → %s', async (name, rule, file, line, severity) => {
    const findings = await runBuiltinPanel(fixture(name));
    const match = findings.find((f) => f.rule === rule);
    expect(match, `${rule} not found; got ${findings.map((f) => f.rule).join(', ')}`).toBeDefined();
    expect(match?.file).toBe(file);
    expect(match?.lineStart).toBeLessThanOrEqual(line);
    expect(match?.lineEnd).toBeGreaterThanOrEqual(line);
    expect(match?.severity).toBeGreaterThanOrEqual(severity);
  });

  it('blocks the secret, the shell injection and the eval', async () => {
    for (const name of ['aws-key', 'python-shell', 'eval-request']) {
      const summary = summarizeReview({ raw: await runBuiltinPanel(fixture(name)), panelSize: 5, coverage: { filesCovered: [], filesClipped: [] } });
      expect(summary.verdict, name).toBe('request_changes');
    }
  });
});

describe('built-in reviewers on clean fixture diffs', () => {
  it.each(['clean-tested', 'docs-only', 'clean-python', 'clean-go'])('%s produces no finding above severity 3', async (name) => {
    const files = fixture(name);
    expect(files.length).toBeGreaterThan(0);
    const serious = (await runBuiltinPanel(files)).filter((f) => f.severity > 3);
    expect(serious).toEqual([]);
  });

  it('the well-tested change passes outright', async () => {
    const summary = summarizeReview({ raw: await runBuiltinPanel(fixture('clean-tested')), panelSize: 5, coverage: { filesCovered: [], filesClipped: [] } });
    expect(summary.verdict).toBe('pass');
  });
});
