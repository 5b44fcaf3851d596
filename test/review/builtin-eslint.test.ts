import { describe, expect, it } from 'vitest';
import { BUILTIN_RULES, runBuiltinReviewer, type FileContents } from '../../src/core/llm/builtin/index.js';
import type { DiffFile } from '../../src/core/review/diff.js';
import { changedFile, newFile } from './diff-builder.js';

async function security(files: DiffFile | DiffFile[], contents?: FileContents) {
  return runBuiltinReviewer('security', Array.isArray(files) ? files : [files], contents);
}

async function rules(files: DiffFile | DiffFile[], contents?: FileContents): Promise<string[]> {
  return (await security(files, contents)).map((f) => f.rule ?? '');
}

describe('ESLint with eslint-plugin-security', () => {
  it.each([
    ['eslint:security/detect-unsafe-regex', 'src/a.ts', ['export const EMAIL = /^([a-z0-9]+)+@example\\.com$/;']],
    ['eslint:security/detect-non-literal-regexp', 'src/a.ts', ['export const matcher = (pattern: string) => new RegExp(pattern);']],
    ['eslint:security/detect-non-literal-require', 'src/a.js', ['module.exports = (name) => require(name);']],
    ['eslint:security/detect-non-literal-fs-filename', 'src/a.ts', ["import fs from 'node:fs';", 'export const load = (p: string) => fs.readFileSync(p, "utf8");']],
    ['eslint:security/detect-child-process', 'src/a.ts', ["import { exec } from 'node:child_process';", 'export function run(cmd: string) {', '  exec(cmd);', '}']],
    ['eslint:security/detect-possible-timing-attacks', 'src/a.ts', ['export function check(token: string, provided: string) {', '  if (token === provided) {', '    return true;', '  }', '  return false;', '}']],
    ['eslint:security/detect-new-buffer', 'src/a.js', ['function pad(size) {', '  return new Buffer(size);', '}']],
    ['eslint:security/detect-pseudoRandomBytes', 'src/a.ts', ["import crypto from 'node:crypto';", 'export const id = crypto.pseudoRandomBytes(16);']],
    ['eslint:security/detect-disable-mustache-escape', 'src/a.js', ['env.escapeMarkup = false;']],
    ['eslint:security/detect-bidi-characters', 'src/a.ts', ['const isAdmin = false;', 'if (isAdmin) { /* \u202E } \u2066if (true)\u2069 \u2066 */', '  grant();', '}']],
    ['eslint:no-implied-eval', 'src/a.js', ['window.setTimeout("tick(" + n + ")", 10);']],
    ['eslint:no-new-func', 'src/a.ts', ['export const f = Function("a", body);']],
  ])('%s', async (rule, path, lines) => {
    const found = await security(newFile(path, lines));
    const f = found.find((x) => x.rule === rule);
    expect(f, `got ${found.map((x) => x.rule).join(', ')}`).toBeDefined();
    expect(f?.category).toBe('security');
    expect(f?.detail).toContain(rule.slice('eslint:'.length));
    expect(BUILTIN_RULES.get(rule)?.severity).toBe(f?.severity);
  });

  it('gives each rule a catalogued severity that matches the risk', () => {
    const sev = (id: string) => BUILTIN_RULES.get(`eslint:${id}`)?.severity;
    expect(sev('security/detect-eval-with-expression')).toBe(8);
    expect(sev('security/detect-child-process')).toBe(7);
    expect(sev('security/detect-non-literal-fs-filename')).toBe(2);
    expect(BUILTIN_RULES.has('eslint:security/detect-object-injection')).toBe(false);
  });

  it.each([
    ['eval(req.body.code);', 'injection/code-eval'],
    ['const fn = new Function("a", body);', 'injection/code-eval'],
    ["exec('convert ' + file + ' out.png');", 'injection/command-exec'],
  ])('reports %s once, as the built-in rule (no ESLint duplicate)', async (line, rule) => {
    const found = await rules(newFile('src/a.js', ["const { exec } = require('child_process');", line]));
    expect(found).toEqual([rule]);
  });

  it('reports a path from request input once, as path traversal', async () => {
    const found = await rules(newFile('src/a.ts', ["import fs from 'node:fs';", 'app.get("/f", (req, res) => res.send(fs.readFileSync(req.query.name)));']));
    expect(found).toEqual(['injection/path-traversal']);
  });

  it.each([
    [['if (token === undefined) return null;']],
    [["if (password !== '') save(password);"]],
    [["import { execFile } from 'node:child_process';", "execFile('git', ['status']);"]],
    [["const { exec } = require('child_process');"]],
    [['export const SLUG = /^[a-z0-9-]{1,40}$/;']],
    [["export const re = new RegExp('^v\\\\d+$');"]],
    [['const buf = Buffer.from(text, "utf8");']],
    [["setTimeout(() => tick(), 10);"]],
    [['const x = obj[key];']],
  ])('stays quiet on %j', async (lines) => {
    expect(await rules(newFile('src/a.ts', lines))).toEqual([]);
  });

  it('only reports added lines', async () => {
    const file = changedFile('src/a.ts', 5, ['export const OLD = /^(a+)+$/;'], ['export const NEW = 1;']);
    expect(await rules(file)).toEqual([]);
  });

  it('parses a hunk that starts inside a block and closes braces it never opened', async () => {
    const file = changedFile('src/a.ts', 20, ['  if (input.length > 0) {', '    const head = input[0];'], ['    const ok = /^(\\w+\\s?)*$/.test(head);', '    return ok;', '  }', '}']);
    const found = await security(file);
    expect(found.map((f) => [f.rule, f.lineStart])).toEqual([['eslint:security/detect-unsafe-regex', 22]]);
  });

  it('parses a hunk of class members', async () => {
    const file = changedFile('src/a.ts', 3, ['  private readonly x = 1;'], ['  check(token: string, given: string): boolean {', '    if (given === token) return true;', '    return false;', '  }']);
    expect(await rules(file)).toEqual(['eslint:security/detect-possible-timing-attacks']);
  });

  it('sees imports outside the hunk when the whole new file is known', async () => {
    const whole = ["import { exec } from 'node:child_process';", '', 'export function run(cmd: string) {', '  log(cmd);', '  exec(cmd);', '}', ''];
    const file = changedFile('src/run.ts', 3, ['export function run(cmd: string) {', '  log(cmd);'], ['  exec(cmd);']);
    expect(await rules(file)).toEqual([]); // the hunk alone does not show where exec comes from
    const found = await security(file, new Map([['src/run.ts', whole.join('\n')]]));
    expect(found.map((f) => [f.rule, f.lineStart])).toEqual([['eslint:security/detect-child-process', 5]]);
  });

  it('ignores file content that does not hold the diff (a stale or unrelated worktree)', async () => {
    const file = changedFile('src/run.ts', 3, ['export function run(cmd: string) {', '  log(cmd);'], ['  exec(cmd);']);
    const stale = ["import { exec } from 'node:child_process';", 'export function run(cmd: string) {', '  exec(cmd);', '}'].join('\n');
    expect(await rules(file, new Map([['src/run.ts', stale]]))).toEqual([]);
  });

  it('cannot be switched off by the code under review', async () => {
    const file = newFile('src/a.ts', ['/* eslint-disable */', '// eslint-disable-next-line security/detect-unsafe-regex', 'export const R = /^(a+)+$/;']);
    expect(await rules(file)).toEqual(['eslint:security/detect-unsafe-regex']);
  });

  it('skips test files and files that do not parse', async () => {
    expect(await rules(newFile('test/a.test.ts', ["import fs from 'node:fs';", 'const t = fs.readFileSync(fixture);']))).toEqual([]);
    expect(await rules(newFile('src/a.ts', ['export const R = /^(a+)+$/;', 'function (((']))).toEqual([]);
  });

  it('reads JSX and TSX', async () => {
    expect(await rules(newFile('src/a.tsx', ['export const A = ({ p }: { p: string }) => <div>{new RegExp(p).source}</div>;']))).toEqual(['eslint:security/detect-non-literal-regexp']);
    expect(await rules(newFile('src/a.jsx', ['export const A = ({ p }) => <div>{new RegExp(p).source}</div>;']))).toEqual(['eslint:security/detect-non-literal-regexp']);
  });
});
