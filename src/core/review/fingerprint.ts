import { createHash } from 'node:crypto';
import type { Category } from './types.js';

/**
 * Normalizes a finding title so that two reviewers (or two runs of one LLM) describing the same
 * issue in slightly different words-and-punctuation get the same fingerprint.
 *
 * The rule, applied in order:
 *  1. Unicode NFKC, then lower case.
 *  2. Quote marks (`'`, `"`, backtick, typographic quotes) are deleted, so a quoted identifier
 *     keeps its name: "SQL injection in `getUser`" → "sql injection in getuser".
 *  3. Every other character that is not a letter, digit or whitespace becomes a space
 *     (so `getUser()` → "getuser", `a.b` → "a b").
 *  4. Standalone numbers are dropped ("line 42", "3 occurrences", "v2.1"), because reviewers
 *     quote line numbers and counts that shift between runs. Digits inside a word are kept:
 *     "md5" and "sha1" name different things.
 *  5. Whitespace is collapsed to single spaces and trimmed.
 *
 * Identifiers are deliberately kept: "SQL injection in getUser" and "SQL injection in listOrders"
 * in one file are two issues.
 */
export function normalizeTitle(title: string): string {
  let n = normalized.get(title);
  if (n === undefined) {
    if (normalized.size >= NORMALIZED_CACHE) normalized.clear();
    normalized.set(title, (n = normalizeUncached(title)));
  }
  return n;
}

/**
 * Titles repeat (a rule's finding on every line it matches, the same title merged, matched and
 * inserted): each is normalized once, not at every step of a review.
 */
const normalized = new Map<string, string>();
const NORMALIZED_CACHE = 4096;

function normalizeUncached(title: string): string {
  return title
    .normalize('NFKC')
    .toLowerCase()
    .replace(/['"`\u2018\u2019\u201C\u201D\u00B4]/g, '')
    .replace(/[^\p{L}\p{N}\s]+/gu, ' ')
    .split(/\s+/)
    .filter((word) => word !== '' && !/^\p{N}+$/u.test(word))
    .join(' ');
}

/** SHA-256 hex of file, category and normalized title, NUL-separated so fields cannot run together. */
export function fingerprint(file: string, category: Category, title: string): string {
  return createHash('sha256')
    .update(`${file}\0${category}\0${normalizeTitle(title)}`, 'utf8')
    .digest('hex');
}
