import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { consensusScore, mergeFindings, reviewScore, round2, verdict } from '../../src/core/review/consensus.js';
import { RawFindingSchema, LlmFindingsSchema } from '../../src/core/review/finding.schemas.js';
import { summarizeReview } from '../../src/core/review/summary.js';
import { CATEGORIES, type RawFinding } from '../../src/core/review/types.js';

const PANEL = ['security', 'correctness', 'performance', 'maintainability', 'tests'];

function raw(over: Partial<RawFinding> = {}): RawFinding {
  return {
    file: 'src/a.ts',
    lineStart: 10,
    lineEnd: 10,
    category: 'security',
    severity: 8,
    title: 'SQL injection in getUser',
    detail: 'user input reaches the query',
    reviewer: 'security',
    ...over,
  };
}

describe('consensusScore', () => {
  it('applies CS = 0.5·R̄ + 0.3·R̄·(k/n) + 0.2·R_max', () => {
    expect(consensusScore(8, 2 / 5, 9)).toBe(round2(0.5 * 8 + 0.3 * 8 * 0.4 + 0.2 * 9));
    expect(consensusScore(10, 1, 10)).toBe(10);
    expect(consensusScore(0, 0, 0)).toBe(0);
  });

  it('rounds to two decimals', () => {
    expect(round2(1.005)).toBe(1.01);
    expect(consensusScore(7, 1 / 3, 7)).toBe(5.6);
  });
});

describe('mergeFindings', () => {
  it('merges the same issue from two reviewers within ±3 lines', () => {
    const merged = mergeFindings(
      [raw({ lineStart: 10, lineEnd: 11, severity: 8 }), raw({ reviewer: 'correctness', title: 'sql injection in `getUser`', lineStart: 13, lineEnd: 14, severity: 6 })],
      5,
    );
    expect(merged).toHaveLength(1);
    const [m] = merged;
    expect(m?.reviewers).toEqual(['correctness', 'security']);
    expect(m?.agreement).toBe(2);
    expect(m?.panelSize).toBe(5);
    expect(m?.severity).toBe(8);
    expect([m?.lineStart, m?.lineEnd]).toEqual([10, 14]);
    expect(m?.score).toBe(consensusScore(7, 2 / 5, 8));
    expect(m?.title).toBe('SQL injection in getUser'); // from the most severe report
    expect(m?.occurrences).toBe(2);
  });

  it('does not count one reviewer twice', () => {
    const [m] = mergeFindings([raw(), raw({ lineStart: 11, lineEnd: 11 })], 3);
    expect(m?.agreement).toBe(1);
    expect(m?.occurrences).toBe(2);
  });

  it('keeps findings 4 lines apart separate, and does not chain 1-4-7 into one', () => {
    expect(mergeFindings([raw({ lineStart: 10, lineEnd: 10 }), raw({ lineStart: 14, lineEnd: 14, reviewer: 'tests' })], 5)).toHaveLength(2);
    const chain = mergeFindings([1, 4, 7].map((l, i) => raw({ lineStart: l, lineEnd: l, reviewer: PANEL[i] as string })), 5);
    expect(chain).toHaveLength(2);
  });

  it('rejects a panel smaller than the reviewers present', () => {
    expect(() => mergeFindings([raw(), raw({ reviewer: 'tests' })], 1)).toThrow(RangeError);
    expect(() => mergeFindings([], 0)).toThrow(RangeError);
  });

  it('carries the rule and a suggestion from any member', () => {
    const [m] = mergeFindings([raw({ severity: 9 }), raw({ reviewer: 'tests', severity: 5, suggestion: 'bind parameters', rule: 'injection/sql-concat' })], 2);
    expect(m?.suggestion).toBe('bind parameters');
    expect(m?.rule).toBe('injection/sql-concat');
  });
});

describe('reviewScore and verdict', () => {
  it('is 0 without findings', () => {
    expect(reviewScore([])).toBe(0);
    expect(verdict(0, [])).toBe('pass');
  });

  it('uses mean severity, mean agreement and max severity over merged findings', () => {
    const merged = mergeFindings([raw({ severity: 8 }), raw({ reviewer: 'tests', severity: 8 }), raw({ file: 'src/b.ts', severity: 2, reviewer: 'tests' })], 4);
    // severities 8 and 2 → R̄ 5; agreement 2/4 and 1/4 → 0.375; R_max 8
    expect(reviewScore(merged)).toBe(round2(0.5 * 5 + 0.3 * 5 * 0.375 + 0.2 * 8));
  });

  it('maps scores to verdicts and blocks on any severity ≥ 9', () => {
    expect(verdict(7, [])).toBe('request_changes');
    expect(verdict(6.99, [])).toBe('comment');
    expect(verdict(4, [])).toBe('comment');
    expect(verdict(3.99, [])).toBe('pass');
    expect(verdict(1, [{ severity: 9 }])).toBe('request_changes');
    expect(verdict(5, [], { requestChanges: 5, comment: 2 })).toBe('request_changes');
    expect(() => verdict(5, [], { requestChanges: 2, comment: 5 })).toThrow(RangeError);
  });

  it('summarizes a review', () => {
    const s = summarizeReview({ raw: [raw({ severity: 9 })], panelSize: 5, coverage: { filesCovered: ['src/a.ts'], filesClipped: [] } });
    expect(s.verdict).toBe('request_changes');
    expect(s.findings).toHaveLength(1);
    expect(s.score).toBe(consensusScore(9, 1 / 5, 9));
  });
});

