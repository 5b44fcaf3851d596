import { z } from 'zod';

export const ErrorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  correlation_id: z.string(),
});

export const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  422: ErrorResponse,
  429: ErrorResponse,
} as const;

/** Text that may reach SQL: PostgreSQL text cannot hold NUL, and no identifier has control characters. */
export const NoControl = z.string().regex(/^\P{Cc}*$/u, 'must not contain control characters');

export const PageQuery = z.object({
  cursor: NoControl.max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const pageOf = <T extends z.ZodTypeAny>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export const ProjectParam = z.object({ project: NoControl.min(1).max(200) });
