import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Readable } from 'node:stream';
import { CLI, ROOT } from '../helpers/process.js';

export interface StdioMcp {
  client: Client;
  /** What the process wrote on stderr (its logs). */
  stderr(): string;
  close(): Promise<void>;
}

/** The SDK's own Client spawning the real built `quorum mcp` (node dist/main/cli.js mcp …). */
export async function spawnMcp(args: string[], env: Record<string, string>, cwd = ROOT): Promise<StdioMcp> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', ...args],
    cwd,
    env: { ...(process.env as Record<string, string>), QUORUM_LOG_LEVEL: 'warn', QUORUM_URL: '', QUORUM_API_KEY: '', ...env },
    stderr: 'pipe',
  });
  let err = '';
  (transport.stderr as Readable | null)?.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: 'quorum-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => err, close: () => client.close() };
}

export const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;

export async function call(c: Client, name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number; total?: number }) => void): Promise<CallToolResult> {
  return (await c.callTool({ name, arguments: args }, undefined, { timeout: 180_000, ...(onprogress && { onprogress }) })) as CallToolResult;
}
