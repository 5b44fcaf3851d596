/**
 * Unified-diff parser for `git diff` / `git format-patch` output (and plain `diff -u`).
 *
 * Hand-written rather than taken from npm: the format is small, and we need things the common
 * parsers do not give together — quoted paths with C escapes, rename/copy/mode headers, binary
 * markers, and hunk bodies consumed by their declared line counts, so that a removed line that
 * reads "--- foo" or a added line "+++ bar" is never mistaken for a file header.
 */

export type DiffFileStatus = 'added' | 'deleted' | 'modified' | 'renamed' | 'copied';

export interface DiffLine {
  kind: 'add' | 'del' | 'context';
  text: string;
  /** Line number in the old file (del and context lines). */
  oldLine?: number;
  /** Line number in the new file (add and context lines). */
  newLine?: number;
}

export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** Text after the second @@ (git puts the enclosing function's signature there). */
  section: string;
  lines: DiffLine[];
}

export interface NumberedLine {
  line: number;
  text: string;
}

export interface DiffFile {
  /** Path before the change; null for an added file. */
  oldPath: string | null;
  /** Path after the change; null for a deleted file. */
  newPath: string | null;
  /** The path findings refer to: the new path, or the old one for a deleted file. */
  path: string;
  status: DiffFileStatus;
  binary: boolean;
  oldMode?: string;
  newMode?: string;
  hunks: DiffHunk[];
  /** Added lines with their new-file line numbers, in order. */
  added: NumberedLine[];
  /** Removed lines with their old-file line numbers, in order. */
  removed: NumberedLine[];
}

const HUNK_HEADER = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;

const C_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v' };

