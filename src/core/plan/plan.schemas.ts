import { z } from 'zod';

const NoControl = z.string().regex(/^\P{Cc}*$/u, 'must not contain control characters');

export const GeneratePlanInput = z.object({
  project_id: NoControl.min(1).max(200).describe('project id or slug'),
  requirements: z.string().trim().min(1).max(100_000).describe('what to build: a feature request, an issue, a specification'),
  max_tasks: z.number().int().min(1).max(50).default(12).describe('upper bound on the number of tasks'),
  priority: z.enum(['low', 'normal', 'high']).default('normal'),
});
export type GeneratePlanInput = z.infer<typeof GeneratePlanInput>;

/** What the model must answer (validated, never cast: model output is untrusted). */
export const LlmPlanSchema = z.object({
  summary: z.string().min(1).max(4_000),
  tasks: z
    .array(
      z.object({
        id: z.string().min(1).max(20),
        title: z.string().min(1).max(200),
        description: z.string().max(4_000).default(''),
        depends_on: z.array(z.string().max(20)).max(50).default([]),
        files: z.array(z.string().max(500)).max(100).default([]),
        acceptance: z.array(z.string().max(1_000)).max(50).default([]),
        complexity: z.enum(['S', 'M', 'L']).default('M'),
      }),
    )
    .min(1)
    .max(50),
});

export const PlanTaskOut = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string(),
  depends_on: z.array(z.string()),
  files: z.array(z.string()),
  acceptance: z.array(z.string()),
  complexity: z.enum(['S', 'M', 'L']),
});

export const PlanOut = z.object({
  project_id: z.string().uuid(),
  summary: z.string(),
  tasks: z.array(PlanTaskOut),
  provider: z.string(),
  model: z.string(),
  usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
});
export type PlanOut = z.infer<typeof PlanOut>;
