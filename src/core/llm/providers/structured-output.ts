import { z } from 'zod';
import { LlmFindingsSchema } from '../../review/finding.schemas.js';
import type { Persona, RawFinding } from '../../review/types.js';
import { ProviderError } from './provider.js';

/**
 * The findings contract between Quorum and a model: one JSON Schema, derived from the same Zod
 * schema that validates the answer, so the two cannot drift. Model output is untrusted: it is
 * validated, never cast.
 */

function deriveJsonSchema(): Record<string, unknown> {
  // `io: 'input'` describes what the model must send (before our trims/refinements run).
  const { $schema: _ignored, ...schema } = z.toJSONSchema(LlmFindingsSchema, { io: 'input' }) as Record<string, unknown>;
  return schema;
}

/** JSON Schema of `{ findings: [...] }`: Anthropic tool `input_schema`, OpenAI `json_schema`. */
export const FINDINGS_JSON_SCHEMA: Readonly<Record<string, unknown>> = Object.freeze(deriveJsonSchema());

const MAX_REPORTED_ISSUES = 10;

export interface ParseContext {
  persona: Persona;
  reviewer: string;
  files: readonly string[];
  status: number | undefined;
  headers: Record<string, string>;
}

export function badOutput(message: string, ctx: Pick<ParseContext, 'status' | 'headers'>, details?: unknown): ProviderError {
  return new ProviderError('provider_bad_output', message, ctx.status, undefined, ctx.headers, details);
}

/** Models often write `b/src/x.ts` or `./src/x.ts` for `src/x.ts`; anything else must match exactly. */
function resolveFile(reported: string, files: readonly string[]): string | undefined {
  if (files.includes(reported)) return reported;
  const stripped = reported.replace(/^(\.\/|[ab]\/)/, '');
  return files.includes(stripped) ? stripped : undefined;
}

/**
 * Validates a findings payload. Invalid shape → ProviderError `provider_bad_output` (with the Zod
 * issue paths, not the model's text). Findings on files outside the chunk are dropped and counted:
 * they are hallucinations, and one bad finding should not discard the good ones.
 */
export function parseFindingsPayload(payload: unknown, ctx: ParseContext): { findings: RawFinding[]; dropped: number } {
  const parsed = LlmFindingsSchema.safeParse(payload);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, MAX_REPORTED_ISSUES).map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw badOutput('the model answered with findings that do not match the schema', ctx, { issues });
  }
  const findings: RawFinding[] = [];
  let dropped = 0;
  for (const f of parsed.data.findings) {
    const file = resolveFile(f.file, ctx.files);
    if (file === undefined) {
      dropped += 1;
      continue;
    }
    const finding: RawFinding = {
      file,
      lineStart: f.lineStart,
      lineEnd: f.lineEnd,
      category: f.category,
      severity: f.severity,
      title: f.title,
      detail: f.detail,
      reviewer: ctx.reviewer,
    };
    if (f.suggestion !== undefined) finding.suggestion = f.suggestion;
    findings.push(finding);
  }
  return { findings, dropped };
}

/**
 * JSON-in-text fallback: takes the first balanced top-level JSON object from a model's text,
 * tolerating code fences and prose around it. Returns undefined when there is none.
 */
export function extractJsonObject(text: string): unknown {
  const trimmed = text.trim();
  try {
    return JSON.parse(trimmed);
  } catch {
    // fall through: look for an object inside prose / fences
  }
  for (let start = trimmed.indexOf('{'); start !== -1; start = trimmed.indexOf('{', start + 1)) {
    const end = matchingBrace(trimmed, start);
    if (end === -1) continue;
    try {
      return JSON.parse(trimmed.slice(start, end + 1));
    } catch {
      // not JSON after all; try the next '{'
    }
  }
  return undefined;
}

/** Index of the brace closing the one at `start`, skipping braces inside JSON strings; -1 if none. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth += 1;
    else if (c === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  return -1;
}
