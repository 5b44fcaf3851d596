import type { DiffFile } from '../../review/diff.js';
import { PERSONAS, type Persona, type RawFinding } from '../../review/types.js';
import type { FileContents } from './new-side.js';
import { BUILTIN_PERSONAS, type BuiltinPersona } from './personas.js';
import type { RuleHit, RuleMeta } from './rules/rule.js';

/**
 * Built-in reviewers: deterministic static analysis of the ADDED lines of a diff, no network,
 * no model. They give every review a baseline that costs nothing, and they are the panel that
 * tests and offline installations run. Regex and TypeScript-compiler rules run synchronously;
 * ESLint (JS/TS security) and tree-sitter (other languages' function metrics) load lazily, once
 * per process, the first time a review contains files they apply to.
 */

export const BUILTIN_PERSONA_NAMES: readonly Persona[] = PERSONAS;
export type { BuiltinPersona, FileContents, RuleHit, RuleMeta };
export { BUILTIN_PERSONAS };
export { readChangedContents } from './contents.js';

/** Every built-in rule, by id; reports use it for SARIF rule descriptions. */
export const BUILTIN_RULES: ReadonlyMap<string, RuleMeta> = new Map(
  BUILTIN_PERSONAS.flatMap((p) => p.rules.map((r) => [r.id, r] as const)),
);

function toFinding(h: RuleHit, reviewer: Persona): RawFinding {
  return {
    file: h.file,
    lineStart: h.lineStart,
    lineEnd: h.lineEnd,
    category: h.rule.category,
    severity: h.severity ?? h.rule.severity,
    title: h.rule.title,
    detail: h.detail,
    suggestion: h.rule.suggestion,
    rule: h.rule.id,
    reviewer,
  };
}

/** Code-unit order, not localeCompare: output must not depend on the machine's locale. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compare(a: RawFinding, b: RawFinding): number {
  return cmp(a.file, b.file) || a.lineStart - b.lineStart || cmp(a.rule ?? '', b.rule ?? '') || a.lineEnd - b.lineEnd || cmp(a.detail, b.detail);
}

/**
 * Runs one persona over parsed diff files; the result is sorted and free of exact duplicates.
 * `contents`: the changed files' new text by path, when known (see new-side.ts).
 */
export async function runBuiltinReviewer(persona: Persona, diffFiles: readonly DiffFile[], contents?: FileContents): Promise<RawFinding[]> {
  const reviewer = BUILTIN_PERSONAS.find((p) => p.name === persona);
  if (!reviewer) throw new RangeError(`unknown persona: ${String(persona)}`);
  const seen = new Set<string>();
  const findings: RawFinding[] = [];
  for (const h of await reviewer.analyse(diffFiles, contents)) {
    const f = toFinding(h, persona);
    const key = `${f.file}\0${f.rule}\0${f.lineStart}\0${f.lineEnd}\0${f.detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    findings.push(f);
  }
  return findings.sort(compare);
}

/** Runs the whole built-in panel. */
export async function runBuiltinPanel(diffFiles: readonly DiffFile[], contents?: FileContents): Promise<RawFinding[]> {
  const out: RawFinding[] = [];
  for (const p of BUILTIN_PERSONA_NAMES) out.push(...(await runBuiltinReviewer(p, diffFiles, contents)));
  return out;
}
