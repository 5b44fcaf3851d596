import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

/**
 * Serves one MCP server on this process's stdin/stdout; resolves when the client goes away (stdin
 * ends, or the transport closes). Nothing but JSON-RPC may be written to stdout meanwhile: logs go
 * to stderr.
 */
export async function serveStdio(server: McpServer): Promise<void> {
  const transport = new StdioServerTransport();
  const gone = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
    process.stdin.once('close', () => resolve());
  });
  await server.connect(transport);
  await gone;
  await server.close().catch(() => {});
}
