import type { DiffFile } from '../../../review/diff.js';
import { addedStatements, isJsLike, languageOf, type Language, type Statement } from '../source.js';
import { defineRules, hit, type RuleHit } from './rule.js';

export const INJECTION_RULES = defineRules({
  sqlConcat: {
    id: 'injection/sql-concat',
    category: 'security',
    severity: 8,
    title: 'SQL injection: query built from untrusted string interpolation',
    suggestion: 'Use bound parameters ($1 / ? placeholders with a values array, or a query builder / sql tagged template).',
  },
  codeEval: {
    id: 'injection/code-eval',
    category: 'security',
    severity: 8,
    title: 'Code injection: dynamic code evaluation',
    suggestion: 'Do not evaluate strings as code; parse data with JSON.parse or a dispatch table of allowed operations.',
  },
  commandInjection: {
    id: 'injection/command-exec',
    category: 'security',
    severity: 9,
    title: 'Command injection: shell command built from interpolated input',
    suggestion: 'Use execFile/spawn with an argument array and no shell, and validate arguments against an allow-list.',
  },
  pythonShell: {
    id: 'injection/python-shell',
    category: 'security',
    severity: 9,
    title: 'Command injection: Python shell command built from interpolated input',
    suggestion: 'Pass an argument list to subprocess.run without shell=True; never format input into a command string.',
  },
  pathTraversal: {
    id: 'injection/path-traversal',
    category: 'security',
    severity: 7,
    title: 'Path traversal: file path built from request input',
    suggestion: 'Resolve the path, then check it stays inside the allowed base directory (path.resolve + startsWith), or map ids to files.',
  },
});

/** Expressions that carry data an attacker controls. */
export const USER_INPUT =
  /\b(?:req|request|ctx\.request|event)\.(?:params|query|body|headers|cookies|files|args|form|values|GET|POST|json|data|url)\b|\bprocess\.argv\b|\binput\s*\(|\bsearchParams\.get\s*\(|\bctx\.(?:params|query)\b/;

const SQL_SHAPE = /\b(?:select\s+[\s\S]*?\bfrom|insert\s+into|update\s+[\w."`]+\s+set|delete\s+from|(?:where|order\s+by|group\s+by)\s+[\w."`]+)\b/i;

/** Interpolations that go through an escaping function are the author's deliberate, safe choice. */
const ESCAPED = /^\s*[\w$.]*(?:escape\w*|quote_?ident\w*|quoteIdentifier|format)\s*\(/i;

/**
 * Untagged template literals with `${…}` (whose text matches `sqlShape`, when given). A tagged template
 * (sql`…`, sql<Row>`…`, Prisma.sql`…`) binds its values as parameters, so it is safe: a template
 * is tagged when an identifier, `)`, `]` or a generic's `>` directly precedes its backtick.
 */
function untaggedSqlTemplate(text: string, sqlShape: RegExp | null): boolean {
  const ticks = [...text.matchAll(/(?<!\\)`/g)].map((m) => m.index);
  for (let i = 0; i + 1 < ticks.length; i += 2) {
    const open = ticks[i] as number;
    const body = text.slice(open + 1, ticks[i + 1]);
    const subs = [...body.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1] ?? '');
    if (subs.length === 0 || subs.every((sub) => ESCAPED.test(sub))) continue;
    if (sqlShape && !sqlShape.test(body)) continue;
    const before = text.slice(0, open).trimEnd();
    const tagged = /[\w$\])>]$/.test(before) && !/(?:^|[^\w$])(?:return|await|yield|case|typeof|in|of)$/.test(before);
    if (!tagged) return true;
  }
  return false;
}

