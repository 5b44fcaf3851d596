import type { Command } from 'commander';
import { loadConfig, type Config } from '../../config.js';
import { openClient, type ApiClient } from './client.js';

export interface GlobalOpts {
  dataDir?: string;
  url?: string;
  apiKey?: string;
  json?: boolean;
}

/** Config from the environment, with the global flags layered on top. */
export function configFrom(cmd: Command): { config: Config; opts: GlobalOpts } {
  const opts = cmd.optsWithGlobals<GlobalOpts>();
  const config = loadConfig(process.env, opts.dataDir ? { QUORUM_DATA_DIR: opts.dataDir } : {});
  return { config, opts };
}

export async function withClient<T>(cmd: Command, fn: (c: ApiClient, opts: GlobalOpts) => Promise<T>): Promise<T> {
  const { config, opts } = configFrom(cmd);
  const client = await openClient(config, {
    url: opts.url ?? process.env.QUORUM_URL,
    apiKey: opts.apiKey ?? process.env.QUORUM_API_KEY,
  });
  try {
    return await fn(client, opts);
  } finally {
    await client.close();
  }
}

/** Defaults some commands take from the environment (documented in their --help). */
export const envDefaults = {
  project: process.env.QUORUM_PROJECT,
  url: process.env.QUORUM_URL,
  apiKey: process.env.QUORUM_API_KEY,
  /** `quorum auth signup|login` without --password-stdin. */
  password: process.env.QUORUM_PASSWORD,
};
