import type { DiffFile } from '../../review/diff.js';
import type { Persona } from '../../review/types.js';
import { CORRECTNESS_RULES, detectCorrectness } from './rules/correctness.js';
import { CRYPTO_RULES, detectWeakCryptoAndTls } from './rules/crypto-tls.js';
import { detectEslintSecurity, dropSameProblem, ESLINT_RULES } from './rules/eslint-security.js';
import { detectInjection, INJECTION_RULES } from './rules/injection.js';
import { detectMaintainability, MAINTAINABILITY_RULES } from './rules/maintainability.js';
import { detectPerformance, PERFORMANCE_RULES } from './rules/performance.js';
import type { RuleHit, RuleMeta } from './rules/rule.js';
import { detectSecrets, SECRET_RULES } from './rules/secrets.js';
import { detectTestIssues, TEST_RULES } from './rules/tests.js';
import { detectTreeSitterMetrics, TREE_SITTER_RULES } from './rules/tree-sitter-metrics.js';
import type { FileContents } from './new-side.js';
import { reviewable } from './source.js';

/**
 * One built-in reviewer: which rules it owns and how it runs them over a diff. `contents` holds
 * the changed files' new text when the review has a worktree with the change checked out; without
 * it, parsers see the hunks only.
 */
export interface BuiltinPersona {
  name: Persona;
  rules: readonly RuleMeta[];
  analyse(files: readonly DiffFile[], contents?: FileContents): Promise<RuleHit[]>;
}

/** Per-file analysis, skipping deleted, binary and generated files. */
function perFile(detect: (file: DiffFile) => RuleHit[]): (files: readonly DiffFile[]) => RuleHit[] {
  return (files) => files.filter(reviewable).flatMap(detect);
}

const sync = (analyse: (files: readonly DiffFile[]) => RuleHit[]) => (files: readonly DiffFile[]) => Promise.resolve(analyse(files));

export const BUILTIN_PERSONAS: readonly BuiltinPersona[] = Object.freeze([
  {
    name: 'security',
    rules: [...Object.values(SECRET_RULES), ...Object.values(INJECTION_RULES), ...Object.values(CRYPTO_RULES), ...Object.values(ESLINT_RULES)],
    analyse: async (files, contents) => {
      const own = [
        // Secrets are looked for in generated files too: a key in a lockfile or bundle leaks all the same.
        ...files.flatMap(detectSecrets),
        ...perFile((f) => [...detectInjection(f), ...detectWeakCryptoAndTls(f)])(files),
      ];
      return [...own, ...dropSameProblem(own, await detectEslintSecurity(files, contents))];
    },
  },
  { name: 'correctness', rules: Object.values(CORRECTNESS_RULES), analyse: sync(perFile(detectCorrectness)) },
  { name: 'performance', rules: Object.values(PERFORMANCE_RULES), analyse: sync(perFile(detectPerformance)) },
  {
    name: 'maintainability',
    rules: [...Object.values(MAINTAINABILITY_RULES), ...Object.values(TREE_SITTER_RULES)],
    analyse: async (files, contents) => [...perFile(detectMaintainability)(files), ...(await detectTreeSitterMetrics(files, contents))],
  },
  { name: 'tests', rules: Object.values(TEST_RULES), analyse: sync(detectTestIssues) },
]);
