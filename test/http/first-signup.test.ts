import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

describe('signup in invite mode (the default) on a new installation', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ QUORUM_SIGNUP: 'invite' });
  });
  afterAll(async () => t.close());

  it('the first person may sign up and owns the first org; everyone after needs an invitation', async () => {
    const first = await t.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'first@new.test', password: 'a long enough password', name: 'First' } });
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json().org.role).toBe('owner');
    const second = await t.app.inject({ method: 'POST', url: '/v1/auth/signup', payload: { email: 'second@new.test', password: 'a long enough password', name: 'Second' } });
    expect(second.statusCode).toBe(403);
    expect(second.json().error.code).toBe('signup_closed');
    const users = await t.rt.admin.query('select email from users order by email');
    expect(users.rows.map((r) => r.email)).toEqual(['first@new.test']);
  });
});
