import type { Linter } from 'eslint';
import type { DiffFile } from '../../../review/diff.js';
import { cooperative } from '../cooperative.js';
import { loadEslint, type EslintEngine, type SourceKind } from '../engines/eslint.js';
import { newSideSources, type FileContents, type NewSideSource } from '../new-side.js';
import { isJsLike, isTestPath, languageOf, lexLine, reviewable } from '../source.js';
import { defineRules, hit, type RuleHit, type RuleMeta } from './rule.js';

/**
 * ESLint with eslint-plugin-security (eslint-community, maintained) over the new side of changed
 * JS/TS files; only messages on added lines become findings. `detect-object-injection` is left out
 * on purpose: it fires on every `obj[key]`, and a finding on most lines of a change is noise that
 * hides the real ones. Two core rules that catch string-to-code paths the plugin misses are added.
 */
const S = (rule: string, severity: number, title: string, suggestion: string): RuleMeta => ({
  id: `eslint:${rule}`,
  category: 'security',
  severity,
  title,
  suggestion,
});

export const ESLINT_RULES = defineRules({
  'security/detect-eval-with-expression': S('security/detect-eval-with-expression', 8, 'eval() of a computed expression', 'Do not evaluate strings as code; parse data with JSON.parse or dispatch on an allow-list.'),
  'security/detect-child-process': S('security/detect-child-process', 7, 'child_process call with a non-literal command', 'Use execFile/spawn with an argument array and no shell; validate arguments against an allow-list.'),
  'security/detect-non-literal-fs-filename': S('security/detect-non-literal-fs-filename', 2, 'File system call with a non-literal path', 'Make sure the path cannot come from a caller, or resolve it and check it stays inside the intended directory.'),
  'security/detect-non-literal-require': S('security/detect-non-literal-require', 4, 'require() of a non-literal module name', 'Require modules by literal name, or map allowed names to modules.'),
  'security/detect-non-literal-regexp': S('security/detect-non-literal-regexp', 3, 'RegExp built from a non-literal pattern', 'Escape input before building a pattern from it, or match with string methods.'),
  'security/detect-unsafe-regex': S('security/detect-unsafe-regex', 5, 'Regular expression open to catastrophic backtracking (ReDoS)', 'Remove nested quantifiers, bound repetitions, or match with a linear-time engine.'),
  'security/detect-buffer-noassert': S('security/detect-buffer-noassert', 4, 'Buffer read/write with noAssert', 'Drop the noAssert argument: out-of-range offsets must throw, not read or write past the buffer.'),
  'security/detect-new-buffer': S('security/detect-new-buffer', 4, 'new Buffer() with a non-literal argument', 'Use Buffer.from / Buffer.alloc: new Buffer(n) hands out uninitialised memory.'),
  'security/detect-pseudoRandomBytes': S('security/detect-pseudoRandomBytes', 5, 'crypto.pseudoRandomBytes is not cryptographically strong', 'Use crypto.randomBytes (or randomUUID / randomInt) for anything security related.'),
  'security/detect-possible-timing-attacks': S('security/detect-possible-timing-attacks', 4, 'Secret compared with a non-constant-time operator', 'Compare secrets with crypto.timingSafeEqual on equal-length buffers (or compare hashes).'),
  'security/detect-disable-mustache-escape': S('security/detect-disable-mustache-escape', 6, 'Template escaping disabled (escapeMarkup = false)', 'Keep HTML escaping on; mark only known-safe values as raw.'),
  'security/detect-no-csrf-before-method-override': S('security/detect-no-csrf-before-method-override', 5, 'CSRF middleware registered before methodOverride', 'Register methodOverride before the CSRF middleware, or the overridden method bypasses the CSRF check.'),
  'security/detect-bidi-characters': S('security/detect-bidi-characters', 8, 'Bidirectional control character in source (Trojan Source)', 'Remove the control character: the code a reviewer sees is not the code that runs.'),
  'security/detect-invisible-characters': S('security/detect-invisible-characters', 6, 'Invisible character in source', 'Remove the invisible character; it can hide an identifier or a string from reviewers.'),
  'no-implied-eval': S('no-implied-eval', 7, 'String evaluated as code by setTimeout/setInterval', 'Pass a function, not a string.'),
  'no-new-func': S('no-new-func', 7, 'Function constructor builds code from strings', 'Write the function in code, or dispatch on an allow-list of operations.'),
});