/** Git quotes paths with unusual bytes as C strings with octal escapes of the UTF-8 bytes. */
function unquote(path: string): string {
  if (!path.startsWith('"') || !path.endsWith('"') || path.length < 2) return path;
  const bytes: number[] = [];
  const body = path.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] as string;
    if (ch !== '\\') {
      bytes.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const next = body[i + 1] ?? '';
    const octal = /^[0-7]{3}/.exec(body.slice(i + 1, i + 4));
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      i += 3;
    } else {
      bytes.push(...Buffer.from(C_ESCAPES[next] ?? next, 'utf8'));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** `a/src/x.ts` → `src/x.ts`; `/dev/null` → null; drops the tab-separated timestamp of `diff -u`. */
function headerPath(raw: string): string | null {
  let value = raw.trim();
  if (!value.startsWith('"')) {
    const tab = value.indexOf('\t');
    if (tab >= 0) value = value.slice(0, tab);
  }
  value = unquote(value);
  if (value === '/dev/null') return null;
  return value.replace(/^[ab]\//, '');
}

/** Splits the `diff --git a/x b/y` operands; used only when no ---/+++ or rename headers follow. */
function gitHeaderPaths(rest: string): [string, string] | null {
  const quoted = /^("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$/.exec(rest);
  if (quoted && (rest.startsWith('"') || rest.includes(' "'))) {
    return [headerPath(quoted[1] as string) ?? '', headerPath(quoted[2] as string) ?? ''];
  }
  // Unquoted paths may contain spaces; for an unrenamed file both halves are equal, so split there.
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest[half] === ' ') {
    const a = rest.slice(0, half);
    const b = rest.slice(half + 1);
    if (a.replace(/^a\//, '') === b.replace(/^b\//, '')) return [headerPath(a) ?? '', headerPath(b) ?? ''];
  }
  const m = / b\//.exec(rest);
  if (m) return [headerPath(rest.slice(0, m.index)) ?? '', headerPath(rest.slice(m.index + 1)) ?? ''];
  return null;
}

interface Draft {
  oldPath: string | null | undefined;
  newPath: string | null | undefined;
  gitPaths: [string, string] | null;
  status: DiffFileStatus | undefined;
  binary: boolean;
  /** Whether this file's ---/+++ pair was read; a second pair starts the next file. */
  sawFileHeaders: boolean;
  oldMode?: string;
  newMode?: string;
  hunks: DiffHunk[];
}

function newDraft(): Draft {
  return {
    oldPath: undefined,
    newPath: undefined,
    gitPaths: null,
    status: undefined,
    binary: false,
    sawFileHeaders: false,
    hunks: [],
  };
}

function finish(d: Draft): DiffFile | null {
  let oldPath = d.oldPath === undefined ? (d.gitPaths?.[0] ?? null) : d.oldPath;
  let newPath = d.newPath === undefined ? (d.gitPaths?.[1] ?? null) : d.newPath;
  let status = d.status;
  if (status === 'added') oldPath = null;
  if (status === 'deleted') newPath = null;
  if (status === undefined) {
    if (oldPath === null && newPath !== null) status = 'added';
    else if (newPath === null && oldPath !== null) status = 'deleted';
    else if (oldPath !== null && newPath !== null && oldPath !== newPath) status = 'renamed';
    else status = 'modified';
  }
  const path = newPath ?? oldPath;
  if (path === null || path === '') return null;
  const added: NumberedLine[] = [];
  const removed: NumberedLine[] = [];
  for (const hunk of d.hunks) {
    for (const l of hunk.lines) {
      if (l.kind === 'add') added.push({ line: l.newLine as number, text: l.text });
      else if (l.kind === 'del') removed.push({ line: l.oldLine as number, text: l.text });
    }
  }
  const file: DiffFile = { oldPath, newPath, path, status, binary: d.binary, hunks: d.hunks, added, removed };
  if (d.oldMode !== undefined) file.oldMode = d.oldMode;
  if (d.newMode !== undefined) file.newMode = d.newMode;
  return file;
}

/** Parses unified diff text into files. Lines outside any file (commit messages, stats) are ignored. */
export function parseUnifiedDiff(text: string): DiffFile[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const files: DiffFile[] = [];
  let draft: Draft | null = null;
  const flush = () => {
    if (draft) {
      const file = finish(draft);
      if (file) files.push(file);
    }
    draft = null;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    if (line.startsWith('diff --git ')) {
      flush();
      draft = newDraft();
      draft.gitPaths = gitHeaderPaths(line.slice('diff --git '.length));
      continue;
    }
    // A `---` directly followed by `+++` starts a plain `diff -u` file, or belongs to a git header.
    if (line.startsWith('--- ') && (lines[i + 1] ?? '').startsWith('+++ ')) {
      if (!draft || draft.hunks.length > 0 || draft.sawFileHeaders) {
        flush();
        draft = newDraft();
      }
      draft.sawFileHeaders = true;
      // Rename headers name the paths exactly; ---/+++ may carry /dev/null or prefixes.
      if (draft.status === 'renamed' || draft.status === 'copied') {
        i += 1;
        continue;
      }
      draft.oldPath = headerPath(line.slice(4));
      draft.newPath = headerPath((lines[i + 1] as string).replace(/\r$/, '').slice(4));
      i += 1;
      continue;
    }
    if (!draft) continue;
    const d: Draft = draft;
    const hunkHeader = HUNK_HEADER.exec(line);
    if (hunkHeader) {
      i = readHunk(lines, i, hunkHeader, d);
      continue;
    }
    if (line.startsWith('new file mode ')) {
      d.status = 'added';
      d.newMode = line.slice('new file mode '.length);
    } else if (line.startsWith('deleted file mode ')) {
      d.status = 'deleted';
      d.oldMode = line.slice('deleted file mode '.length);
    } else if (line.startsWith('old mode ')) d.oldMode = line.slice('old mode '.length);
    else if (line.startsWith('new mode ')) d.newMode = line.slice('new mode '.length);
    else if (line.startsWith('rename from ')) {
      d.status = 'renamed';
      d.oldPath = unquote(line.slice('rename from '.length));
    } else if (line.startsWith('rename to ')) {
      d.status = 'renamed';
      d.newPath = unquote(line.slice('rename to '.length));
    } else if (line.startsWith('copy from ')) {
      d.status = 'copied';
      d.oldPath = unquote(line.slice('copy from '.length));
    } else if (line.startsWith('copy to ')) {
      d.status = 'copied';
      d.newPath = unquote(line.slice('copy to '.length));
    } else if (line.startsWith('Binary files ') || line === 'GIT binary patch') {
      d.binary = true;
      const m = /^Binary files (.+) and (.+) differ$/.exec(line);
      if (m) {
        if (d.oldPath === undefined) d.oldPath = headerPath(m[1] as string);
        if (d.newPath === undefined) d.newPath = headerPath(m[2] as string);
      }
    }
  }
  flush();
  return files;
}

/** Consumes one hunk body by its declared counts; returns the index of its last line. */
function readHunk(lines: string[], headerIndex: number, header: RegExpExecArray, d: Draft): number {
  const oldStart = Number(header[1]);
  const oldLines = header[2] === undefined ? 1 : Number(header[2]);
  const newStart = Number(header[3]);
  const newLines = header[4] === undefined ? 1 : Number(header[4]);
  const hunk: DiffHunk = { oldStart, oldLines, newStart, newLines, section: header[5] ?? '', lines: [] };
  d.hunks.push(hunk);
  let oldNo = oldStart;
  let newNo = newStart;
  let oldLeft = oldLines;
  let newLeft = newLines;
  let i = headerIndex;
  while (oldLeft > 0 || newLeft > 0) {
    const next = lines[i + 1];
    if (next === undefined) break;
    const raw = next.replace(/\r$/, '');
    const marker = raw[0];
    if (marker === '\\') {
      i += 1; // "\ No newline at end of file"
      continue;
    }
    if (marker === '+' && newLeft > 0) {
      hunk.lines.push({ kind: 'add', text: raw.slice(1), newLine: newNo++ });
      newLeft--;
    } else if (marker === '-' && oldLeft > 0) {
      hunk.lines.push({ kind: 'del', text: raw.slice(1), oldLine: oldNo++ });
      oldLeft--;
    } else if ((marker === ' ' || raw === '') && oldLeft > 0 && newLeft > 0) {
      // Some tools strip the single space of an empty context line.
      hunk.lines.push({ kind: 'context', text: raw.slice(1), oldLine: oldNo++, newLine: newNo++ });
      oldLeft--;
      newLeft--;
    } else {
      break; // truncated or malformed hunk: keep what was read, let the outer loop resync
    }
    i += 1;
  }
  // A trailing "\ No newline" marker after the last counted line.
  if ((lines[i + 1] ?? '').startsWith('\\')) i += 1;
  return i;
}
