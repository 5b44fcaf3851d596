import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fingerprint, normalizeTitle } from '../../src/core/review/fingerprint.js';

describe('normalizeTitle', () => {
  it('treats quoted identifiers, call parentheses and case alike', () => {
    expect(normalizeTitle('SQL injection in `getUser`')).toBe('sql injection in getuser');
    expect(normalizeTitle('sql injection in getUser()')).toBe('sql injection in getuser');
    expect(normalizeTitle('SQL  Injection in "getUser"!')).toBe('sql injection in getuser');
  });

  it('drops standalone numbers but keeps digits inside words', () => {
    expect(normalizeTitle('Unchecked error on line 42 (3 times)')).toBe('unchecked error on line times');
    expect(normalizeTitle('Weak md5 hash')).not.toBe(normalizeTitle('Weak sha1 hash'));
  });

  it('keeps different identifiers apart', () => {
    expect(normalizeTitle('SQL injection in getUser')).not.toBe(normalizeTitle('SQL injection in listOrders'));
  });
});

describe('fingerprint', () => {
  it('is the SHA-256 hex of file, category and normalized title', () => {
    const fp = fingerprint('src/a.ts', 'security', 'SQL injection in `getUser`');
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(fp).toBe(fingerprint('src/a.ts', 'security', 'sql injection in getUser()'));
    expect(fp).not.toBe(fingerprint('src/b.ts', 'security', 'SQL injection in getUser'));
    expect(fp).not.toBe(fingerprint('src/a.ts', 'correctness', 'SQL injection in getUser'));
  });

  it('separates fields so that they cannot run together', () => {
    expect(fingerprint('a', 'security', 'b c')).not.toBe(fingerprint('a security', 'security', 'b c'));
  });

  it('is stable under whitespace and case changes (property)', () => {
    const word = fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,8}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), fc.array(fc.constantFrom(' ', '  ', '\t', '\n'), { minLength: 6, maxLength: 6 }), fc.boolean(), (words, gaps, upper) => {
        const title = words.join(' ');
        const messy = `${gaps[0]}${words.map((w, i) => (upper ? w.toUpperCase() : w) + (gaps[i % gaps.length] ?? ' ')).join('')}`;
        expect(fingerprint('src/x.ts', 'tests', messy)).toBe(fingerprint('src/x.ts', 'tests', title));
      }),
    );
  });
});
