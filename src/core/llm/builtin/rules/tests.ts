import type { DiffFile } from '../../../review/diff.js';
import { isCode, isCommentOnly, isJsLike, isTestPath, languageOf, reviewable } from '../source.js';
import { defineRules, hit, type RuleHit } from './rule.js';
import { parseJsSources, startLine, startsOnAddedLine, ts, walk, type ParsedSource } from './ts-ast.js';

export const TEST_RULES = defineRules({
  missingTest: {
    id: 'tests/missing-test',
    category: 'tests',
    severity: 4,
    title: 'Source change without a matching test change',
    suggestion: 'Add or update a test that exercises the changed behaviour.',
  },
  focused: {
    id: 'tests/focused-test',
    category: 'tests',
    severity: 6,
    title: 'Focused test (.only) committed',
    suggestion: 'Remove .only/fit/fdescribe: it silently skips the rest of the suite in CI.',
  },
  skipped: {
    id: 'tests/skipped-test',
    category: 'tests',
    severity: 3,
    title: 'Test skipped',
    suggestion: 'Fix the test or delete it; if it must wait, link the issue that tracks it.',
  },
  noAssertion: {
    id: 'tests/no-assertion',
    category: 'tests',
    severity: 4,
    title: 'Test without assertions',
    suggestion: 'Assert on the result; a test that cannot fail proves nothing.',
  },
});

/** Paths whose changes do not call for tests: configuration, types, migrations, scripts. */
const NEEDS_NO_TEST = /(^|\/)(migrations?|scripts?|bin|docs?|examples?|bench|benchmarks?|fixtures?|\.github|types)\/|\.d\.ts$|(^|\/)[^/]*\.config\.[cm]?[jt]s$|(^|\/)(index|main|types|constants|__init__|setup|conftest)\.(ts|js|py)$|\.schemas?\.ts$/;

/** The name a test file is about: `test/core/user.test.ts` → `user`, `tests/test_user.py` → `user`. */
export function testSubject(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return base
    .replace(/\.[^.]+$/, '')
    .replace(/\.(test|spec|e2e|it|unit|int|integration)$/, '')
    .replace(/^test_|_test$|_spec$|(tests?|spec)$/, '')
    .replace(/[-_.]/g, '');
}

function sourceSubject(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return base.replace(/\.[^.]+$/, '').replace(/[-_.]/g, '');
}

function missingTests(files: readonly DiffFile[]): RuleHit[] {
  const testSubjects = new Set(files.filter((f) => isTestPath(f.path) && f.status !== 'deleted').map((f) => testSubject(f.path)));
  const hits: RuleHit[] = [];
  for (const file of files) {
    const lang = languageOf(file.path);
    if (!reviewable(file) || !isCode(lang) || isTestPath(file.path) || NEEDS_NO_TEST.test(file.path)) continue;
    const codeLines = file.added.filter((l) => l.text.trim() !== '' && !isCommentOnly(l.text, lang));
    if (codeLines.length < 3) continue;
    if (testSubjects.has(sourceSubject(file.path))) continue;
    const first = codeLines[0]?.line ?? 1;
    const isNew = file.status === 'added';
    hits.push(
      hit(
        TEST_RULES.missingTest,
        file.path,
        first,
        first,
        `${isNew ? 'New file' : 'Changed file'} with ${codeLines.length} added code lines, and no test file for \`${sourceSubject(file.path)}\` changes in this diff.`,
        isNew ? 4 : 3,
      ),
    );
  }
  return hits;
}

