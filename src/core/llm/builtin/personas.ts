import type { DiffFile } from '../../review/diff.js';
import type { Persona } from '../../review/types.js';
import { CORRECTNESS_RULES, detectCorrectness } from './rules/correctness.js';
import { CRYPTO_RULES, detectWeakCryptoAndTls } from './rules/crypto-tls.js';
import { detectInjection, INJECTION_RULES } from './rules/injection.js';
import { detectMaintainability, MAINTAINABILITY_RULES } from './rules/maintainability.js';
import { detectPerformance, PERFORMANCE_RULES } from './rules/performance.js';
import type { RuleHit, RuleMeta } from './rules/rule.js';
import { detectSecrets, SECRET_RULES } from './rules/secrets.js';
import { detectTestIssues, TEST_RULES } from './rules/tests.js';
import { reviewable } from './source.js';

/** One built-in reviewer: which rules it owns and how it runs them over a diff. */
export interface BuiltinPersona {
  name: Persona;
  rules: readonly RuleMeta[];
  analyse(files: readonly DiffFile[]): RuleHit[];
}

/** Per-file analysis, skipping deleted, binary and generated files. */
function perFile(detect: (file: DiffFile) => RuleHit[]): (files: readonly DiffFile[]) => RuleHit[] {
  return (files) => files.filter(reviewable).flatMap(detect);
}

export const BUILTIN_PERSONAS: readonly BuiltinPersona[] = Object.freeze([
  {
    name: 'security',
    rules: [...Object.values(SECRET_RULES), ...Object.values(INJECTION_RULES), ...Object.values(CRYPTO_RULES)],
    // Secrets are looked for in generated files too: a key in a lockfile or bundle leaks all the same.
    analyse: (files) => [
      ...files.flatMap(detectSecrets),
      ...perFile((f) => [...detectInjection(f), ...detectWeakCryptoAndTls(f)])(files),
    ],
  },
  { name: 'correctness', rules: Object.values(CORRECTNESS_RULES), analyse: perFile(detectCorrectness) },
  { name: 'performance', rules: Object.values(PERFORMANCE_RULES), analyse: perFile(detectPerformance) },
  { name: 'maintainability', rules: Object.values(MAINTAINABILITY_RULES), analyse: perFile(detectMaintainability) },
  { name: 'tests', rules: Object.values(TEST_RULES), analyse: detectTestIssues },
]);
