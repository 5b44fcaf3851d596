import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { knowledgePath } from '../../src/core/review/review-files.js';
import type { BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { auth, createTestApp, newOrg, type TestApp } from '../helpers/app.js';
import { newFileDiff, SQLI_TS } from '../helpers/git.js';

/**
 * KNOWLEDGE.md as exported (incrementally: only entries this process has not rendered yet are read
 * whole) is the same text as GET /v1/projects/{p}/knowledge.md renders from the database, after
 * sequential and after concurrent reviews.
 */
describe('KNOWLEDGE.md export', () => {
  let t: TestApp;
  let owner: BootstrapResult;
  let projectId: string;
  beforeAll(async () => {
    t = await createTestApp();
    owner = await newOrg(t, 'owner@kexport.test', 'Knowledge Export');
    const p = await t.app.inject({ method: 'POST', url: '/v1/projects', headers: auth(owner.api_key), payload: { slug: 'kx' } });
    projectId = p.json().id;
  });
  afterAll(async () => t?.close());

  const review = (i: number) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/review',
      headers: auth(owner.api_key),
      payload: { project_id: 'kx', task_id: `k-${i}`, target: { diff: newFileDiff(`src/q${i}.ts`, SQLI_TS.replace('findUser', `find${i}`)) } },
    });
  const file = () => fs.readFile(knowledgePath(t.rt.config.dataDir, owner.org_id, projectId), 'utf8');
  const api = async () => (await t.app.inject({ url: '/v1/projects/kx/knowledge.md', headers: auth(owner.api_key) })).body;
  const rows = async () => Number((await t.rt.admin.query(`select count(*)::int n from knowledge where project_id = $1`, [projectId])).rows[0].n);

  it('matches the API rendering entry for entry, after sequential and concurrent reviews', async () => {
    for (let i = 0; i < 3; i++) expect((await review(i)).statusCode).toBe(200);
    expect(await file()).toBe(await api());
    const n = await rows();
    expect(n).toBeGreaterThanOrEqual(3);
    expect((await file()).match(/^## /gm)).toHaveLength(n);

    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => review(100 + i)));
    expect(answers.map((a) => a.statusCode)).toEqual(Array<number>(12).fill(200));
    const all = await rows();
    expect(all).toBeGreaterThanOrEqual(n + 12);
    const md = await file();
    expect(md).toBe(await api());
    expect(md.match(/^## /gm)).toHaveLength(all);
    expect(md).toContain(`(${all} entries)`);
  });
});
