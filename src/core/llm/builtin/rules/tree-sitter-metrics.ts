import type { Tree, TreeCursor } from 'web-tree-sitter';
import type { DiffFile } from '../../../review/diff.js';
import { cooperative } from '../cooperative.js';
import { grammarFor, loadGrammars, parserFor, type Grammar } from '../engines/tree-sitter.js';
import { addedPrefix, newSideSources, type FileContents, type NewSideSource } from '../new-side.js';
import { reviewable } from '../source.js';
import { LIMITS } from './maintainability.js';
import { defineRules, hit, type RuleHit } from './rule.js';

/**
 * Function size and complexity for Python, Go, Java and Ruby, from tree-sitter syntax trees, with
 * the same limits and meaning as the TypeScript-compiler rules for JS/TS (maintainability.ts): a
 * changed function is too long when more than `functionAddedLines` of its lines were added, too
 * complex when its McCabe number (1 + decision points, nested functions measured on their own)
 * exceeds `complexity`, and control flow is too deep past `nesting` levels.
 */

export const TREE_SITTER_RULES = defineRules({
  functionLength: {
    id: 'tree-sitter:function-length',
    category: 'maintainability',
    severity: 3,
    title: 'Function too long',
    suggestion: 'Split it into named steps; long functions hide bugs from reviewers and tests.',
  },
  complexity: {
    id: 'tree-sitter:complexity',
    category: 'maintainability',
    severity: 3,
    title: 'High cyclomatic complexity',
    suggestion: 'Extract branches into helpers or a lookup table; each path needs its own test.',
  },
  nesting: {
    id: 'tree-sitter:deep-nesting',
    category: 'maintainability',
    severity: 2,
    title: 'Deeply nested code',
    suggestion: 'Return early, or extract the inner block into a function.',
  },
});

interface GrammarShape {
  functions: ReadonlySet<string>;
  /** Node types that add one path each. */
  decisions: ReadonlySet<string>;
  /** Node types that open a level of control flow. */
  nesting: ReadonlySet<string>;
}

/** Short-circuit operators are anonymous tokens in every grammar here; each adds a path. */
const SHORT_CIRCUIT = new Set(['&&', '||', 'and', 'or']);

const SHAPES: Record<Grammar, GrammarShape> = {
  python: {
    functions: new Set(['function_definition', 'lambda']),
    decisions: new Set(['if_statement', 'elif_clause', 'for_statement', 'while_statement', 'except_clause', 'conditional_expression', 'for_in_clause', 'if_clause', 'case_clause']),
    nesting: new Set(['if_statement', 'for_statement', 'while_statement', 'try_statement', 'with_statement', 'match_statement']),
  },
  go: {
    functions: new Set(['function_declaration', 'method_declaration', 'func_literal']),
    decisions: new Set(['if_statement', 'for_statement', 'expression_case', 'type_case', 'communication_case']),
    nesting: new Set(['if_statement', 'for_statement', 'expression_switch_statement', 'type_switch_statement', 'select_statement']),
  },
  java: {
    functions: new Set(['method_declaration', 'constructor_declaration', 'compact_constructor_declaration', 'lambda_expression']),
    decisions: new Set(['if_statement', 'for_statement', 'enhanced_for_statement', 'while_statement', 'do_statement', 'catch_clause', 'ternary_expression', 'switch_label']),
    nesting: new Set(['if_statement', 'for_statement', 'enhanced_for_statement', 'while_statement', 'do_statement', 'switch_expression', 'try_statement', 'try_with_resources_statement']),
  },
  ruby: {
    functions: new Set(['method', 'singleton_method', 'lambda']),
    decisions: new Set(['if', 'unless', 'elsif', 'while', 'until', 'for', 'when', 'rescue', 'conditional', 'if_modifier', 'unless_modifier', 'while_modifier', 'until_modifier', 'rescue_modifier']),
    nesting: new Set(['if', 'unless', 'while', 'until', 'for', 'case', 'begin']),
  },
};

interface FunctionFrame {
  name: string;
  startRow: number;
  endRow: number;
  complexity: number;
}

/** What entering a node pushed, so leaving it can undo exactly that. */
interface Entered {
  fn: FunctionFrame | null;
  nesting: boolean;
  reported: boolean;
}

function isDecision(shape: GrammarShape, g: Grammar, cursor: TreeCursor): boolean {
  const type = cursor.nodeType;
  if (!cursor.nodeIsNamed) return SHORT_CIRCUIT.has(type);
  if (!shape.decisions.has(type)) return false;
  // `default:` is the path taken when no case matches, not a path of its own.
  if (g === 'java' && type === 'switch_label') return !cursor.currentNode.text.startsWith('default');
  return true;
}

function functionName(cursor: TreeCursor): string {
  const name = cursor.currentNode.childForFieldName('name');
  return name ? name.text : '<anonymous>';
}

/** Python and Ruby hunks taken from inside a block parse better without their common indentation. */
function dedent(text: string): string {
  const lines = text.split('\n');
  let min = Infinity;
  for (const l of lines) if (l.trim() !== '') min = Math.min(min, /^[ \t]*/.exec(l)?.[0].length ?? 0);
  return min > 0 && min !== Infinity ? lines.map((l) => l.slice(Math.min(min, /^[ \t]*/.exec(l)?.[0].length ?? 0))).join('\n') : text;
}