type EslintRuleId = keyof typeof ESLINT_RULES;
const RULE_IDS = Object.keys(ESLINT_RULES) as EslintRuleId[];

/**
 * Built-in rules that report the same problem; an ESLint message near one of their findings is
 * the same finding twice (the built-in one stays: it knows when request input flows in).
 */
const SAME_PROBLEM: Partial<Record<EslintRuleId, readonly string[]>> = {
  'security/detect-eval-with-expression': ['injection/code-eval'],
  'no-implied-eval': ['injection/code-eval'],
  'no-new-func': ['injection/code-eval'],
  'security/detect-child-process': ['injection/command-exec'],
  'security/detect-non-literal-fs-filename': ['injection/path-traversal'],
};

/** Matching the consensus merge window: findings this close are about the same code. */
const NEAR_LINES = 3;

export function dropSameProblem(existing: readonly RuleHit[], eslintHits: readonly RuleHit[]): RuleHit[] {
  return eslintHits.filter((h) => {
    const id = h.rule.id.slice('eslint:'.length) as EslintRuleId;
    const same = SAME_PROBLEM[id];
    if (!same) return true;
    return !existing.some((e) => e.file === h.file && same.includes(e.rule.id) && e.lineStart - NEAR_LINES <= h.lineEnd && h.lineStart <= e.lineEnd + NEAR_LINES);
  });
}

/**
 * Every rule enabled here needs one of these in the text to report anything (a call or import by
 * name, a keyword identifier, a regex literal with a quantifier, a control character). A source
 * without any is not linted at all: parsing is most of ESLint's cost.
 */
const TRIGGERS = new RegExp(
  [
    /\beval\b|\bFunction\b|\bsetTimeout\b|\bsetInterval\b|\bexecScript\b/.source,
    /child_process|\bfs\b|\brequire\b|\bRegExp\b|\bnew\s+Buffer\b|\b(?:read|write)U?(?:Int|Float|Double)/.source,
    /pseudoRandomBytes|escapeMarkup|methodOverride/.source,
    /\/[^\n]*[*+?{][^\n]*\//.source,
    /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u3164\uFFA0]/.source,
  ].join('|'),
);
/** The timing-attack rule matches these identifier names case-insensitively. */
const SECRET_NAMES = /\b(?:password|secret|api|apiKey|token|auth|pass|hash)\b/i;

function mayReport(text: string): boolean {
  return TRIGGERS.test(text) || SECRET_NAMES.test(text);
}

function kindOf(path: string): SourceKind {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  if (ext === 'tsx') return 'tsx';
  if (ext === 'ts' || ext === 'mts' || ext === 'cts') return 'ts';
  if (ext === 'jsx') return 'jsx';
  if (ext === 'cjs') return 'cjs';
  return 'js';
}

interface Candidate {
  code: string;
  /** Rows added in front of the source text. */
  rowOffset: number;
}

/**
 * A hunk is a window into a file: it may start inside a class or a function and close braces it
 * never opened. Besides the text as is, it is tried inside a class body (hunks of methods) and,
 * with its braces balanced, inside a generator function (statements, `return`, `yield`, `await`).
 */
