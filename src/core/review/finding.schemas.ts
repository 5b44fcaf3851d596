import { z } from 'zod';
import { CATEGORIES, type RawFinding } from './types.js';

/**
 * Validates one finding as a reviewer (an LLM, usually) returned it. LLM output is untrusted:
 * bounds are enforced here so that nothing downstream (scores, SARIF regions, Markdown tables)
 * has to re-check them.
 */
export const RawFindingSchema = z
  .object({
    file: z.string().trim().min(1).max(1024),
    lineStart: z.number().int().min(1),
    lineEnd: z.number().int().min(1),
    category: z.enum(CATEGORIES),
    severity: z.number().min(0).max(10),
    title: z.string().trim().min(1).max(300),
    detail: z.string().max(10_000),
    suggestion: z.string().max(10_000).optional(),
    rule: z
      .string()
      .regex(/^[a-z0-9-]+(\/[a-z0-9-]+)+$/, 'rule ids look like family/name')
      .optional(),
    reviewer: z.string().trim().min(1).max(100),
  })
  .refine((f) => f.lineEnd >= f.lineStart, { message: 'lineEnd must be >= lineStart', path: ['lineEnd'] });

/** What an LLM reviewer is asked to return: the reviewer name is filled in by us, not trusted from it. */
export const LlmFindingsSchema = z.object({
  findings: z.array(
    z
      .object({
        file: z.string().trim().min(1).max(1024),
        lineStart: z.number().int().min(1),
        lineEnd: z.number().int().min(1),
        category: z.enum(CATEGORIES),
        severity: z.number().min(0).max(10),
        title: z.string().trim().min(1).max(300),
        detail: z.string().max(10_000),
        suggestion: z.string().max(10_000).optional(),
      })
      .refine((f) => f.lineEnd >= f.lineStart, { message: 'lineEnd must be >= lineStart', path: ['lineEnd'] }),
  ),
});

export type RawFindingInput = z.infer<typeof RawFindingSchema>;

// Compile-time guard: the schema and the domain type must describe the same shape.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _schemaMatchesType: Exact<RawFindingInput, RawFinding> = true;
void _schemaMatchesType;
