import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CoreDeps } from '../../../core/deps.js';
import { AppError } from '../../../core/errors.js';
import { VERSION } from '../../../version.js';
import { coreBackend } from '../../mcp/core-backend.js';
import { buildMcpServer } from '../../mcp/server.js';
import { ctxOf } from '../plugins/auth.js';

/**
 * MCP over Streamable HTTP at /mcp, for MCP clients of a team server. Stateless (the SDK's
 * recommendation when several API processes serve one URL): every POST builds a server for the
 * caller — authenticated by the same API-key/JWT hook as REST, so it is tenant-scoped to the key's
 * org and capped at its role — and answers on that request's own SSE stream (progress included).
 *
 * DNS rebinding: a browser page on another origin must not reach it. Requests carrying an Origin
 * header are refused unless that origin is listed in QUORUM_CORS_ORIGINS; MCP clients that are
 * not browsers send no Origin.
 */
export function mcpRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const allowed = new Set(deps.config.http.corsOrigins.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  const checkOrigin = async (req: FastifyRequest) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !allowed.has(String(origin).replace(/\/+$/, '').toLowerCase())) {
      throw new AppError('forbidden', `origin ${String(origin)} is not allowed to use /mcp (QUORUM_CORS_ORIGINS)`);
    }
  };
  // Each open MCP response ends with its request; the server's close must not wait on one.
  const open = new Set<StreamableHTTPServerTransport>();
  app.addHook('preClose', async () => {
    await Promise.all([...open].map((t) => t.close().catch(() => {})));
  });

  app.post('/mcp', { schema: { hide: true }, onRequest: checkOrigin }, async (req, reply) => {
    const ctx = ctxOf(req);
    const server = buildMcpServer({ backend: coreBackend(deps, () => ctx), logger: req.log as CoreDeps['logger'], version: VERSION });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    open.add(transport);
    reply.raw.on('close', () => {
      open.delete(transport);
      void transport.close().catch(() => {});
      void server.close().catch(() => {});
    });
    await server.connect(transport);
    reply.hijack();
    try {
      await transport.handleRequest(req.raw, reply.raw, req.body);
    } catch (e) {
      // Past hijack() Fastify's error handler cannot answer: a JSON-RPC error, never a stack trace.
      req.log.error({ err: e }, 'MCP request failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'internal error' }, id: null }));
      } else reply.raw.end();
    }
  });

  // Stateless: no server-initiated stream (GET) and no session to end (DELETE).
  const notAllowed = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply
      .status(405)
      .header('allow', 'POST')
      .send({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless; POST only' }, id: null });
  app.get('/mcp', { schema: { hide: true }, onRequest: checkOrigin }, notAllowed);
  app.delete('/mcp', { schema: { hide: true }, onRequest: checkOrigin }, notAllowed);
}
