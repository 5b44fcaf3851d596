/**
 * The "model" behind the stand-in servers: a deterministic reviewer that reads the diff out of
 * Quorum's real prompt and reports well-known problems on added lines — SQL or shell commands
 * built from strings, eval, hard-coded credentials, disabled TLS verification, swallowed errors,
 * queries in loops, focused or skipped tests… — with the file and new-file line a careful model
 * would give. It answers as the persona named in the system prompt (a security reviewer reports
 * security issues), like a real panel member. No network and no randomness, so a finding can be
 * followed from the provider through consensus into a report.
 *
 * It is independent of Quorum's built-in reviewers on purpose (its own patterns and wording): a
 * stand-in that shared their code would only test it against itself.
 */

export type ScriptedCategory = 'security' | 'correctness' | 'performance' | 'maintainability' | 'tests';

export interface ScriptedFinding {
  file: string;
  lineStart: number;
  lineEnd: number;
  category: ScriptedCategory;
  severity: number;
  title: string;
  detail: string;
  suggestion: string;
}

export interface ScriptedReviewOptions {
  /** Only findings of this category; all categories when absent. */
  persona?: ScriptedCategory;
}

interface LineContext {
  file: string;
  line: number;
  code: string;
  /** The new-file lines just before this one (added or context), nearest last. */
  before: readonly string[];
  testFile: boolean;
}

interface Detector {
  category: ScriptedCategory;
  severity: number;
  title: string;
  match(ctx: LineContext): boolean;
  detail(ctx: LineContext): string;
  suggestion: string;
}

const CATEGORY_SET = new Set<string>(['security', 'correctness', 'performance', 'maintainability', 'tests']);
const MAX_FINDINGS = 50;

/** The text between <diff> and </diff> in a prompt, or the whole text if there are no tags. */
export function diffFromPrompt(prompt: string): string {
  const m = /<diff>\n([\s\S]*?)\n?<\/diff>/.exec(prompt);
  return m?.[1] ?? prompt;
}

/** The persona a Quorum system prompt asks for ("… from the security point of view"). */
export function personaFromSystem(system: string): ScriptedCategory | undefined {
  const m = /from the (\w+) point of view/.exec(system);
  return m?.[1] && CATEGORY_SET.has(m[1]) ? (m[1] as ScriptedCategory) : undefined;
}

