import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREPARE, withTenant } from '../../src/db/client.js';
import { createTestRuntime, type TestRuntime } from '../helpers/db.js';
import { bootstrapOwner } from '../../src/core/tenancy/bootstrap.js';

/**
 * Statements of the hot paths marked with PREPARE are sent as named statements: each connection
 * parses and plans them once. Others stay unnamed. Either way the results are the same, and the
 * tenant a prepared statement sees is the transaction's (RLS reads the setting at execution).
 */
describe('prepared statements', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await createTestRuntime();
  });
  afterAll(async () => rt?.close());

  it('prepares a marked statement once per connection and runs it with each call’s parameters and tenant', async () => {
    const a = await bootstrapOwner(rt.deps, { email: 'a@prepared.test', org: 'Prepared A' });
    const b = await bootstrapOwner(rt.deps, { email: 'b@prepared.test', org: 'Prepared B' });
    const marked = (x: number) => sql<{ org: string | null; x: number }>`${sql.raw(PREPARE)} select quorum.current_org()::text as org, ${x}::int * 2 as x, (select count(*)::int from orgs) as visible`;
    // The pool hands the same idle connection back (LIFO): run them one after another on it.
    const seen: Array<{ org: string | null; x: number; visible: number; prepared: number; unnamed: number }> = [];
    for (const [org, x] of [[a.org_id, 1], [b.org_id, 2], [a.org_id, 3]] as const) {
      seen.push(
        await withTenant(rt.deps.db, org, async (tx) => {
          const r = (await marked(x).execute(tx)).rows[0] as { org: string; x: number; visible: number };
          await sql`select ${x}::int as plain`.execute(tx);
          const { rows } = await sql<{ prepared: number; unnamed: number }>`
            select count(*) filter (where name like 'quorum\\_%' and statement like ${PREPARE + '%'})::int as prepared,
                   count(*) filter (where statement like '%as plain%')::int as unnamed
              from pg_prepared_statements`.execute(tx);
          return { ...r, ...rows[0]! };
        }),
      );
    }
    expect(seen.map((s) => [s.org, s.x, s.visible])).toEqual([
      [a.org_id, 2, 1],
      [b.org_id, 4, 1],
      [a.org_id, 6, 1],
    ]);
    for (const s of seen) {
      expect(s.prepared).toBe(1); // one named statement for the three calls, on this connection
      expect(s.unnamed).toBe(0); // unmarked statements are not kept
    }
  });
});
