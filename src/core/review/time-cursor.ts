import { sql, type RawBuilder } from 'kysely';
import { AppError } from '../errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_US_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;

/**
 * Cursors of lists ordered by (created_at, id) descending: "<created_at>|<id>" of the last item of
 * a page, created_at to the microsecond as the database keeps it (rows written by one transaction
 * share it exactly; a millisecond cursor skipped the rest of them). Anything else is refused, not
 * read as "no cursor", which would quietly start over at the first page.
 */
export function decodeTimeCursor(c: string | undefined): { at: string; id: string } | undefined {
  if (c === undefined || c === '') return undefined;
  const [at, id, ...rest] = c.split('|');
  if (rest.length || !at || !id || !UUID_RE.test(id) || !ISO_US_RE.test(at) || Number.isNaN(Date.parse(at))) {
    throw new AppError('validation_failed', 'cursor: not a cursor this API returned (pass next_cursor from the previous page as it is)');
  }
  return { at, id };
}

export function encodeTimeCursor(at: string, id: string): string {
  return `${at}|${id}`;
}

/** A row's created_at as the cursor holds it (UTC, microseconds). */
export function cursorAt(column: string): RawBuilder<string> {
  return sql<string>`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** Rows after the cursor in (created_at, id) descending order. */
export function afterCursor(createdAt: string, id: string, cur: { at: string; id: string }): RawBuilder<boolean> {
  return sql<boolean>`(${sql.ref(createdAt)}, ${sql.ref(id)}) < (${cur.at}::timestamptz, ${cur.id}::uuid)`;
}
