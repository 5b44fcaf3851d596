import type { DiffFile } from '../../../review/diff.js';
import { isCode, isJsLike, languageOf, lexLine, type Language } from '../source.js';
import { defineRules, hit, type RuleHit } from './rule.js';
import { addedLinesIn, functionName, isFunctionLike, parseJsSources, startLine, startsOnAddedLine, ts, type TS, walk, type ParsedSource } from './ts-ast.js';

/** Limits chosen so that ordinary code never trips them; each finding should be worth reading. */
export const LIMITS = Object.freeze({
  functionAddedLines: 80,
  complexity: 15,
  nesting: 4,
  lineLength: 160,
});

export const MAINTAINABILITY_RULES = defineRules({
  longFunction: {
    id: 'maintainability/long-function',
    category: 'maintainability',
    severity: 3,
    title: 'Function too long',
    suggestion: 'Split it into named steps; long functions hide bugs from reviewers and tests.',
  },
  complexity: {
    id: 'maintainability/high-complexity',
    category: 'maintainability',
    severity: 3,
    title: 'High cyclomatic complexity',
    suggestion: 'Extract branches into helpers or a lookup table; each path needs its own test.',
  },
  deepNesting: {
    id: 'maintainability/deep-nesting',
    category: 'maintainability',
    severity: 2,
    title: 'Deeply nested code',
    suggestion: 'Return early, or extract the inner block into a function.',
  },
  longLine: {
    id: 'maintainability/long-line',
    category: 'maintainability',
    severity: 1,
    title: 'Very long lines',
    suggestion: `Wrap lines at a readable width (limit here: ${LIMITS.lineLength} characters).`,
  },
  todo: {
    id: 'maintainability/todo-added',
    category: 'maintainability',
    severity: 1,
    title: 'TODO/FIXME added',
    suggestion: 'Track the work in an issue and reference it, or finish it in this change.',
  },
});

/** McCabe: 1 + decision points. Nested functions are measured on their own. */
function complexity(fn: TS.FunctionLikeDeclaration): number {
  let n = 1;
  if (!fn.body) return n;
  walk(fn.body, (node) => {
    if (node !== fn.body && isFunctionLike(node)) return false;
    switch (node.kind) {
      case ts.SyntaxKind.IfStatement:
      case ts.SyntaxKind.ConditionalExpression:
      case ts.SyntaxKind.CaseClause:
      case ts.SyntaxKind.ForStatement:
      case ts.SyntaxKind.ForOfStatement:
      case ts.SyntaxKind.ForInStatement:
      case ts.SyntaxKind.WhileStatement:
      case ts.SyntaxKind.DoStatement:
      case ts.SyntaxKind.CatchClause:
        n++;
        break;
      case ts.SyntaxKind.BinaryExpression: {
        const op = (node as TS.BinaryExpression).operatorToken.kind;
        if (op === ts.SyntaxKind.AmpersandAmpersandToken || op === ts.SyntaxKind.BarBarToken || op === ts.SyntaxKind.QuestionQuestionToken) n++;
        break;
      }
    }
  });
  return n;
}

/** Built on first use: `ts` is loaded by the first parse. */
let nesting_kinds: Set<TS.SyntaxKind> | undefined;
const NESTING_KINDS = (): Set<TS.SyntaxKind> =>
  (nesting_kinds ??= new Set([
  ts.SyntaxKind.IfStatement,
  ts.SyntaxKind.ForStatement,
  ts.SyntaxKind.ForOfStatement,
  ts.SyntaxKind.ForInStatement,
  ts.SyntaxKind.WhileStatement,
  ts.SyntaxKind.DoStatement,
  ts.SyntaxKind.SwitchStatement,
  ts.SyntaxKind.TryStatement,
]));

/** Control-flow depth within the enclosing function; `else if` chains count once. */
function nestingDepth(node: TS.Node): number {
  let depth = 0;
  for (let p = node.parent; p && !isFunctionLike(p); p = p.parent) {
    if (NESTING_KINDS().has(p.kind) && !(ts.isIfStatement(p) && ts.isIfStatement(p.parent) && p.parent.elseStatement === p)) depth++;
  }
  return depth;
}

function jsRules(file: DiffFile, src: ParsedSource): RuleHit[] {
  const hits: RuleHit[] = [];
  const R = MAINTAINABILITY_RULES;
  const reportedNesting = new Set<TS.Node>();
  walk(src.sf, (node) => {
    if (isFunctionLike(node) && node.body) {
      const addedLines = addedLinesIn(src, node);
      if (addedLines === 0) return;
      const name = functionName(node, src.sf);
      const line = startLine(src, node);
      if (addedLines > LIMITS.functionAddedLines) {
        hits.push(hit(R.longFunction, file.path, line, line, `\`${name}\` has ${addedLines} added lines (limit ${LIMITS.functionAddedLines}).`));
      }
      const c = complexity(node);
      if (c > LIMITS.complexity) {
        hits.push(hit(R.complexity, file.path, line, line, `\`${name}\` has cyclomatic complexity ${c} (limit ${LIMITS.complexity}).`, c > 2 * LIMITS.complexity ? 4 : undefined));
      }
    }
    if (NESTING_KINDS().has(node.kind) && startsOnAddedLine(src, node)) {
      const depth = nestingDepth(node) + 1;
      // Report the outermost offending construct once, not every statement below it.
      let p = node.parent;
      while (p && !reportedNesting.has(p)) p = p.parent;
      if (depth > LIMITS.nesting && !p) {
        reportedNesting.add(node);
        hits.push(hit(R.deepNesting, file.path, startLine(src, node), startLine(src, node), `Control flow is nested ${depth} levels deep here (limit ${LIMITS.nesting}).`));
      }
    }
  });
  return hits;
}

function lineRules(file: DiffFile, lang: Language): RuleHit[] {
  const hits: RuleHit[] = [];
  const long: number[] = [];
  for (const { line, text } of file.added) {
    // URLs and embedded data cannot be wrapped; do not count them.
    if (text.length > LIMITS.lineLength && !/https?:\/\/|data:|^\s*["'`][^"'`]{100,}["'`],?$/.test(text)) long.push(line);
    const comment = lexLine(text, lang).comment;
    const m = comment !== null ? /\b(TODO|FIXME|XXX|HACK)\b/.exec(comment) : null;
    if (m) hits.push(hit(MAINTAINABILITY_RULES.todo, file.path, line, line, `${m[1]} added: ${comment?.slice(0, 120)}`));
  }
  const first = long[0];
  if (first !== undefined) {
    // One finding per file: a list of long lines is a formatting matter, not many issues.
    hits.push(hit(MAINTAINABILITY_RULES.longLine, file.path, first, first, `${long.length} added line(s) exceed ${LIMITS.lineLength} characters: ${long.slice(0, 10).join(', ')}${long.length > 10 ? ', …' : ''}.`));
  }
  return hits;
}

export function detectMaintainability(file: DiffFile): RuleHit[] {
  const lang = languageOf(file.path);
  if (!isCode(lang) && lang !== 'shell') return [];
  const hits = lineRules(file, lang);
  // Other languages' functions and nesting are measured with tree-sitter (tree-sitter-metrics.ts).
  if (isJsLike(lang)) hits.push(...parseJsSources(file).flatMap((src) => jsRules(file, src)));
  return hits;
}
