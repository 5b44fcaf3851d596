import type { DiffFile } from '../../../review/diff.js';
import { isJsLike, languageOf, lexLine } from '../source.js';
import { defineRules, hit, type RuleHit } from './rule.js';
import { isFunctionLike, parseJsSources, startLine, startsOnAddedLine, ts, type TS, walk, type ParsedSource } from './ts-ast.js';

export const CORRECTNESS_RULES = defineRules({
  emptyCatch: {
    id: 'correctness/empty-catch',
    category: 'correctness',
    severity: 4,
    title: 'Error swallowed by an empty catch',
    suggestion: 'Handle the error, rethrow it, or log it; if ignoring is intended, say why in a comment inside the block.',
  },
  floatingPromise: {
    id: 'correctness/floating-promise',
    category: 'correctness',
    severity: 4,
    title: 'Promise neither awaited nor handled',
    suggestion: 'await it, return it, or attach .catch(); an unhandled rejection crashes Node by default.',
  },
  returnWithoutAwait: {
    id: 'correctness/return-without-await-in-try',
    category: 'correctness',
    severity: 5,
    title: 'Promise returned without await inside try',
    suggestion: 'Write `return await …` so that a rejection is caught by this try/catch.',
  },
  assignmentInCondition: {
    id: 'correctness/assignment-in-condition',
    category: 'correctness',
    severity: 5,
    title: 'Assignment used as a condition',
    suggestion: 'Use === for comparison; if the assignment is intended, wrap it in extra parentheses.',
  },
  unreachable: {
    id: 'correctness/unreachable-code',
    category: 'correctness',
    severity: 4,
    title: 'Unreachable code after return/throw',
    suggestion: 'Remove the dead statements or move them before the jump.',
  },
  nanComparison: {
    id: 'correctness/nan-comparison',
    category: 'correctness',
    severity: 6,
    title: 'Comparison with NaN is always false',
    suggestion: 'Use Number.isNaN(x).',
  },
  invalidTypeof: {
    id: 'correctness/invalid-typeof',
    category: 'correctness',
    severity: 6,
    title: 'typeof compared with a string it never returns',
    suggestion: 'Compare with one of: undefined, object, boolean, number, bigint, string, symbol, function.',
  },
  looseEquality: {
    id: 'correctness/loose-equality',
    category: 'correctness',
    severity: 3,
    title: 'Loose equality with a coercing literal',
    suggestion: 'Use === / !==; `x == 0` is also true for "", "0", [] and false. (`x == null` is left alone: it is the idiom for null-or-undefined.)',
  },
  pyEmptyExcept: {
    id: 'correctness/py-swallowed-exception',
    category: 'correctness',
    severity: 4,
    title: 'Exception swallowed with pass',
    suggestion: 'Catch the specific exception and handle or log it.',
  },
  pyMutableDefault: {
    id: 'correctness/py-mutable-default',
    category: 'correctness',
    severity: 5,
    title: 'Mutable default argument',
    suggestion: 'Default to None and create the list/dict inside the function; the default is shared across calls.',
  },
});

const TYPEOF_RESULTS = new Set(['undefined', 'object', 'boolean', 'number', 'bigint', 'string', 'symbol', 'function']);
/** Built on first use: `ts` is loaded by the first parse. */
let equality: Set<TS.SyntaxKind> | undefined;
const EQUALITY = (): Set<TS.SyntaxKind> =>
  (equality ??= new Set([
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
]));

function isNaNExpr(e: TS.Expression): boolean {
  return (ts.isIdentifier(e) && e.text === 'NaN') || (ts.isPropertyAccessExpression(e) && e.getText() === 'Number.NaN');
}

function isCoercingLiteral(e: TS.Expression): boolean {
  return (
    (ts.isStringLiteral(e) && e.text === '') ||
    (ts.isNumericLiteral(e) && e.text === '0') ||
    e.kind === ts.SyntaxKind.TrueKeyword ||
    e.kind === ts.SyntaxKind.FalseKeyword ||
    (ts.isArrayLiteralExpression(e) && e.elements.length === 0)
  );
}

/** A comment inside an empty block documents a deliberate decision to ignore the error. */
function hasComment(src: ParsedSource, block: TS.Block): boolean {
  return /\/\/|\/\*/.test(block.getText(src.sf));
}

