/** Diff chunks as the review engine renders them (see review/diff-budget.ts renderFileDiff). */

export const SQL_DIFF = [
  'diff --git a/src/users.ts b/src/users.ts',
  '--- a/src/users.ts',
  '+++ b/src/users.ts',
  '@@ -10,2 +10,4 @@ export async function findUser(db, req) {',
  '   const id = req.query.id;',
  '   const limit = 10;',
  "+  const sql = \"SELECT * FROM users WHERE id = '\" + id + \"'\";",
  '+  return db.query(sql);',
  '',
].join('\n');

export const CLEAN_DIFF = [
  'diff --git a/src/math.ts b/src/math.ts',
  '--- a/src/math.ts',
  '+++ b/src/math.ts',
  '@@ -1,1 +1,2 @@',
  ' export const one = 1;',
  '+export const two = 2;',
  '',
].join('\n');

/** A valid finding as a model would send it in the report_findings tool input. */
export function modelFinding(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    file: 'src/users.ts',
    lineStart: 12,
    lineEnd: 12,
    category: 'security',
    severity: 9,
    title: 'SQL injection via string concatenation',
    detail: 'id is concatenated into the query',
    suggestion: 'use placeholders',
    ...overrides,
  };
}
