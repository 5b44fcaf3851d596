import { sql } from 'kysely';
import type { Db } from '../../db/client.js';

/** Every org id, through the named cross-org function (0002); system jobs then enter each org. */
export async function listOrgIds(db: Db): Promise<string[]> {
  const res = await sql<{ org_id: string }>`select org_id from quorum.system_org_ids()`.execute(db);
  return res.rows.map((r) => r.org_id);
}
