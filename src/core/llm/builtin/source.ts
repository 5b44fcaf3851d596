import type { DiffFile } from '../../review/diff.js';

/**
 * Shared helpers for the built-in reviewers: what language a path is, what kind of file it is,
 * and per-line lexing good enough to tell code from strings and comments without a full parser.
 */

export type Language = 'ts' | 'js' | 'python' | 'go' | 'java' | 'ruby' | 'php' | 'csharp' | 'shell' | 'config' | 'docs' | 'other';

const EXTENSIONS: Record<string, Language> = {
  ts: 'ts', tsx: 'ts', mts: 'ts', cts: 'ts',
  js: 'js', jsx: 'js', mjs: 'js', cjs: 'js',
  py: 'python', pyi: 'python',
  go: 'go', java: 'java', kt: 'java', scala: 'java',
  rb: 'ruby', php: 'php', cs: 'csharp',
  sh: 'shell', bash: 'shell', zsh: 'shell',
  yml: 'config', yaml: 'config', json: 'config', toml: 'config', ini: 'config', env: 'config', properties: 'config', conf: 'config',
  md: 'docs', mdx: 'docs', rst: 'docs', txt: 'docs', adoc: 'docs',
};

export function languageOf(path: string): Language {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base === '.env' || base.startsWith('.env.')) return 'config';
  if (base === 'Dockerfile') return 'shell';
  const dot = base.lastIndexOf('.');
  return dot < 0 ? 'other' : (EXTENSIONS[base.slice(dot + 1).toLowerCase()] ?? 'other');
}

export function isJsLike(lang: Language): boolean {
  return lang === 'ts' || lang === 'js';
}

/** Languages whose source is "code" for the purposes of correctness/performance/test rules. */
export function isCode(lang: Language): boolean {
  return ['ts', 'js', 'python', 'go', 'java', 'ruby', 'php', 'csharp'].includes(lang);
}

const TEST_PATH = [
  /(^|\/)(__tests__|tests?|spec|specs)\//,
  /\.(test|spec|e2e|it)\.[cm]?[jt]sx?$/,
  /(^|\/)test_[^/]+\.py$/,
  /_test\.(py|go)$/,
  /(Test|Tests|Spec)\.(java|kt|cs|scala)$/,
  /_spec\.rb$/,
];

export function isTestPath(path: string): boolean {
  return TEST_PATH.some((re) => re.test(path));
}

/** Generated or vendored files: nobody reviews them line by line, and their noise drowns real findings. */
export function isGeneratedPath(path: string): boolean {
  return (
    /(^|\/)(node_modules|vendor|dist|build|coverage|\.next|__generated__)\//.test(path) ||
    /(^|\/)(package-lock\.json|yarn\.lock|pnpm-lock\.yaml|poetry\.lock|Cargo\.lock|go\.sum|composer\.lock|Gemfile\.lock)$/.test(path) ||
    /\.(min\.js|min\.css|map|snap|lock)$/.test(path)
  );
}

/** Files a code reviewer should analyse: text, not deleted, not generated. */
export function reviewable(file: DiffFile): boolean {
  return !file.binary && file.status !== 'deleted' && !isGeneratedPath(file.path);
}

export interface LexedLine {
  /** The line with comments removed and string/template contents blanked to spaces (quotes kept). */
  readonly code: string;
  /** The comment text on this line (without the marker), or null. */
  readonly comment: string | null;
}

interface CommentMarkers {
  /** Line comment markers, and their first characters (a quick test before startsWith). */
  line: readonly string[];
  lineFirst: readonly number[];
  block: boolean;
}

const markersOf = (line: string[], block: boolean): CommentMarkers => ({ line, lineFirst: line.map((m) => m.charCodeAt(0)), block });
const HASH_MARKERS = markersOf(['#'], false);
const PHP_MARKERS = markersOf(['//', '#'], true);
const NO_MARKERS = markersOf([], false);
const C_MARKERS = markersOf(['//'], true);

function commentMarkers(lang: Language): CommentMarkers {
  if (lang === 'python' || lang === 'ruby' || lang === 'shell' || lang === 'config') return HASH_MARKERS;
  if (lang === 'php') return PHP_MARKERS;
  if (lang === 'docs' || lang === 'other') return NO_MARKERS;
  return C_MARKERS;
}

/**
 * Lexed lines, per language, by text: every rule of every reviewer lexes the same added lines (a
 * 500-line change is lexed thousands of times over a panel). Cleared whole when it grows past
 * LEX_MEMO_MAX lines, so it holds about one large change.
 */
const lexMemo = new Map<Language, Map<string, LexedLine>>();
const LEX_MEMO_MAX = 20_000;
let lexMemoSize = 0;

/**
 * Lexes one line: strings are blanked (so `"a == b"` never looks like a comparison) and comments
 * split off. One line at a time, so a string or block comment opened on an earlier line is not
 * seen; rules built on this are written to stay quiet rather than guess in that case. The result
 * is shared between callers (memoized): read it, never change it.
 */
