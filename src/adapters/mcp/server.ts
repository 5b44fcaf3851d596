import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { McpContext } from './context.js';
import { sdkToolError } from './errors.js';
import { registerKnowledgeResources } from './resources/knowledge.resources.js';
import { registerReviewResources } from './resources/review.resources.js';
import { registerKnowledgeTools } from './tools/knowledge.tools.js';
import { registerPlanTools } from './tools/plan.tools.js';
import { registerProjectTools } from './tools/projects.tools.js';
import { registerReviewTools } from './tools/review.tools.js';

export interface McpServerDeps extends McpContext {
  version: string;
}

const INSTRUCTIONS = [
  'Quorum runs multi-reviewer code reviews and keeps what they find as shared project knowledge.',
  'Use review_code on your change before you call it done (working_tree: true reviews your uncommitted changes when available);',
  'search_knowledge before touching an area; generate_plan to break a requirement into tasks.',
  'Errors carry a machine-readable code first, e.g. "not_found: project not found".',
].join(' ');

/**
 * Build, don't listen (house rule 7): one MCP server over one backend. The same factory serves
 * stdio (`quorum mcp`, local or delegating) and Streamable HTTP (/mcp on the API server).
 */
export function buildMcpServer(deps: McpServerDeps): McpServer {
  const server = new McpServer(
    { name: 'quorum', title: 'Quorum code review', version: deps.version },
    { capabilities: { tools: {}, resources: {} }, instructions: INSTRUCTIONS },
  );
  // The SDK turns its own failures (arguments that do not match a tool's input schema, an unknown
  // tool) into error results through this private method; give them a code like ours.
  (server as unknown as { createToolError: (message: string) => CallToolResult }).createToolError = sdkToolError;
  registerReviewTools(server, deps);
  registerKnowledgeTools(server, deps);
  registerProjectTools(server, deps);
  registerPlanTools(server, deps);
  registerReviewResources(server, deps);
  registerKnowledgeResources(server, deps);
  return server;
}
