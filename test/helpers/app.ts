import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/adapters/http/app.js';
import { bootstrapOwner, type BootstrapResult } from '../../src/core/tenancy/bootstrap.js';
import { createTestRuntime, type TestRuntime } from './db.js';
import { allRoutes } from '../../src/adapters/http/all-routes.js';

export interface TestApp {
  rt: TestRuntime;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const rt = await createTestRuntime(env);
  const app = await buildApp(rt.deps, { version: 'test', extraRoutes: allRoutes });
  await app.ready();
  return {
    rt,
    app,
    close: async () => {
      await app.close();
      await rt.close();
    },
  };
}

export async function newOrg(t: TestApp, email: string, org: string): Promise<BootstrapResult> {
  return bootstrapOwner(t.rt.deps, { email, org });
}

export const auth = (key: string) => ({ 'x-api-key': key });