function hunkCandidates(text: string): Candidate[] {
  let depth = 0;
  let min = 0;
  for (const line of text.split('\n')) {
    for (const ch of lexLine(line, 'ts').code) {
      if (ch === '{') depth++;
      else if (ch === '}') min = Math.min(min, --depth);
    }
  }
  const open = '{'.repeat(-min);
  const close = '}'.repeat(depth - min);
  const out: Candidate[] = [{ code: text, rowOffset: 0 }];
  if (min === 0) out.push({ code: `class __QuorumHunk {\n${text}\n${close}}`, rowOffset: 1 });
  out.push({ code: `async function* __quorumHunk() {${open}\n${text}\n${close}}`, rowOffset: 1 });
  return out;
}

/** Comparisons with a constant (null, a number, an empty string) leak nothing through timing. */
const CONSTANT_COMPARISON = /(?:[!=]==?)\s*(?:null|undefined|true|false|-?\d+(?:\.\d+)?|''|""|``)(?![\w$.])|(?<![\w$.])(?:null|undefined|true|false|-?\d+(?:\.\d+)?|''|""|``)\s*[!=]==?/;

function toHit(file: DiffFile, src: NewSideSource, lines: readonly string[], rowOffset: number, m: Linter.LintMessage): RuleHit | null {
  if (!m.ruleId || m.fatal) return null;
  const id = m.ruleId as EslintRuleId;
  const rule = ESLINT_RULES[id] as RuleMeta | undefined;
  if (!rule) return null;
  const row = m.line - 1 - rowOffset;
  const line = src.firstLine + row;
  if (row < 0 || !src.added.has(line)) return null;
  const text = lines[row] ?? '';
  // Importing child_process is not a problem in itself; running a computed command is.
  if (id === 'security/detect-child-process' && /^Found require\(/.test(m.message)) return null;
  if (id === 'security/detect-possible-timing-attacks' && CONSTANT_COMPARISON.test(text)) return null;
  // The timing rule reports the whole `if` statement; the comparison is on its first line.
  const endRow = id === 'security/detect-possible-timing-attacks' ? row : Math.min((m.endLine ?? m.line) - 1 - rowOffset, row + 15);
  // The plugin's own message for this rule reads "left side: true"; say what was compared instead.
  const message =
    id === 'security/detect-possible-timing-attacks'
      ? `\`${text.trim().slice(0, 120)}\` compares a secret with an operator that stops at the first differing character`
      : m.message;
  return hit(rule, file.path, line, src.firstLine + Math.max(row, endRow), `ESLint ${id}: ${message.replace(/\.?$/, '.')}`);
}

function lintSource(engine: EslintEngine, file: DiffFile, src: NewSideSource): RuleHit[] {
  const kind = kindOf(file.path);
  const lines = src.text.split('\n');
  for (const c of src.whole ? [{ code: src.text, rowOffset: 0 }] : hunkCandidates(src.text)) {
    const messages = engine.lint(c.code, kind);
    if (messages.some((m) => m.fatal)) continue;
    return messages.map((m) => toHit(file, src, lines, c.rowOffset, m)).filter((h): h is RuleHit => h !== null);
  }
  return []; // does not parse: a syntax error is the compiler's and the correctness reviewer's to report
}

/**
 * ESLint security findings for the changed JS/TS files. Test files are skipped: they read
 * fixtures by computed paths and compare tokens on purpose.
 */
export async function detectEslintSecurity(files: readonly DiffFile[], contents?: FileContents): Promise<RuleHit[]> {
  const work: Array<{ file: DiffFile; src: NewSideSource }> = [];
  for (const file of files) {
    if (!reviewable(file) || file.added.length === 0 || !isJsLike(languageOf(file.path)) || isTestPath(file.path)) continue;
    for (const src of newSideSources(file, contents?.get(file.path))) if (mayReport(src.text)) work.push({ file, src });
  }
  if (work.length === 0) return [];
  const engine = await loadEslint(RULE_IDS);
  const pause = cooperative();
  const hits: RuleHit[] = [];
  for (const { file, src } of work) {
    hits.push(...lintSource(engine, file, src));
    await pause();
  }
  return hits;
}