/** Interpolation into a string: JS template `${`, concatenation with a non-literal, Python f-string/format/%. */
function interpolation(stmt: Statement, lang: Language): string | null {
  const { text, code } = stmt;
  if (isJsLike(lang) && untaggedSqlTemplate(text, null)) return 'template interpolation';
  if (lang === 'python') {
    if (/\b[fF][rR]?"[^"]*\{[^}]+\}/.test(text) || /\b[fF][rR]?'[^']*\{[^}]+\}/.test(text) || /\b[fF]"""/.test(text)) return 'f-string';
    if (/["']\s*\.format\s*\(/.test(text)) return '.format()';
    if (/["']\s*%\s*[\w(]/.test(text)) return '% formatting';
  }
  // A quote directly followed (or preceded) by + and an identifier, call or member access.
  if (/["'`]\s*\+\s*[A-Za-z_$(]/.test(code) || /[\w)\]]\s*\+\s*["'`]/.test(code)) return 'string concatenation';
  return null;
}

/** Looser than SQL_SHAPE: inside a .query()/.execute() call any SQL word is evidence enough. */
const SQL_WORD = /\b(?:select|insert|update|delete|from|where|values|set|join|order\s+by|limit)\b/i;

/**
 * How a SQL-looking string literal is interpolated, or null. The literal that carries the SQL must
 * itself be the one interpolated: a statement window may also hold unrelated strings (log lines,
 * hashes of test data), and those must not make a parameterized query look concatenated.
 */
function sqlInterpolation(stmt: Statement, lang: Language, queryCall: boolean): string | null {
  const { text } = stmt;
  const looksSql = (body: string) => (queryCall ? SQL_WORD : SQL_SHAPE).test(body);
  if (isJsLike(lang) && untaggedSqlTemplate(text, queryCall ? SQL_WORD : SQL_SHAPE)) return 'template interpolation';
  const literals = [...text.matchAll(/(["'`])((?:(?!\1)[^\\]|\\.)*)\1/g)];
  for (const m of literals) {
    const body = m[2] ?? '';
    if (!looksSql(body)) continue;
    const before = text.slice(0, m.index).trimEnd();
    const after = text.slice(m.index + m[0].length).trimStart();
    if (/^\+\s*[A-Za-z_$(]/.test(after) || /[\w)\]]\s*\+$/.test(before)) return 'string concatenation';
    if (lang === 'python') {
      if (/\b[fF][rR]?$/.test(before) && /\{[^}]+\}/.test(body)) return 'f-string';
      if (/^\.format\s*\(/.test(after)) return '.format()';
      if (/^%\s*[\w(]/.test(after)) return '% formatting';
    }
  }
  return null;
}

function sqlInjection(file: DiffFile, stmts: Statement[], lang: Language): RuleHit[] {
  const hits: RuleHit[] = [];
  for (const s of stmts) {
    const queryCall = /\.(?:query|execute|executemany|raw|rawQuery|\$queryRawUnsafe|\$executeRawUnsafe|unsafe|exec)\s*\(/.test(s.text);
    const how = sqlInterpolation(s, lang, queryCall);
    if (!how) continue;
    const tainted = USER_INPUT.test(s.text);
    hits.push(
      hit(
        INJECTION_RULES.sqlConcat,
        file.path,
        s.lineStart,
        s.lineEnd,
        `SQL text is assembled with ${how}${tainted ? ' from request input' : ''}; any quote in the value changes the query.`,
        tainted ? 9 : undefined,
      ),
    );
  }
  return hits;
}

function codeEval(file: DiffFile, stmts: Statement[], lang: Language): RuleHit[] {
  const hits: RuleHit[] = [];
  const call = isJsLike(lang)
    ? /(?<![\w$.])(?:eval|new\s+Function|setTimeout|setInterval|vm\.runIn(?:New|This)?Context)\s*\(\s*([^)]*)/
    : lang === 'python'
      ? /(?<![\w.])(?:eval|exec)\s*\(\s*([^)]*)/
      : null;
  if (!call) return hits;
  for (const s of stmts) {
    const m = call.exec(s.text);
    if (!m) continue;
    const arg = (m[1] ?? '').trim();
    const isTimer = /^set(?:Timeout|Interval)/.test(m[0]);
    // A plain literal (or, for timers, a function) is not dynamic code.
    if (/^(["'])[^"']*\1\s*$/.test(arg) || arg === '') continue;
    if (isTimer && !/^["'`]/.test(arg)) continue;
    const tainted = USER_INPUT.test(s.text);
    hits.push(
      hit(INJECTION_RULES.codeEval, file.path, s.lineStart, s.lineEnd, `\`${m[0].split('(')[0]?.trim()}\` evaluates a computed string${tainted ? ' that contains request input' : ''}.`, tainted ? 9 : undefined),
    );
  }
  return hits;
}

const JS_EXEC =
  /(?:(?<![\w$.])(?:exec|execSync|execAsync|execPromise)|\b(?:child_process|childProcess|cp)\.(?:exec|execSync))\s*\(/;
const JS_SPAWN = /(?:(?<![\w$.])|\b(?:child_process|childProcess|cp)\.)(?:spawn|spawnSync|execFile|execFileSync)\s*\(/;

function commandInjection(file: DiffFile, stmts: Statement[], lang: Language): RuleHit[] {
  const hits: RuleHit[] = [];
  for (const s of stmts) {
    if (isJsLike(lang)) {
      const call = JS_EXEC.exec(s.text) ?? JS_SPAWN.exec(s.text);
      if (!call) continue;
      // Judge the call's own arguments, not other code that shares the statement window.
      const args = { ...s, text: s.text.slice(call.index), code: s.code.slice(call.index) };
      const how = interpolation(args, lang) ?? (USER_INPUT.test(args.text) ? 'request input' : null);
      if (!how) continue;
      const viaShell = JS_EXEC.test(args.text) || /shell\s*:\s*true|['"](?:-c|\/c)['"]/.test(args.text);
      if (!viaShell) continue;
      hits.push(hit(INJECTION_RULES.commandInjection, file.path, s.lineStart, s.lineEnd, `A shell command is built with ${how}; shell metacharacters in the value run arbitrary commands.`));
    } else if (lang === 'python') {
      const how = interpolation(s, lang);
      const shellCall = /\bsubprocess\.(?:run|call|Popen|check_output|check_call|getoutput|getstatusoutput)\s*\(/.test(s.text);
      const osCall = /\bos\.(?:system|popen)\s*\(|\bcommands\.getoutput\s*\(/.test(s.text);
      const shellTrue = /shell\s*=\s*True/.test(s.text);
      const nonLiteral = how !== null || /\(\s*[A-Za-z_][\w.]*\s*[,)]/.test(s.text);
      if (!((shellCall && shellTrue && nonLiteral) || (osCall && nonLiteral) || (/getoutput/.test(s.text) && nonLiteral))) continue;
      hits.push(
        hit(INJECTION_RULES.pythonShell, file.path, s.lineStart, s.lineEnd, `The command string reaches a shell${how ? ` and is built with ${how}` : ' from a variable'}; metacharacters in it run arbitrary commands.`),
      );
    }
  }
  return hits;
}

const FS_SINK =
  /\b(?:fs(?:\.promises)?\.|fsp\.)?(?:readFile|readFileSync|writeFile|writeFileSync|appendFile|createReadStream|createWriteStream|unlink|unlinkSync|rm|rmSync|readdir|open|stat)\s*\(|\bres\.(?:sendFile|download)\s*\(|\bpath\.(?:join|resolve)\s*\(|\bsend_file\s*\(|\bopen\s*\(|\bos\.path\.join\s*\(/;

function pathTraversal(file: DiffFile, stmts: Statement[]): RuleHit[] {
  const hits: RuleHit[] = [];
  for (const s of stmts) {
    const sink = FS_SINK.exec(s.text);
    if (!sink) continue;
    const args = s.text.slice(sink.index);
    if (!USER_INPUT.test(args)) continue;
    // basename() strips directories; an explicit containment check shows the author thought of it.
    if (/\bbasename\s*\(|secure_filename\s*\(|startsWith\s*\(|is_relative_to\s*\(/.test(s.text)) continue;
    hits.push(hit(INJECTION_RULES.pathTraversal, file.path, s.lineStart, s.lineEnd, `\`${sink[0].replace(/\s*\($/, '')}\` receives a path built from request input; \`../\` in it escapes the intended directory.`));
  }
  return hits;
}

export function detectInjection(file: DiffFile): RuleHit[] {
  const lang = languageOf(file.path);
  if (!['ts', 'js', 'python', 'go', 'java', 'ruby', 'php', 'csharp'].includes(lang)) return [];
  const stmts = addedStatements(file, lang);
  return [
    ...sqlInjection(file, stmts, lang),
    ...codeEval(file, stmts, lang),
    ...commandInjection(file, stmts, lang),
    ...pathTraversal(file, stmts),
  ];
}