function isJump(s: TS.Statement): boolean {
  return ts.isReturnStatement(s) || ts.isThrowStatement(s) || ts.isBreakStatement(s) || ts.isContinueStatement(s);
}

/** Declarations are hoisted or type-only, so they are not "code after return". */
function isHoisted(s: TS.Statement): boolean {
  return (
    ts.isFunctionDeclaration(s) ||
    ts.isInterfaceDeclaration(s) ||
    ts.isTypeAliasDeclaration(s) ||
    ts.isEmptyStatement(s) ||
    (ts.isVariableStatement(s) && (s.declarationList.flags & ts.NodeFlags.BlockScoped) === 0 && s.declarationList.declarations.every((d) => !d.initializer))
  );
}

/** Names of async functions declared in this source, to spot calls that drop their promise. */
function asyncFunctionNames(src: ParsedSource): Set<string> {
  const names = new Set<string>();
  walk(src.sf, (n) => {
    if (isFunctionLike(n) && n.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) {
      if (ts.isFunctionDeclaration(n) && n.name) names.add(n.name.text);
      else if (ts.isVariableDeclaration(n.parent) && ts.isIdentifier(n.parent.name)) names.add(n.parent.name.text);
    }
  });
  return names;
}

function enclosingFunction(node: TS.Node): TS.FunctionLikeDeclaration | undefined {
  let p: TS.Node | undefined = node.parent;
  while (p && !isFunctionLike(p)) p = p.parent;
  return p;
}

function jsRules(file: DiffFile, src: ParsedSource): RuleHit[] {
  const hits: RuleHit[] = [];
  const R = CORRECTNESS_RULES;
  const at = (node: TS.Node) => startLine(src, node);
  const asyncNames = asyncFunctionNames(src);
  walk(src.sf, (node) => {
    if (!startsOnAddedLine(src, node)) return;
    if (ts.isCatchClause(node) && node.block.statements.length === 0 && !hasComment(src, node.block)) {
      hits.push(hit(R.emptyCatch, file.path, at(node), at(node), 'The catch block is empty, so the failure disappears without a trace.'));
    }
    if (ts.isExpressionStatement(node)) {
      const e = node.expression;
      if (ts.isCallExpression(e)) {
        const text = e.getText(src.sf);
        const callee = e.expression;
        const isThen = ts.isPropertyAccessExpression(callee) && callee.name.text === 'then' && e.arguments.length < 2;
        const isAsyncCall = ts.isIdentifier(callee) && asyncNames.has(callee.text);
        const emptyCatch = ts.isPropertyAccessExpression(callee) && callee.name.text === 'catch' && e.arguments[0] !== undefined && isFunctionLike(e.arguments[0]) && /^\s*\(?[^)]*\)?\s*=>\s*\{\s*\}\s*$|^function\s*\([^)]*\)\s*\{\s*\}$/.test(e.arguments[0].getText(src.sf));
        if ((isThen && !/\.catch\s*\(/.test(text)) || isAsyncCall) {
          hits.push(hit(R.floatingPromise, file.path, at(node), at(node), `\`${text.slice(0, 60)}\` starts a promise that nothing awaits or catches.`));
        } else if (emptyCatch) {
          hits.push(hit(R.emptyCatch, file.path, at(node), at(node), '`.catch(() => {})` discards the rejection without a trace.'));
        }
      }
    }
    if (ts.isReturnStatement(node) && node.expression && ts.isCallExpression(node.expression)) {
      const fn = enclosingFunction(node);
      const isAsync = fn?.modifiers?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword) ?? false;
      let p: TS.Node = node;
      let inTry = false;
      while (p.parent && p.parent !== fn) {
        if (ts.isTryStatement(p.parent) && p.parent.tryBlock === p) inTry = true;
        p = p.parent;
      }
      const callee = node.expression.expression;
      const obviouslyAsync = (ts.isIdentifier(callee) && (asyncNames.has(callee.text) || callee.text === 'fetch' || /Async$/.test(callee.text))) || (ts.isPropertyAccessExpression(callee) && /Async$/.test(callee.name.text));
      if (isAsync && inTry && obviouslyAsync) {
        hits.push(hit(R.returnWithoutAwait, file.path, at(node), at(node), 'The promise is returned un-awaited from inside try, so its rejection bypasses the catch.'));
      }
    }
    if ((ts.isIfStatement(node) || ts.isWhileStatement(node) || ts.isDoStatement(node)) && ts.isBinaryExpression(node.expression) && node.expression.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      hits.push(hit(R.assignmentInCondition, file.path, at(node.expression), at(node.expression), `\`${node.expression.getText(src.sf)}\` assigns instead of comparing.`));
    }
    if (ts.isBlock(node) || ts.isSourceFile(node) || ts.isCaseClause(node) || ts.isDefaultClause(node)) {
      const stmts = node.statements;
      const jump = stmts.findIndex(isJump);
      const dead = jump >= 0 ? stmts.slice(jump + 1).find((s) => !isHoisted(s)) : undefined;
      if (dead && startsOnAddedLine(src, dead) && !ts.isSourceFile(node)) {
        hits.push(hit(R.unreachable, file.path, at(dead), at(dead), `This statement follows a \`${stmts[jump]?.getText(src.sf).split(/[\s;(]/)[0]}\` in the same block and never runs.`));
      }
    }
    if (ts.isBinaryExpression(node) && EQUALITY().has(node.operatorToken.kind)) {
      const { left, right } = node;
      const op = node.operatorToken.getText(src.sf);
      if (isNaNExpr(left) || isNaNExpr(right)) {
        hits.push(hit(R.nanComparison, file.path, at(node), at(node), `\`${node.getText(src.sf)}\` is ${op.startsWith('!') ? 'always true' : 'always false'}: NaN is not equal to itself.`));
      }
      const [tOf, lit] = ts.isTypeOfExpression(left) ? [left, right] : ts.isTypeOfExpression(right) ? [right, left] : [null, null];
      if (tOf && lit && ts.isStringLiteral(lit) && !TYPEOF_RESULTS.has(lit.text)) {
        hits.push(hit(R.invalidTypeof, file.path, at(node), at(node), `typeof never returns "${lit.text}", so \`${node.getText(src.sf)}\` is constant.`));
      }
      if ((op === '==' || op === '!=') && (isCoercingLiteral(left) || isCoercingLiteral(right))) {
        hits.push(hit(R.looseEquality, file.path, at(node), at(node), `\`${node.getText(src.sf)}\` coerces types before comparing.`));
      }
    }
  });
  return hits;
}

