import type { DiffFile } from '../../../review/diff.js';
import { isCode, isJsLike, isTestPath, languageOf } from '../source.js';
import { defineRules, hit, type RuleHit } from './rule.js';
import { isFunctionLike, isLoop, iteratingCallbackTarget, parseJsSources, startLine, startsOnAddedLine, ts, type TS, walk, type ParsedSource } from './ts-ast.js';

export const PERFORMANCE_RULES = defineRules({
  awaitInLoop: {
    id: 'performance/await-in-loop',
    category: 'performance',
    // Often deliberate (ordered steps, one connection); a hint, not a defect.
    severity: 3,
    title: 'await inside a loop serializes independent work',
    suggestion: 'If iterations are independent, start them together with Promise.all (bounded with a small concurrency limit).',
  },
  syncFsInHandler: {
    id: 'performance/sync-io-in-handler',
    category: 'performance',
    severity: 5,
    title: 'Synchronous I/O on the request path',
    suggestion: 'Use the fs/promises equivalent; a sync call blocks the event loop for every concurrent request.',
  },
  nestedLoopSameCollection: {
    id: 'performance/nested-loop-same-collection',
    category: 'performance',
    severity: 4,
    title: 'Nested iteration over the same collection (quadratic)',
    suggestion: 'Index the collection once in a Map/Set keyed by what the inner loop looks for.',
  },
  selectStar: {
    id: 'performance/select-star',
    category: 'performance',
    severity: 2,
    title: 'SELECT * fetches every column',
    suggestion: 'Name the columns the code uses; wide rows cost I/O and break when columns are added.',
  },
  regexInLoop: {
    id: 'performance/regex-in-loop',
    category: 'performance',
    severity: 3,
    title: 'RegExp compiled on every iteration',
    suggestion: 'Build the RegExp once outside the loop.',
  },
});

const SYNC_IO = /^(?:readFileSync|writeFileSync|appendFileSync|readdirSync|statSync|lstatSync|existsSync|mkdirSync|rmSync|unlinkSync|copyFileSync|renameSync|accessSync|execSync|execFileSync|spawnSync)$/;
const HANDLER_PARAMS = /^(?:req|request|res|reply|response|ctx)$/;
const ROUTE_METHODS = /^(?:get|post|put|patch|delete|all|use|route|handle|on)$/;

/** A function is treated as a request handler when its parameters or its registration say so. */
function isRequestHandler(fn: TS.FunctionLikeDeclaration): boolean {
  const params = fn.parameters.map((p) => (ts.isIdentifier(p.name) ? p.name.text : ''));
  if (params.filter((p) => HANDLER_PARAMS.test(p)).length >= 1 && params.length <= 3) return true;
  const call = fn.parent;
  return ts.isCallExpression(call) && ts.isPropertyAccessExpression(call.expression) && ROUTE_METHODS.test(call.expression.name.text);
}

/** The loop (or iterating callback) whose body contains `node`, stopping at function boundaries. */
function insideLoopOf(node: TS.Node): TS.Node | null {
  let child: TS.Node = node;
  for (let p = node.parent; p; child = p, p = p.parent) {
    if (isFunctionLike(p)) return iteratingCallbackTarget(p) ? p : null;
    if (isLoop(p)) {
      // Only the body repeats: `for (const x of await load())` awaits once.
      if (p.statement !== child) return null;
      if (ts.isForOfStatement(p) && p.awaitModifier) return null;
      return p;
    }
  }
  return null;
}

/** Queries on one transaction or client run one at a time anyway; awaiting them in turn costs nothing. */
const CONNECTION = /^(?:tx|trx|transaction|client|conn|connection|session|db\.connection\(\))$/;

function onOneConnection(node: TS.AwaitExpression, sf: TS.SourceFile): boolean {
  let e: TS.Expression = node.expression;
  while (ts.isCallExpression(e) || ts.isPropertyAccessExpression(e) || ts.isTaggedTemplateExpression(e)) {
    if (ts.isCallExpression(e) && e.arguments.some((a) => CONNECTION.test(a.getText(sf)))) return true;
    e = ts.isTaggedTemplateExpression(e) ? e.tag : e.expression;
  }
  return CONNECTION.test(e.getText(sf));
}

