import { z } from 'zod';

/**
 * The event catalogue: every event type, each version of its payload, as Zod schemas. It is the
 * contract with clients (SSE/WebSocket, CLI progress bar, MCP, a NATS publisher later), so a
 * payload change that is not purely additive-optional gets a new version instead of an edit.
 * Payload objects are strict: a producer sending a field the catalogue does not know is a bug
 * caught at emit time, not a silent surprise for consumers.
 */

const Progress = { completed: z.number().int().min(0), total: z.number().int().min(1) };

export const EVENT_CATALOGUE = {
  'review.queued': {
    scope: 'review',
    versions: {
      1: z.strictObject({
        task_id: z.string().optional(),
        priority: z.enum(['low', 'normal', 'high']).optional(),
        total: z.number().int().min(1).optional(),
      }),
    },
  },
  'review.started': {
    scope: 'review',
    versions: {
      1: z.strictObject({
        attempt: z.number().int().min(1).optional(),
        /** True when an earlier attempt's reviewer checkpoints are reused (crash recovery). */
        resumed: z.boolean().optional(),
        completed: z.number().int().min(0).optional(),
        total: z.number().int().min(1).optional(),
      }),
    },
  },
  'reviewer.started': {
    scope: 'review',
    versions: { 1: z.strictObject({ reviewer: z.string().min(1), ...Progress }) },
  },
  'reviewer.completed': {
    scope: 'review',
    versions: {
      1: z.strictObject({
        reviewer: z.string().min(1),
        ...Progress,
        findings: z.number().int().min(0),
        status: z.enum(['completed', 'failed']),
      }),
    },
  },
  'review.completed': {
    scope: 'review',
    versions: {
      1: z.strictObject({
        score: z.number().min(0),
        verdict: z.enum(['pass', 'comment', 'request_changes']),
        findings: z.number().int().min(0),
      }),
    },
  },
  'review.failed': {
    scope: 'review',
    versions: { 1: z.strictObject({ error: z.strictObject({ code: z.string().min(1), message: z.string() }) }) },
  },
  'review.cancelled': {
    scope: 'review',
    versions: { 1: z.strictObject({ reason: z.string().optional() }) },
  },
  'budget.warning': {
    // Org-wide: a monthly budget (of the org, a project or a user) passed 90 %; sent once per month.
    scope: 'org',
    versions: {
      1: z.strictObject({
        scope: z.enum(['org', 'project', 'user']),
        subject_id: z.string().uuid(),
        month: z.string().regex(/^\d{4}-\d{2}$/),
        limit_usd: z.number().min(0),
        spent_usd: z.number().min(0),
        fraction: z.number().min(0),
      }),
    },
  },
  'worktree.disk_pressure': {
    // Org-wide (no review): new reviews of the org wait while the worktree disk is too full.
    scope: 'org',
    versions: { 1: z.strictObject({ used_fraction: z.number().min(0).max(1), threshold: z.number().min(0).max(1).optional() }) },
  },
} as const;

export type EventType = keyof typeof EVENT_CATALOGUE;
export const EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as EventType[];

/** Producers always write the newest version of a type. */
export const CURRENT_VERSION: { [T in EventType]: 1 } = Object.fromEntries(EVENT_TYPES.map((t) => [t, 1])) as { [T in EventType]: 1 };

export type PayloadOf<T extends EventType> = z.input<(typeof EVENT_CATALOGUE)[T]['versions'][(typeof CURRENT_VERSION)[T]]>;

/** After one of these a review's stream is over: streams close once it has been sent. */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set<EventType>(['review.completed', 'review.failed', 'review.cancelled']);

export function payloadSchema(type: string, version: number): z.ZodType | undefined {
  const entry = (EVENT_CATALOGUE as Record<string, { versions: Record<number, z.ZodType> }>)[type];
  return entry?.versions[version];
}

/** The envelope every event has, as served by the API (payload left open: older versions stay readable). */
export const EventOut = z.object({
  id: z.string().regex(/^\d+$/).describe('monotonic per review; use as the resume cursor (`after`, Last-Event-ID)'),
  type: z.string(),
  version: z.number().int(),
  org_id: z.string(),
  project_id: z.string().nullable(),
  review_id: z.string().nullable(),
  correlation_id: z.string().nullable(),
  created_at: z.string(),
  payload: z.record(z.string(), z.unknown()),
});
export type EventOut = z.infer<typeof EventOut>;

/** Every catalogued (type, version) with its exact payload: for documentation and typed clients. */
export const CatalogueEvent = z.union(
  EVENT_TYPES.flatMap((type) =>
    Object.entries(EVENT_CATALOGUE[type].versions).map(([v, payload]) =>
      EventOut.extend({ type: z.literal(type), version: z.literal(Number(v)), payload: payload as z.ZodType }),
    ),
  ) as unknown as readonly [z.ZodType, z.ZodType, ...z.ZodType[]],
);

export const EventListOut = z.object({
  items: z.array(EventOut),
  /** Pass as `after` to continue; null when there were no events after the given cursor. */
  last_id: z.string().nullable(),
  has_more: z.boolean(),
});
export type EventListOut = z.infer<typeof EventListOut>;