const FOCUSED = /\b(?:it|test|describe|context|suite)\.only\s*\(|(?<![\w.])(?:fit|fdescribe)\s*\(|@pytest\.mark\.only\b/;
const SKIPPED = /\b(?:it|test|describe|context|suite)\.(?:skip|todo)\s*\(|(?<![\w.])(?:xit|xdescribe|xtest)\s*\(|@pytest\.mark\.skip(?:if)?\b|@unittest\.skip|\bt\.Skip(?:f|Now)?\s*\(/;

function markers(file: DiffFile): RuleHit[] {
  const hits: RuleHit[] = [];
  const lang = languageOf(file.path);
  for (const { line, text } of file.added) {
    if (isCommentOnly(text, lang)) continue;
    if (FOCUSED.test(text)) hits.push(hit(TEST_RULES.focused, file.path, line, line, 'A focused test makes the runner skip every other test in the file (or suite).'));
    else if (SKIPPED.test(text)) hits.push(hit(TEST_RULES.skipped, file.path, line, line, 'A skipped test is added; what it covers is no longer checked.'));
  }
  return hits;
}

const TEST_CALLEES = new Set(['it', 'test']);
const ASSERTION = /\b(?:expect|assert\w*|should|expectTypeOf|t\.(?:is|true|false|deepEqual|equal|throws|snapshot|plan)|verify|fc\.assert)\b|\.rejects\b|\.resolves\b|\.toThrow/;

function jsNoAssertion(file: DiffFile, src: ParsedSource): RuleHit[] {
  const hits: RuleHit[] = [];
  walk(src.sf, (node) => {
    if (!ts.isCallExpression(node) || !startsOnAddedLine(src, node)) return;
    const callee = node.expression;
    const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && ['concurrent', 'each'].includes(callee.name.text) ? callee.expression.text : '';
    if (!TEST_CALLEES.has(name)) return;
    const body = node.arguments.find((a) => ts.isArrowFunction(a) || ts.isFunctionExpression(a));
    // Judge only tests whose whole body is in the diff (the closing parenthesis was parsed).
    if (!body || !node.getText(src.sf).endsWith(')')) return;
    if (ASSERTION.test(body.getText(src.sf))) return false;
    // Calling a local helper may assert inside it; stay quiet when the body delegates.
    if (/\b(?:check|assert|verify|expect)\w*\s*\(/i.test(body.getText(src.sf))) return false;
    hits.push(hit(TEST_RULES.noAssertion, file.path, startLine(src, node), startLine(src, node), 'The test body contains no assertion, so it passes whatever the code does (unless it throws).'));
    return false;
  });
  return hits;
}

function pythonNoAssertion(file: DiffFile): RuleHit[] {
  const hits: RuleHit[] = [];
  const lines = file.added;
  for (let i = 0; i < lines.length; i++) {
    const def = /^(\s*)(?:async\s+)?def\s+(test_\w*)\s*\(/.exec(lines[i]?.text ?? '');
    if (!def) continue;
    const indent = (def[1] ?? '').length;
    const body: string[] = [];
    let j = i + 1;
    let complete = false;
    for (; j < lines.length; j++) {
      const l = lines[j];
      if (!l || l.line !== (lines[j - 1]?.line ?? 0) + 1) break; // a gap: the body is not all in the diff
      if (l.text.trim() !== '' && (/^(\s*)/.exec(l.text)?.[1]?.length ?? 0) <= indent) {
        complete = true;
        break;
      }
      body.push(l.text);
    }
    // Running off the end of the added lines proves the body ended only when the file is new.
    if (j === lines.length) complete = file.status === 'added' && body.length > 0;
    if (!complete || body.length === 0) continue;
    const text = body.join('\n');
    if (/\bassert\b|self\.assert\w*|pytest\.raises|pytest\.warns|\.assert_\w+\(|\bmock\.\w*assert/.test(text)) continue;
    const line = lines[i]?.line ?? 1;
    hits.push(hit(TEST_RULES.noAssertion, file.path, line, line, `\`${def[2]}\` contains no assert, so it passes whatever the code does (unless it raises).`));
  }
  return hits;
}

/** Needs the whole diff: whether a source file has a test depends on the other files. */
export function detectTestIssues(files: readonly DiffFile[]): RuleHit[] {
  const hits = missingTests(files);
  for (const file of files) {
    if (!reviewable(file) || !isTestPath(file.path)) continue;
    const lang = languageOf(file.path);
    hits.push(...markers(file));
    if (isJsLike(lang)) hits.push(...parseJsSources(file).flatMap((src) => jsNoAssertion(file, src)));
    else if (lang === 'python') hits.push(...pythonNoAssertion(file));
  }
  return hits;
}