export function lexLine(text: string, lang: Language): LexedLine {
  let memo = lexMemo.get(lang);
  if (!memo) lexMemo.set(lang, (memo = new Map()));
  let lexed = memo.get(text);
  if (lexed === undefined) {
    if (lexMemoSize >= LEX_MEMO_MAX) {
      for (const m of lexMemo.values()) m.clear();
      lexMemoSize = 0;
    }
    lexed = lexUncached(text, lang);
    memo.set(text, lexed);
    lexMemoSize++;
  }
  return lexed;
}

const BACKSLASH = 92;
const SLASH = 47;
const STAR = 42;
const BACKTICK = 96;

/**
 * The lexer proper. Code outside strings is copied in runs (slices), string contents become runs
 * of blanks: a backslash escape blanks two characters, the quotes themselves are kept.
 */
function lexUncached(text: string, lang: Language): LexedLine {
  const markers = commentMarkers(lang);
  let code = '';
  /** Outside a string: where the run of code not yet copied starts. Inside: blanks owed. */
  let from = 0;
  let blanks = 0;
  let quote = -1;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (quote >= 0) {
      if (c === BACKSLASH) {
        blanks += 2;
        i++;
      } else if (c === quote) {
        code += ' '.repeat(blanks);
        quote = -1;
        from = i; // the closing quote opens the next run of code
      } else blanks++;
      continue;
    }
    if (c === 34 || c === 39 || (c === BACKTICK && lang !== 'python')) {
      code += text.slice(from, i + 1);
      quote = c;
      blanks = 0;
      continue;
    }
    if (markers.block && c === SLASH && text.charCodeAt(i + 1) === STAR) {
      const end = text.indexOf('*/', i + 2);
      const body = text.slice(i + 2, end < 0 ? undefined : end);
      const rest = end < 0 ? '' : lexLine(text.slice(end + 2), lang).code;
      return { code: code + text.slice(from, i) + ' ' + rest, comment: body.trim() };
    }
    const m = markers.lineFirst.indexOf(c);
    if (m >= 0) {
      const marker = markers.line.find((x) => text.startsWith(x, i));
      if (marker) return { code: code + text.slice(from, i), comment: text.slice(i + marker.length).trim() };
    }
  }
  return { code: quote >= 0 ? code + ' '.repeat(blanks) : code + text.slice(from), comment: null };
}

/** A line that is a comment in its own right (including JSDoc continuation lines). */
export function isCommentOnly(text: string, lang: Language): boolean {
  const t = text.trim();
  if (t === '') return false;
  if (/^(\*|\/\*|\*\/)/.test(t) && !['python', 'ruby', 'shell', 'config'].includes(lang)) return true;
  const lexed = lexLine(text, lang);
  return lexed.comment !== null && lexed.code.trim() === '';
}

/** Shannon entropy in bits per character. */
export function shannonEntropy(value: string): number {
  if (value.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / value.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Shows the shape of a secret without repeating it: reports end up in shared knowledge. */
export function redact(secret: string): string {
  if (secret.length <= 8) return '*'.repeat(secret.length);
  return `${secret.slice(0, 4)}${'*'.repeat(Math.min(12, secret.length - 8))}${secret.slice(-4)}`;
}

export interface Statement {
  lineStart: number;
  lineEnd: number;
  /** Raw text of the statement's lines joined with newlines. */
  text: string;
  /** Lexed code of the statement (strings blanked, comments removed) joined with newlines. */
  code: string;
}

/**
 * Groups consecutive added lines into logical statements, so that a query assembled over three
 * lines is analysed as one. A statement continues while parentheses or square brackets are open, a template or
 * triple-quoted string is open, or the line ends in an operator; capped at 15 lines.
 */
export function addedStatements(file: DiffFile, lang: Language): Statement[] {
  const out: Statement[] = [];
  let cur: { start: number; end: number; texts: string[]; codes: string[] } | null = null;
  let depth = 0;
  let openTemplate = false;
  for (const { line, text } of file.added) {
    if (cur && line !== cur.end + 1) {
      out.push(close(cur));
      cur = null;
    }
    if (!cur) {
      cur = { start: line, end: line, texts: [], codes: [] };
      depth = 0;
      openTemplate = false;
    }
    const code = lexLine(text, lang).code;
    cur.end = line;
    cur.texts.push(text);
    cur.codes.push(code);
    // Only call/array brackets continue a statement: counting braces would swallow whole
    // function bodies, and unrelated lines of one function would then be judged together.
    for (const ch of code.replace(/(['"`])\s*\1/g, '')) {
      if (ch === '(' || ch === '[') depth++;
      else if (ch === ')' || ch === ']') depth = Math.max(0, depth - 1);
    }
    const backticks = (text.match(/(?<!\\)`/g) ?? []).length + ((text.match(/"""|'''/g) ?? []).length);
    if (backticks % 2 === 1) openTemplate = !openTemplate;
    const trailingOperator = /(\+|=|\(|,|&&|\|\||\?|:|\\)\s*$/.test(code);
    if ((depth === 0 && !openTemplate && !trailingOperator) || cur.texts.length >= 15) {
      out.push(close(cur));
      cur = null;
    }
  }
  if (cur) out.push(close(cur));
  return out;

  function close(c: { start: number; end: number; texts: string[]; codes: string[] }): Statement {
    return { lineStart: c.start, lineEnd: c.end, text: c.texts.join('\n'), code: c.codes.join('\n') };
  }
}
