import type { Logger } from 'pino';
import { AppError } from '../../core/errors.js';
import type { QuorumBackend } from './backend.js';

/** What every tool and resource of one MCP server shares. */
export interface McpContext {
  /**
   * Settles when the fields below are final. `quorum mcp` answers `initialize` at once and starts
   * its database meanwhile; every tool and resource awaits this before touching the backend.
   */
  ready?: Promise<unknown>;
  backend: QuorumBackend;
  logger: Logger;
  /** Project used when a call names none: the registered local repository, or --project. */
  defaultProject?: string | undefined;
  /** Local checkout whose uncommitted changes `review_code {working_tree: true}` reviews (stdio only). */
  workingTreeDir?: string | undefined;
}

export function projectOf(c: McpContext, given: string | undefined): string {
  const p = given ?? c.defaultProject;
  if (!p) throw new AppError('validation_failed', 'project is required: name a project id or slug (list_projects shows them)');
  return p;
}

/** Text content for clients without structured output support: the JSON itself, after a summary. */
export function jsonText(summary: string, value: unknown): Array<{ type: 'text'; text: string }> {
  return [{ type: 'text', text: `${summary}\n\n${JSON.stringify(value, null, 2)}` }];
}
