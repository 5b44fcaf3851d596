import { z } from 'zod';
import { AppError } from '../errors.js';
import { ReviewerInput, ReviewerSpec } from './review.schemas.js';
import { PERSONAS } from './types.js';

/** The default panel: the five personas on the built-in, offline provider. */
export const DEFAULT_PANEL: ReviewerSpec[] = PERSONAS.map((persona) => ({ persona, provider: 'builtin' as const }));

const ProjectPanel = z.array(ReviewerSpec).min(1).max(20);

/** The project's configured panel (`settings.panel`), else the default. */
export function projectPanel(settings: Record<string, unknown>): ReviewerSpec[] {
  if (settings.panel === undefined) return DEFAULT_PANEL;
  const parsed = ProjectPanel.safeParse(settings.panel);
  if (!parsed.success) throw new AppError('unprocessable', 'the project settings.panel is not a valid reviewer panel', parsed.error.issues);
  return parsed.data;
}

/**
 * The panel of one review: the project's, or the reviewers the caller asked for. A persona name
 * picks that persona from the project's panel (or the built-in one when the panel lacks it).
 */
export function resolvePanel(settings: Record<string, unknown>, requested: Array<z.infer<typeof ReviewerInput>> | undefined): ReviewerSpec[] {
  const base = projectPanel(settings);
  if (!requested) return base;
  const out: ReviewerSpec[] = [];
  for (const r of requested) {
    const spec: ReviewerSpec =
      typeof r === 'string' ? (base.find((b) => b.persona === r) ?? { persona: r, provider: 'builtin' }) : ReviewerSpec.parse(r);
    if (out.some((o) => o.persona === spec.persona && o.provider === spec.provider && o.model === spec.model)) continue;
    out.push(spec);
  }
  return out;
}

/** A reviewer's stable name within a review (checkpoints are keyed by it). */
export function reviewerKey(s: ReviewerSpec): string {
  return s.provider === 'builtin' ? s.persona : `${s.persona}:${s.provider}${s.model ? `:${s.model}` : ''}`;
}
