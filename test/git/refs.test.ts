import fs from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/errors.js';
import { isValidRef, isValidTaskId, MAX_REF_LENGTH, validateRef, validateTaskId, worktreeBranchName } from '../../src/core/git/refs.js';
import { git, tempDir } from './git-fixture.js';

const codeOf = (f: () => unknown) => {
  try {
    f();
    return 'accepted';
  } catch (e) {
    return e instanceof AppError ? `${e.code}:${e.status}` : 'other';
  }
};

// Valid ref components: safe characters, not starting with '.', not ending with '.lock' or '.'.
const component = fc
  .stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._+#=,-]{0,15}$/)
  .filter((s) => !s.includes('..') && !s.endsWith('.lock') && !s.endsWith('.'));
const refName = fc.array(component, { minLength: 1, maxLength: 4 }).map((c) => c.join('/'));
const suffix = fc.array(fc.tuple(fc.constantFrom('~', '^'), fc.option(fc.integer({ min: 0, max: 99 }), { nil: undefined })), { maxLength: 3 }).map((a) => a.map(([op, n]) => `${op}${n ?? ''}`).join(''));

describe('validateRef', () => {
  it('accepts branch and tag names, SHAs and ancestry forms', () => {
    for (const ok of ['main', 'HEAD', 'HEAD~1', 'HEAD~', 'HEAD^', 'HEAD^^', 'main~3^2', 'feature/login-form', 'v1.2.3', 'release/2026.02', 'a1b2c3d', '0123456789abcdef0123456789abcdef01234567', 'user@feature', 'x'.repeat(MAX_REF_LENGTH)]) {
      expect(validateRef(ok), ok).toBe(ok);
    }
  });

  it('rejects option injection, path escapes and revision syntax with 422 invalid_ref', () => {
    const bad = [
      '-n', '--upload-pack=touch /tmp/x', '--output=/tmp/x', '-', '../etc/passwd', 'a/../b', 'main..evil', 'a..b', 'HEAD@{1}', '@{-1}', '@', 'main@{upstream}',
      'a b', 'a\tb', 'a\nb', 'a\u0000b', 'a\u007fb', 'a\\b', 'HEAD:src/x.ts', ':/fix', 'a?b', 'a*b', 'a[b', '^{tree}', 'HEAD^{tree}', 'HEAD^!', 'HEAD^@', '~1',
      '/main', 'main/', 'a//b', '.hidden', 'a/.b', 'x.lock', 'a/x.lock/b', 'main.', '', 'x'.repeat(MAX_REF_LENGTH + 1),
    ];
    for (const b of bad) expect(codeOf(() => validateRef(b)), JSON.stringify(b)).toBe('invalid_ref:422');
    expect(codeOf(() => validateRef(42))).toBe('invalid_ref:422');
  });

  it('accepts every generated valid name with ancestry suffixes', () => {
    fc.assert(fc.property(refName, suffix, (n, s) => isValidRef(n + s)));
  });

  it('never accepts anything starting with "-", containing "..", "@{", "\\\\", whitespace or control characters, or too long', () => {
    const anyString = fc.string({ unit: 'binary', maxLength: 20 });
    const runs = { numRuns: 100 };
    fc.assert(fc.property(anyString, (s) => !isValidRef(`-${s}`)), runs);
    fc.assert(fc.property(anyString, anyString, (a, b) => !isValidRef(`${a}..${b}`)), runs);
    fc.assert(fc.property(anyString, anyString, (a, b) => !isValidRef(`${a}@{${b}`)), runs);
    fc.assert(fc.property(anyString, anyString, (a, b) => !isValidRef(`${a}\\${b}`)), runs);
    fc.assert(fc.property(anyString, fc.constantFrom(' ', '\t', '\n', '\r', '\u0000', '\u001b', '\u007f'), anyString, (a, c, b) => !isValidRef(`${a}${c}${b}`)), runs);
    fc.assert(fc.property(fc.string({ minLength: MAX_REF_LENGTH + 1, maxLength: MAX_REF_LENGTH + 50 }), (s) => !isValidRef(s)), runs);
  });

  it('whatever it accepts, git agrees is a well-formed ref name (git check-ref-format oracle)', async () => {
    const dir = await tempDir('oracle');
    const samples = fc.sample(fc.oneof(refName, fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 })), 60);
    for (const s of samples) {
      if (!isValidRef(s)) continue;
      // Only the name part: check-ref-format knows nothing of ~N/^N.
      const name = s.replace(/(?:[~^][0-9]*)*$/, '');
      await expect(git(dir, 'check-ref-format', '--allow-onelevel', name), s).resolves.toBeDefined();
    }
    await fs.rm(dir, { recursive: true, force: true });
  });
});

describe('validateTaskId', () => {
  it('accepts the database pattern minus what cannot be a ref component', () => {
    for (const ok of ['test', 'feature', 'crash-test', 'T-123', 'a.b_c-d', 'x'.repeat(100)]) expect(validateTaskId(ok)).toBe(ok);
    for (const bad of ['', '-x', '.x', '_x', 'a/b', 'a b', 'a..b', 'x.lock', 'x.', 'x'.repeat(101), 'ä', '../x']) {
      expect(codeOf(() => validateTaskId(bad)), bad).toBe('validation_failed:400');
    }
  });

  it('every accepted task id makes a valid branch name', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,30}$/), (t) => {
        if (!isValidTaskId(t)) return true;
        return isValidRef(worktreeBranchName('proj', t, '9f0c8e8e-3c39-4bb2-9b0c-1f6f8a3c2a10'));
      }),
    );
  });

  it('a project slug git cannot use in a branch is a clear 400, not a git failure later', () => {
    expect(worktreeBranchName('proj1', 'test', 'r1')).toBe('quorum/proj1/test/r1');
    expect(codeOf(() => worktreeBranchName('a..b', 'test', 'r1'))).toBe('validation_failed:400');
    expect(codeOf(() => worktreeBranchName('x.lock', 'test', 'r1'))).toBe('validation_failed:400');
  });
});