function pythonRules(file: DiffFile): RuleHit[] {
  const hits: RuleHit[] = [];
  const added = file.added;
  for (let i = 0; i < added.length; i++) {
    const cur = added[i];
    if (!cur) continue;
    const code = lexLine(cur.text, 'python').code;
    const next = added[i + 1];
    const exceptInline = /^\s*except\b[^:]*:\s*(pass|\.\.\.)\s*$/.test(code);
    const exceptThenPass = /^\s*except\b[^:]*:\s*$/.test(code) && next?.line === cur.line + 1 && /^\s*(pass|\.\.\.)\s*(#.*)?$/.test(next.text) && !/#/.test(next.text);
    if (exceptInline || exceptThenPass) {
      hits.push(hit(CORRECTNESS_RULES.pyEmptyExcept, file.path, cur.line, exceptThenPass ? cur.line + 1 : cur.line, 'The except clause only passes, so the failure disappears without a trace.'));
    }
    const def = /^\s*(?:async\s+)?def\s+\w+\s*\((.*)/.exec(code);
    if (def && /=\s*(\[\s*\]|\{\s*\}|list\(\)|dict\(\)|set\(\))/.test(def[1] ?? '')) {
      hits.push(hit(CORRECTNESS_RULES.pyMutableDefault, file.path, cur.line, cur.line, 'A list/dict/set default is created once at definition time and shared by every call that mutates it.'));
    }
  }
  return hits;
}

export function detectCorrectness(file: DiffFile): RuleHit[] {
  const lang = languageOf(file.path);
  if (isJsLike(lang)) return parseJsSources(file).flatMap((src) => jsRules(file, src));
  if (lang === 'python') return pythonRules(file);
  return [];
}