function analyseTree(file: DiffFile, g: Grammar, src: NewSideSource, tree: Tree, hits: RuleHit[]): void {
  const shape = SHAPES[g];
  const rows = tree.rootNode.endPosition.row + 1;
  const prefix = addedPrefix(src, rows);
  const addedIn = (from: number, to: number) => (prefix[Math.min(to, rows - 1) + 1] as number) - (prefix[Math.max(0, from)] as number);
  const lineOf = (row: number) => src.firstLine + row;
  const R = TREE_SITTER_RULES;

  const fnStack: FunctionFrame[] = [];
  const depthStack: number[] = [0];
  const entered: Entered[] = [];
  let insideReported = 0;

  const enter = (cursor: TreeCursor) => {
    const e: Entered = { fn: null, nesting: false, reported: false };
    const type = cursor.nodeType;
    if (cursor.nodeIsNamed && shape.functions.has(type)) {
      const frame = { name: functionName(cursor), startRow: cursor.startPosition.row, endRow: cursor.endPosition.row, complexity: 1 };
      fnStack.push(frame);
      depthStack.push(0);
      e.fn = frame;
    } else {
      const fn = fnStack[fnStack.length - 1];
      if (fn && isDecision(shape, g, cursor)) fn.complexity++;
    }
    // `else if` continues a chain rather than opening a level (Go and Java nest it in `alternative`).
    const elseIf = type === 'if_statement' && cursor.currentFieldName === 'alternative';
    if (cursor.nodeIsNamed && shape.nesting.has(type) && !elseIf) {
      e.nesting = true;
      const depth = (depthStack[depthStack.length - 1] as number) + 1;
      depthStack[depthStack.length - 1] = depth;
      const row = cursor.startPosition.row;
      if (depth > LIMITS.nesting && insideReported === 0 && src.added.has(lineOf(row))) {
        // The outermost offending construct once, not every statement below it.
        e.reported = true;
        insideReported++;
        hits.push(hit(R.nesting, file.path, lineOf(row), lineOf(row), `Control flow is nested ${depth} levels deep here (limit ${LIMITS.nesting}).`));
      }
    }
    entered.push(e);
  };

  const leave = () => {
    const e = entered.pop();
    if (!e) return;
    if (e.reported) insideReported--;
    if (e.nesting) depthStack[depthStack.length - 1] = (depthStack[depthStack.length - 1] as number) - 1;
    if (e.fn) {
      fnStack.pop();
      depthStack.pop();
      const f = e.fn;
      const added = addedIn(f.startRow, f.endRow);
      if (added === 0) return;
      const line = lineOf(f.startRow);
      if (added > LIMITS.functionAddedLines) {
        hits.push(hit(R.functionLength, file.path, line, line, `\`${f.name}\` has ${added} added lines (limit ${LIMITS.functionAddedLines}).`));
      }
      if (f.complexity > LIMITS.complexity) {
        hits.push(
          hit(R.complexity, file.path, line, line, `\`${f.name}\` has cyclomatic complexity ${f.complexity} (limit ${LIMITS.complexity}).`, f.complexity > 2 * LIMITS.complexity ? 4 : undefined),
        );
      }
    }
  };

  const cursor = tree.walk();
  try {
    enter(cursor);
    for (;;) {
      if (cursor.gotoFirstChild()) {
        enter(cursor);
        continue;
      }
      let moved = false;
      while (!moved) {
        leave();
        if (cursor.gotoNextSibling()) {
          enter(cursor);
          moved = true;
        } else if (!cursor.gotoParent()) {
          return;
        }
      }
    }
  } finally {
    cursor.delete();
  }
}

function analyseFile(file: DiffFile, g: Grammar, contents: FileContents | undefined): RuleHit[] {
  const hits: RuleHit[] = [];
  const parser = parserFor(g);
  for (const src of newSideSources(file, contents?.get(file.path))) {
    const text = src.whole || (g !== 'python' && g !== 'ruby') ? src.text : dedent(src.text);
    const tree = parser.parse(text);
    if (!tree) continue;
    try {
      analyseTree(file, g, src, tree, hits);
    } finally {
      tree.delete(); // trees live in WebAssembly memory, outside the garbage collector
    }
  }
  return hits;
}

/** The files these rules apply to, with their grammar. */
function targets(files: readonly DiffFile[]): Array<{ file: DiffFile; grammar: Grammar }> {
  const out: Array<{ file: DiffFile; grammar: Grammar }> = [];
  for (const file of files) {
    const grammar = grammarFor(file.path);
    if (grammar && reviewable(file) && file.added.length > 0) out.push({ file, grammar });
  }
  return out;
}

export async function detectTreeSitterMetrics(files: readonly DiffFile[], contents?: FileContents): Promise<RuleHit[]> {
  const todo = targets(files);
  if (todo.length === 0) return [];
  await loadGrammars(todo.map((t) => t.grammar));
  const pause = cooperative();
  const hits: RuleHit[] = [];
  for (const { file, grammar } of todo) {
    hits.push(...analyseFile(file, grammar, contents));
    await pause();
  }
  return hits;
}