const isComment = (code: string): boolean => /^\s*(\/\/|#|\*|\/\*)/.test(code);

/** The first value spliced into a string on this line (`${x}` or `" + x`), for the detail text. */
function splicedValue(code: string): string | undefined {
  const tpl = /\$\{\s*([^}]+?)\s*\}/.exec(code);
  if (tpl?.[1]) return tpl[1];
  const cat = /["'`]\s*\+\s*([A-Za-z_$][\w$.]*(?:\[[^\]]*\])?)/.exec(code) ?? /([A-Za-z_$][\w$.]*)\s*\+\s*["'`]/.exec(code);
  return cat?.[1];
}

const quoted = (v: string | undefined, fallback: string): string => (v ? `\`${v}\`` : fallback);

const SQL_VERB = /\b(SELECT|INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b/i;
const STRING_BUILT = /["'`]\s*\+|\+\s*["'`a-z_]|\$\{/i;
const SHELL_CALL = /\b(exec|execSync|spawnSync|spawn|execa|system|popen)\s*\(/;
const SECRET_NAME = /\b([A-Za-z_$]*(?:api_?key|apikey|secret|passw(?:or)?d|token|private_?key|access_?key|client_?secret)[A-Za-z_$]*)["']?\s*[:=]\s*["'`]([^"'`\s]{8,})["'`]/i;
const SECRET_SHAPE = /\b(AKIA[0-9A-Z]{16}|sk-ant-[A-Za-z0-9_-]{16,}|sk-[A-Za-z0-9]{32,}|gh[pousr]_[A-Za-z0-9]{36,}|xox[baprs]-[A-Za-z0-9-]{10,})\b|-----BEGIN [A-Z ]*PRIVATE KEY-----/;
const PLACEHOLDER = /^(x+|\*+|changeme|placeholder|your[-_a-z]*|example[-_a-z]*|test[-_a-z]*|dummy[-_a-z]*|<[^>]*>)$/i;
const LOOP_HEAD = /\b(for|while)\s*\(|\.(forEach|map)\s*\(/;
const IO_CALL = /\bawait\b.*\b(query|execute|find\w*|findOne|get|fetch|select|request|load\w*)\s*\(/;

const DETECTORS: readonly Detector[] = [
  {
    category: 'security',
    severity: 9,
    title: 'SQL injection via string concatenation',
    match: ({ code }) => SQL_VERB.test(code) && STRING_BUILT.test(code) && !isComment(code),
    detail: ({ line, code }) =>
      `The query on line ${line} is built from strings: ${quoted(splicedValue(code), 'a value')} is spliced into the SQL text, so input reaching it can change the statement (read or modify other rows, bypass the WHERE clause).`,
    suggestion: 'Use a parameterized query: placeholders in the SQL ($1 / ?) and the values passed separately.',
  },
  {
    category: 'security',
    severity: 9,
    title: 'Code injection via eval',
    match: ({ code }) => /\beval\s*\(\s*[^)'"\s]|\bnew\s+Function\s*\(/.test(code) && !isComment(code),
    detail: ({ line }) => `Line ${line} evaluates a runtime value as code; anyone who controls that value runs arbitrary code in this process.`,
    suggestion: 'Do not evaluate data: parse it (JSON.parse, a schema) or dispatch on an allow-list of known operations.',
  },
  {
    category: 'security',
    severity: 9,
    title: 'Command injection via shell string',
    match: ({ code }) => SHELL_CALL.test(code) && STRING_BUILT.test(code) && !isComment(code),
    detail: ({ line, code }) =>
      `The shell command on line ${line} is built from strings with ${quoted(splicedValue(code), 'a variable')} in it; shell metacharacters in that value run extra commands.`,
    suggestion: 'Run the program without a shell (execFile/spawn with an argument array) and validate the argument.',
  },
  {
    category: 'security',
    severity: 8,
    title: 'Hard-coded credential',
    match: ({ code }) => {
      if (SECRET_SHAPE.test(code)) return true;
      const m = SECRET_NAME.exec(code);
      return m !== null && !PLACEHOLDER.test(m[2] ?? '') && !/process\.env|getenv|environ/.test(code);
    },
    detail: ({ line, code }) => {
      const name = SECRET_NAME.exec(code)?.[1];
      return `Line ${line} commits a credential${name ? ` (\`${name}\`)` : ''} to the repository; everyone with read access to the code, its history and its forks has it.`;
    },
    suggestion: 'Revoke and rotate the credential, then load it from the environment or a secret manager.',
  },
  {
    category: 'security',
    severity: 7,
    title: 'TLS certificate verification disabled',
    match: ({ code }) => /rejectUnauthorized\s*:\s*false|NODE_TLS_REJECT_UNAUTHORIZED\s*=\s*["']?0|verify\s*=\s*False|InsecureSkipVerify\s*:\s*true/.test(code),
    detail: ({ line }) => `Line ${line} turns off certificate checks, so any machine on the network path can impersonate the server.`,
    suggestion: 'Keep verification on; trust a private CA explicitly (the `ca` option) if that is the reason.',
  },
  {
    category: 'security',
    severity: 8,
    title: 'Path traversal via request input',
    match: ({ code }) => /\b(readFile|readFileSync|createReadStream|sendFile|unlink|writeFile)\w*\s*\(.*\breq\.(params|query|body)\b/.test(code),
    detail: ({ line }) => `Line ${line} opens a file whose path comes from the request; \`../\` sequences reach files outside the intended directory.`,
    suggestion: 'Resolve the path against a base directory and reject it unless it stays inside (or map ids to files).',
  },
  {
    category: 'security',
    severity: 7,
    title: 'Unsanitized HTML rendering (XSS)',
    match: ({ code }) => /\.(innerHTML|outerHTML)\s*=\s*[^'"`\s;]|dangerouslySetInnerHTML|document\.write\s*\(/.test(code),
    detail: ({ line }) => `Line ${line} inserts a runtime value as HTML; markup or script in it runs in the user's browser.`,
    suggestion: 'Insert text (textContent) or sanitize the HTML with a vetted sanitizer first.',
  },
  {
    category: 'correctness',
    severity: 5,
    title: 'Exception swallowed by an empty catch',
    match: ({ code }) => /\bcatch\s*(\([^)]*\))?\s*\{\s*\}/.test(code) || /^\s*except[^:]*:\s*pass\s*$/.test(code),
    detail: ({ line }) => `The catch on line ${line} discards the error: the failure disappears and the code continues with whatever state it left.`,
    suggestion: 'Handle the error, or log it with context and rethrow.',
  },
  {
    category: 'correctness',
    severity: 6,
    title: 'async callback passed to forEach is never awaited',
    match: ({ code }) => /\.forEach\s*\(\s*async\b/.test(code),
    detail: ({ line }) => `forEach on line ${line} ignores the promises its async callback returns: the function returns before the work is done and rejections go unhandled.`,
    suggestion: 'Use `for … of` with await, or `await Promise.all(items.map(async …))`.',
  },
  {
    category: 'correctness',
    severity: 6,
    title: 'Comparison with NaN is always false',
    match: ({ code }) => /[=!]==?\s*NaN\b|\bNaN\s*[=!]==?/.test(code),
    detail: ({ line }) => `NaN is not equal to anything, itself included, so the comparison on line ${line} never holds.`,
    suggestion: 'Use Number.isNaN(value).',
  },
  {
    category: 'performance',
    severity: 5,
    title: 'Query inside a loop (N+1)',
    match: ({ code, before }) => IO_CALL.test(code) && before.slice(-4).some((l) => LOOP_HEAD.test(l)),
    detail: ({ line }) => `Line ${line} waits for one round trip per item of the loop above it; the cost grows with the data and each call waits for the previous one.`,
    suggestion: 'Fetch the items in one batched query (WHERE id = ANY($1)) or run independent calls concurrently.',
  },
  {
    category: 'performance',
    severity: 4,
    title: 'Synchronous I/O blocks the event loop',
    match: ({ code, testFile }) => !testFile && /\b(readFileSync|writeFileSync|readdirSync|statSync|execSync)\s*\(/.test(code) && !isComment(code),
    detail: ({ line }) => `Line ${line} blocks the whole process while the I/O runs; every other request waits.`,
    suggestion: 'Use the promise-based API (fs/promises, execFile with await).',
  },
  {
    category: 'maintainability',
    severity: 2,
    title: 'Leftover debug logging',
    match: ({ code, testFile }) => !testFile && /\bconsole\.(log|debug)\s*\(|^\s*print\s*\(/.test(code) && !isComment(code),
    detail: ({ line }) => `Line ${line} writes debug output to stdout, outside the structured logger.`,
    suggestion: 'Remove it or log through the project logger at debug level.',
  },
  {
    category: 'maintainability',
    severity: 1,
    title: 'TODO without an owner or issue',
    match: ({ code }) => /\b(TODO|FIXME|XXX)\b/.test(code) && !/\b(TODO|FIXME|XXX)\s*\([^)]+\)|#\d+|\b[A-Z][A-Z0-9]+-\d+\b/.test(code),
    detail: ({ line }) => `The note on line ${line} names neither an owner nor an issue, so nobody will come back to it.`,
    suggestion: 'Open an issue and reference it, or do the work now.',
  },
  {
    category: 'tests',
    severity: 6,
    title: 'Focused test (.only) committed',
    match: ({ code }) => /\b(it|test|describe|context)\.only\s*\(|\bf(it|describe)\s*\(/.test(code),
    detail: ({ line }) => `\`.only\` on line ${line} makes the runner skip every other test in the file (or suite) without failing.`,
    suggestion: 'Remove `.only` before merging.',
  },
  {
    category: 'tests',
    severity: 3,
    title: 'Test skipped',
    match: ({ code }) => /\b(it|test|describe)\.skip\s*\(|\bx(it|describe)\s*\(|@pytest\.mark\.skip\b/.test(code),
    detail: ({ line }) => `The test on line ${line} is skipped, so the behaviour it covers is no longer checked.`,
    suggestion: 'Fix the test or delete it with a reason; do not leave it skipped.',
  },
  {
    category: 'tests',
    severity: 4,
    title: 'Test waits on a fixed sleep',
    match: ({ code, testFile }) => testFile && /\b(setTimeout|sleep|delay|waitForTimeout)\s*\(\s*[^)]*\d{2,}/.test(code),
    detail: ({ line }) => `Line ${line} waits a fixed time instead of for the event: the test is slow when the machine is fast and flaky when it is slow.`,
    suggestion: 'Wait on the condition or event itself (a promise, a poll with a deadline).',
  },
];

const TEST_FILE = /(^|\/)(test|tests|__tests__|spec)\/|\.(test|spec)\.[cm]?[jt]sx?$|(^|\/)test_[^/]*\.py$|_test\.(go|py)$/;

/** Findings for the added lines of the diff in `prompt` (Quorum's review prompt or a bare diff). */
export function scriptedFindings(prompt: string, opts: ScriptedReviewOptions = {}): ScriptedFinding[] {
  const detectors = opts.persona ? DETECTORS.filter((d) => d.category === opts.persona) : DETECTORS;
  const findings: ScriptedFinding[] = [];
  let file: string | undefined;
  let newLine = 0;
  let before: string[] = [];
  for (const line of diffFromPrompt(prompt).split('\n')) {
    if (line.startsWith('+++ ')) {
      const path = line.slice(4).trim();
      file = path === '/dev/null' ? undefined : path.replace(/^b\//, '');
      before = [];
      continue;
    }
    if (line.startsWith('--- ') || line.startsWith('diff --git')) continue;
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
    if (hunk) {
      newLine = Number(hunk[1]);
      before = [];
      continue;
    }
    if (line.startsWith('+')) {
      const code = line.slice(1);
      if (file) {
        const ctx: LineContext = { file, line: newLine, code, before, testFile: TEST_FILE.test(file) };
        for (const d of detectors) {
          if (findings.length >= MAX_FINDINGS) break;
          if (!d.match(ctx)) continue;
          findings.push({
            file,
            lineStart: newLine,
            lineEnd: newLine,
            category: d.category,
            severity: d.severity,
            title: d.title,
            detail: d.detail(ctx),
            suggestion: d.suggestion,
          });
        }
      }
      before = [...before.slice(-7), code];
      newLine += 1;
    } else if (line.startsWith(' ')) {
      before = [...before.slice(-7), line.slice(1)];
      newLine += 1;
    }
  }
  return findings;
}