function iterated(node: TS.Node, sf: TS.SourceFile): string | null {
  if (ts.isForOfStatement(node) || ts.isForInStatement(node)) return node.expression.getText(sf);
  const target = iteratingCallbackTarget(node);
  if (target) return target.getText(sf);
  // Only `for (let i = 0; i < xs.length; …)`: a loop resuming from an outer index is a forward scan.
  const fromZero = ts.isForStatement(node) && node.initializer !== undefined && /=\s*0$/.test(node.initializer.getText(sf));
  if (fromZero && ts.isForStatement(node) && node.condition && ts.isBinaryExpression(node.condition)) {
    const m = /^([\w$.]+)\.length$/.exec(node.condition.right.getText(sf));
    if (m) return m[1] ?? null;
  }
  return null;
}

function jsRules(file: DiffFile, src: ParsedSource): RuleHit[] {
  const hits: RuleHit[] = [];
  const R = PERFORMANCE_RULES;
  const sf = src.sf;
  walk(sf, (node) => {
    const added = startsOnAddedLine(src, node);
    if (added && ts.isAwaitExpression(node)) {
      const loop = insideLoopOf(node);
      if (loop && isLoop(loop) && !onOneConnection(node, sf)) {
        hits.push(hit(R.awaitInLoop, file.path, startLine(src, node), startLine(src, node), 'Each iteration waits for the previous one; n independent calls take n round-trips.'));
      }
    }
    if (added && ts.isCallExpression(node)) {
      const callee = node.expression;
      const name = ts.isIdentifier(callee) ? callee.text : ts.isPropertyAccessExpression(callee) ? callee.name.text : '';
      if (SYNC_IO.test(name)) {
        let fn: TS.Node | undefined = node.parent;
        while (fn && !isFunctionLike(fn)) fn = fn.parent;
        if (fn && isFunctionLike(fn) && isRequestHandler(fn)) {
          hits.push(hit(R.syncFsInHandler, file.path, startLine(src, node), startLine(src, node), `\`${name}\` blocks the event loop inside a request handler.`));
        }
      }
    }
    if (added && ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'RegExp' && insideLoopOf(node)) {
      hits.push(hit(R.regexInLoop, file.path, startLine(src, node), startLine(src, node), '`new RegExp(…)` is compiled again on every iteration.'));
    }
    const outerTarget = added ? iterated(node, sf) : null;
    if (outerTarget) {
      const outer = node;
      walk(outer, (inner) => {
        if (inner === outer) return;
        if (iterated(inner, sf) === outerTarget && startsOnAddedLine(src, inner)) {
          hits.push(hit(R.nestedLoopSameCollection, file.path, startLine(src, inner), startLine(src, inner), `\`${outerTarget}\` is iterated inside an iteration over itself: O(n²).`));
          return false;
        }
      });
    }
  });
  return hits;
}

/** SELECT * inside a string literal, in any language. */
function selectStar(file: DiffFile): RuleHit[] {
  const hits: RuleHit[] = [];
  for (const { line, text } of file.added) {
    if (/["'`][^"'`]*\bselect\s+\*\s+from\b/i.test(text) || /^\s*select\s+\*\s+from\b/i.test(text)) {
      hits.push(hit(PERFORMANCE_RULES.selectStar, file.path, line, line, 'The query selects every column.'));
    }
  }
  return hits;
}

export function detectPerformance(file: DiffFile): RuleHit[] {
  const lang = languageOf(file.path);
  // Tests and scripts trade speed for clarity on purpose.
  if (isTestPath(file.path)) return [];
  const hits = isCode(lang) || file.path.endsWith('.sql') ? selectStar(file) : [];
  if (isJsLike(lang)) hits.push(...parseJsSources(file).flatMap((src) => jsRules(file, src)));
  return hits;
}
