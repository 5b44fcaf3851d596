import type { FastifyInstance } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CoreDeps } from '../../../core/deps.js';
import { cancelReview } from '../../../core/review/cancel-review.js';
import { getReviewReport, type ReportFormat } from '../../../core/review/get-review-report.js';
import { getReview } from '../../../core/review/get-review.js';
import { listReviews } from '../../../core/review/list-reviews.js';
import { ListReviewsQuery, ReviewOut, StartReviewInput } from '../../../core/review/review.schemas.js';
import { KnowledgeEntryOut, SearchKnowledgeQuery, searchKnowledge } from '../../../core/review/search-knowledge.js';
import { runSyncReview } from '../../../core/review/run-sync-review.js';
import { startReview } from '../../../core/review/start-review.js';
import { actorOf, ctxOf } from '../plugins/auth.js';
import { errorResponses, pageOf, ProjectParam } from './common.schemas.js';

const ReviewParam = z.object({ id: z.string().uuid() });

/** What the route's response serializer makes of a review (zod-checked against ReviewOut, then JSON). */
const serializeReview = serializerCompiler({ schema: ReviewOut, method: 'POST', url: '/v1/review' }) as (review: ReviewOut) => string;

export function reviewRoutes(app: FastifyInstance, deps: CoreDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['reviews'];

  r.post('/v1/review', {
    schema: {
      tags,
      summary: 'Start a review and wait for it (up to timeout_s; then 202 with its id)',
      body: StartReviewInput,
      response: { 200: ReviewOut, 202: ReviewOut, ...errorResponses },
    },
  }, async (req, reply) => {
    // A review completed in this process is serialized (by the route's own serializer) while its
    // transaction commits, and sent as is when that is the review answered.
    let early: { review: ReviewOut; body: string } | undefined;
    const whileCommitting = (review: ReviewOut) => {
      try {
        early = { review, body: serializeReview(review) };
      } catch {
        early = undefined; // the reply's serializer reports it, below
      }
    };
    const { review, done } = await runSyncReview(deps, ctxOf(req), req.body, { whileCommitting });
    reply.header('location', review.links.self);
    // A string with a JSON content type is sent as is (fastify serializes only other values).
    if (done && early?.review === review) return reply.status(200).type('application/json; charset=utf-8').send(early.body as unknown as ReviewOut);
    return reply.status(done ? 200 : 202).send(review);
  });

  r.post('/v1/review/async', {
    schema: { tags, summary: 'Start a review; answers at once with its id and links', body: StartReviewInput, response: { 202: ReviewOut, ...errorResponses } },
  }, async (req, reply) => {
    const review = await startReview(deps, ctxOf(req), req.body);
    reply.header('location', review.links.self);
    return reply.status(202).send(review);
  });

  r.get('/v1/reviews', {
    schema: { tags, summary: 'List reviews', querystring: ListReviewsQuery, response: { 200: pageOf(ReviewOut), ...errorResponses } },
  }, async (req) => listReviews(deps, actorOf(req), req.query));

  r.get('/v1/reviews/:id', {
    schema: { tags, summary: 'A review with its findings', params: ReviewParam, response: { 200: ReviewOut, ...errorResponses } },
  }, async (req) => getReview(deps, actorOf(req), req.params.id));

  r.post('/v1/reviews/:id/cancel', {
    schema: { tags, summary: 'Cancel a queued or running review', params: ReviewParam, response: { 200: ReviewOut, ...errorResponses } },
  }, async (req) => cancelReview(deps, ctxOf(req), req.params.id));

  const report = (format: ReportFormat, summary: string) =>
    r.get(`/v1/reviews/:id/report.${format}`, {
      schema: { tags, summary, params: ReviewParam, response: errorResponses },
    }, async (req, reply) => {
      const out = await getReviewReport(deps, actorOf(req), req.params.id, format);
      return reply.type(out.contentType).send(out.body as never);
    });
  report('md', 'The review report as Markdown');
  report('json', 'The review report as JSON (schema_version 1.0)');
  report('sarif', 'The review report as SARIF 2.1.0');

  r.get('/v1/projects/:project/knowledge', {
    schema: {
      tags: ['knowledge'],
      summary: "Search a project's shared knowledge (findings kept from reviews)",
      params: ProjectParam,
      querystring: SearchKnowledgeQuery,
      response: { 200: pageOf(KnowledgeEntryOut), ...errorResponses },
    },
  }, async (req) => searchKnowledge(deps, actorOf(req), req.params.project, req.query));
}