describe('finding schemas', () => {
  it('accepts a valid finding and rejects out-of-range ones', () => {
    expect(RawFindingSchema.parse(raw({ rule: 'injection/sql-concat' }))).toMatchObject({ rule: 'injection/sql-concat' });
    expect(RawFindingSchema.safeParse(raw({ severity: 11 })).success).toBe(false);
    expect(RawFindingSchema.safeParse(raw({ lineStart: 5, lineEnd: 4 })).success).toBe(false);
    expect(RawFindingSchema.safeParse({ ...raw(), category: 'style' }).success).toBe(false);
    expect(RawFindingSchema.safeParse(raw({ rule: 'Not A Rule' })).success).toBe(false);
    expect(LlmFindingsSchema.safeParse({ findings: [{ ...raw(), reviewer: undefined }] }).success).toBe(true);
  });
});

// ---- properties -----------------------------------------------------------------------------

const arbFinding = (panel: string[]) =>
  fc.record({
    file: fc.constantFrom('src/a.ts', 'src/b.ts'),
    lineStart: fc.integer({ min: 1, max: 40 }),
    span: fc.integer({ min: 0, max: 3 }),
    category: fc.constantFrom(...CATEGORIES),
    severity: fc.integer({ min: 0, max: 100 }).map((n) => n / 10),
    title: fc.constantFrom('SQL injection in getUser', 'sql injection in `getUser`', 'Missing test', 'Empty catch'),
    reviewer: fc.constantFrom(...panel),
  }).map(({ span, ...f }): RawFinding => ({ ...f, lineEnd: f.lineStart + span, detail: 'd' }));

const arbPanel = fc.integer({ min: 1, max: 5 }).map((n) => PANEL.slice(0, n));
const arbInput = arbPanel.chain((panel) => fc.tuple(fc.constant(panel.length), fc.array(arbFinding(panel), { maxLength: 25 })));

describe('mergeFindings properties', () => {
  it('does not depend on input order', () => {
    fc.assert(
      fc.property(arbInput, fc.integer(), ([n, findings], seed) => {
        const shuffled = fc.sample(fc.shuffledSubarray(findings, { minLength: findings.length, maxLength: findings.length }), { seed, numRuns: 1 })[0] ?? findings;
        expect(mergeFindings(shuffled, n)).toEqual(mergeFindings(findings, n));
      }),
    );
  });

  it('is unchanged when every report is repeated (idempotent on duplicates)', () => {
    fc.assert(
      fc.property(arbInput, ([n, findings]) => {
        const once = mergeFindings(findings, n);
        const twice = mergeFindings([...findings, ...findings], n);
        expect(twice.map(({ occurrences: _o, ...m }) => m)).toEqual(once.map(({ occurrences: _o, ...m }) => m));
      }),
    );
  });

  it('keeps scores in [0,10], k ≤ n, and accounts for every raw finding', () => {
    fc.assert(
      fc.property(arbInput, ([n, findings]) => {
        const merged = mergeFindings(findings, n);
        for (const m of merged) {
          expect(m.score).toBeGreaterThanOrEqual(0);
          expect(m.score).toBeLessThanOrEqual(10);
          expect(m.agreement).toBeLessThanOrEqual(n);
          expect(m.agreement).toBe(m.reviewers.length);
        }
        expect(merged.reduce((s, m) => s + m.occurrences, 0)).toBe(findings.length);
        const score = reviewScore(merged);
        expect(score).toBeGreaterThanOrEqual(0);
        expect(score).toBeLessThanOrEqual(10);
      }),
    );
  });

  it('never merges findings more than 3 lines apart', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 4, max: 50 }), (start, span, gap) => {
        const a = raw({ lineStart: start, lineEnd: start + span });
        const b = raw({ lineStart: start + span + gap, lineEnd: start + span + gap, reviewer: 'tests' });
        expect(mergeFindings([a, b], 2)).toHaveLength(2);
        expect(mergeFindings([b, a], 2)).toHaveLength(2);
      }),
    );
  });

  it('always merges the same issue within 3 lines', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 3 }), (start, gap) => {
        expect(mergeFindings([raw({ lineStart: start, lineEnd: start }), raw({ lineStart: start + gap, lineEnd: start + gap, reviewer: 'tests' })], 2)).toHaveLength(1);
      }),
    );
  });

  it('never merges different categories of one file', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CATEGORIES), fc.constantFrom(...CATEGORIES), fc.integer({ min: 1, max: 100 }), (c1, c2, line) => {
        fc.pre(c1 !== c2);
        const merged = mergeFindings([raw({ category: c1, lineStart: line, lineEnd: line }), raw({ category: c2, lineStart: line, lineEnd: line, reviewer: 'tests' })], 2);
        expect(merged).toHaveLength(2);
      }),
    );
  });
});
