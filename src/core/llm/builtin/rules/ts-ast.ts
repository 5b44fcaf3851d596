import { createRequire } from 'node:module';
import type TS from 'typescript';

/**
 * The TypeScript compiler API, loaded by the first parse (parseJsSources): importing it costs ~0.6 s
 * of start-up, and most processes (the CLI, API-only servers, workers with no JS/TS change yet)
 * never parse JS. Every use of `ts` is on a tree that parseJsSources produced, so after the load; a
 * live binding (not a proxy) keeps the AST walks at full speed.
 */
export let ts: typeof TS = undefined as unknown as typeof TS;
function loadCompiler(): void {
  if (ts === undefined) ts = createRequire(import.meta.url)('typescript') as typeof TS;
}
export type { TS };
import type { DiffFile } from '../../../review/diff.js';

/**
 * Parses the new side of a JS/TS diff with the TypeScript compiler's parser (syntax only, no
 * type checker). An added file is parsed whole; a modified file is parsed hunk by hunk, each hunk's
 * context and added lines together, which is usually a run of complete statements. The parser is
 * error-tolerant, so a hunk that starts mid-function still yields a useful tree; rules only report
 * nodes that start on an added line.
 */
export interface ParsedSource {
  sf: TS.SourceFile;
  /** New-file line number of the source's first line. */
  firstLine: number;
  /** New-file line numbers of the added lines within this source. */
  added: ReadonlySet<number>;
}

function scriptKind(path: string): TS.ScriptKind {
  if (/\.tsx$/.test(path)) return ts.ScriptKind.TSX;
  if (/\.jsx$/.test(path)) return ts.ScriptKind.JSX;
  if (/\.[cm]?js$/.test(path)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}

/** parseDiagnostics is not in the public typings but has been on every SourceFile since TS 1.x. */
function syntaxErrors(sf: TS.SourceFile): number {
  return (sf as unknown as { parseDiagnostics?: readonly unknown[] }).parseDiagnostics?.length ?? 0;
}

function parse(path: string, text: string, firstLine: number, added: Set<number>): ParsedSource {
  const kind = scriptKind(path);
  const plain = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, kind);
  if (syntaxErrors(plain) === 0) return { sf: plain, firstLine, added };
  // A hunk inside a class body (methods, fields) only parses as members of a class.
  const wrapped = ts.createSourceFile(path, `class __QuorumHunk {\n${text}\n}`, ts.ScriptTarget.Latest, true, kind);
  return syntaxErrors(wrapped) < syntaxErrors(plain) ? { sf: wrapped, firstLine: firstLine - 1, added } : { sf: plain, firstLine, added };
}

const cache = new WeakMap<DiffFile, ParsedSource[]>();

export function parseJsSources(file: DiffFile): ParsedSource[] {
  const cached = cache.get(file);
  if (cached) return cached;
  loadCompiler();
  const sources: ParsedSource[] = [];
  for (const hunk of file.hunks) {
    const lines = hunk.lines.filter((l) => l.kind !== 'del');
    if (!lines.some((l) => l.kind === 'add')) continue;
    const added = new Set(lines.filter((l) => l.kind === 'add').map((l) => l.newLine as number));
    sources.push(parse(file.path, lines.map((l) => l.text).join('\n'), lines[0]?.newLine ?? hunk.newStart, added));
  }
  cache.set(file, sources);
  return sources;
}

export function startLine(src: ParsedSource, node: TS.Node): number {
  return src.sf.getLineAndCharacterOfPosition(node.getStart(src.sf)).line + src.firstLine;
}

export function endLine(src: ParsedSource, node: TS.Node): number {
  return src.sf.getLineAndCharacterOfPosition(node.getEnd()).line + src.firstLine;
}

export function startsOnAddedLine(src: ParsedSource, node: TS.Node): boolean {
  return src.added.has(startLine(src, node));
}

export function addedLinesIn(src: ParsedSource, node: TS.Node): number {
  const from = startLine(src, node);
  const to = endLine(src, node);
  let n = 0;
  for (const l of src.added) if (l >= from && l <= to) n++;
  return n;
}

/** Depth-first walk; `visit` returning false skips the node's children. */
export function walk(node: TS.Node, visit: (node: TS.Node) => boolean | void): void {
  // One callback for the whole walk, not a closure per node (it returns nothing: forEachChild goes on).
  const step = (n: TS.Node): undefined => {
    if (visit(n) !== false) ts.forEachChild(n, step);
    return undefined;
  };
  step(node);
}

export function isFunctionLike(node: TS.Node): node is TS.FunctionLikeDeclaration {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node)
  );
}

export function isLoop(node: TS.Node): node is TS.IterationStatement {
  return (
    ts.isForStatement(node) || ts.isForOfStatement(node) || ts.isForInStatement(node) || ts.isWhileStatement(node) || ts.isDoStatement(node)
  );
}

/** Loops and `.forEach/.map/…` callbacks both repeat their body once per element. */
const ITERATING_METHODS = new Set(['forEach', 'map', 'filter', 'reduce', 'some', 'every', 'find', 'findIndex', 'flatMap']);

export function iteratingCallbackTarget(node: TS.Node): TS.Expression | null {
  if (!isFunctionLike(node) || !ts.isCallExpression(node.parent)) return null;
  const callee = node.parent.expression;
  if (ts.isPropertyAccessExpression(callee) && ITERATING_METHODS.has(callee.name.text)) return callee.expression;
  return null;
}

/** A readable name for a function node, for messages. */
export function functionName(node: TS.FunctionLikeDeclaration, sf: TS.SourceFile): string {
  if (node.name) return node.name.getText(sf);
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(sf);
  return '<anonymous>';
}

