import { PassThrough } from 'node:stream';
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CoreDeps } from '../../../core/deps.js';
import { AppError } from '../../../core/errors.js';
import { authorizeReviewEvents, type ReviewStream } from '../../../core/events/authorize-review-events.js';
import { EventListOut, type EventOut } from '../../../core/events/catalogue.js';
import { followEvents, type Follower, type WakeSource } from '../../../core/events/follow.js';
import { listReviewEvents } from '../../../core/events/list-review-events.js';
import { actorOf } from '../plugins/auth.js';
import { errorResponses } from './common.schemas.js';

export interface EventRoutesOptions {
  /** SSE comment / WebSocket ping period; each one also re-reads the stream as a safety net. */
  heartbeatMs?: number;
}

// 18 digits: any real event id, and never a bigint overflow (a 5xx) from a hostile cursor.
const Cursor = z.string().regex(/^\d{1,18}$/, 'an event id');

const EventsQuery = z.object({
  after: Cursor.optional().describe('resume after this event id (Last-Event-ID takes precedence)'),
  format: z.enum(['sse', 'json']).optional().describe('json: a plain list instead of a stream'),
  limit: z.coerce.number().int().min(1).max(1000).default(1000).describe('json only'),
});

const DESCRIPTION = [
  'Progress of a review. Default: Server-Sent Events (`id:` event id, `event:` type, `data:` the JSON event),',
  'replaying every event after `after` / `Last-Event-ID` (from the beginning without either), then live events;',
  'a `: ping` comment every 15 s; the stream ends after review.completed, review.failed or review.cancelled.',
  'The same path upgrades to a WebSocket (one JSON event per message, same replay; closes with 1000 after the',
  'terminal event). `?format=json` answers a plain list (the 200 schema below).',
].join(' ');

/**
 * GET /v1/reviews/:id/events. The hub (one per process, from the composition root) only wakes
 * streams; every event a client gets is read from the outbox table as its tenant.
 */
export async function eventRoutes(
  app: FastifyInstance,
  deps: CoreDeps,
  hub: WakeSource = deps.events,
  opts: EventRoutesOptions = {},
): Promise<void> {
  // @fastify/websocket must be registered once per server (it listens to 'upgrade'); register it
  // here only when app.ts has not.
  if (!app.hasDecorator('websocketServer')) await app.register(websocket);
  // An upgrade refused with an HTTP error (401 from the global auth hook, which runs before the
  // plugin marks the request as a WebSocket) would otherwise leave the socket open, and app.close()
  // waiting on it forever. Accepted upgrades are hijacked and never reach onResponse.
  app.addHook('onResponse', async (req) => {
    if (req.raw.headers.upgrade?.toLowerCase() === 'websocket') req.raw.socket?.destroy();
  });
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const live = new Set<Follower>();
  // Open streams would keep app.close() waiting forever.
  app.addHook('preClose', async () => {
    for (const f of live) f.stop();
  });
  const authorized = new WeakMap<FastifyRequest, { stream: ReviewStream; after: string }>();

  const follow = (stream: ReviewStream, after: string, sink: (events: EventOut[]) => Promise<void>): Follower => {
    const f = followEvents(deps, hub, { ...stream, afterId: after, untilTerminal: true, recheckMs: heartbeatMs }, sink);
    live.add(f);
    void f.done.then(() => live.delete(f));
    return f;
  };

  const r = app.withTypeProvider<ZodTypeProvider>();
  r.route({
    method: 'GET',
    url: '/v1/reviews/:id/events',
    schema: {
      tags: ['reviews'],
      summary: "Stream a review's progress events (SSE, WebSocket, or JSON)",
      description: DESCRIPTION,
      params: z.object({ id: z.string().min(1).max(200) }),
      querystring: EventsQuery,
      response: { 200: EventListOut, ...errorResponses },
    },
    // Runs before a WebSocket upgrade too, so a 401/404 is a plain HTTP answer, not a closed socket.
    preHandler: async (req) => {
      const last = req.headers['last-event-id'];
      let after = req.query.after ?? '0';
      if (last !== undefined) {
        const parsed = Cursor.safeParse(Array.isArray(last) ? last[0] : last);
        if (!parsed.success) throw new AppError('validation_failed', 'Last-Event-ID must be an event id');
        after = parsed.data;
      }
      authorized.set(req, { stream: await authorizeReviewEvents(deps, actorOf(req), req.params.id), after });
    },
    handler: async (req, reply) => {
      const { stream, after } = authorized.get(req)!;
      if (req.query.format === 'json') {
        return listReviewEvents(deps, actorOf(req), stream.reviewId, { after, limit: req.query.limit });
      }
      const out = new PassThrough();
      const write = (chunk: string) => writeOrWait(out, chunk);
      const f = follow(stream, after, async (events) => {
        await write(events.map((e) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join(''));
      });
      const beat = setInterval(() => {
        out.write(': ping\n\n');
        f.wake();
      }, heartbeatMs);
      reply.raw.on('close', () => f.stop());
      void f.done.then(() => {
        clearInterval(beat);
        out.end();
      });
      // Sent at once so the client has its 200 and headers before the first event exists.
      out.write('retry: 2000\n\n');
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        // The socket is not reusable while streaming; closing it after the stream ends lets
        // app.close() finish instead of waiting out the keep-alive timeout.
        .header('connection', 'close')
        .send(out as unknown as z.infer<typeof EventListOut>);
    },
    wsHandler: (socket, req) => {
      const { stream, after } = authorized.get(req)!;
      const send = (data: string) =>
        new Promise<void>((resolve, reject) => socket.send(data, (err?: Error) => (err ? reject(err) : resolve())));
      const f = follow(stream, after, async (events) => {
        await Promise.all(events.map((e) => send(JSON.stringify(e))));
      });
      const beat = setInterval(() => {
        socket.ping();
        f.wake();
      }, heartbeatMs);
      socket.on('close', () => f.stop());
      void f.done.then((why) => {
        clearInterval(beat);
        if (why === 'terminal') socket.close(1000, 'review finished');
        else if (why === 'stopped') socket.close(1001, 'server closing');
        else socket.terminate();
      });
    },
  });
}

/** Writes, and when the client reads slower than events arrive, waits for it (or for it to go away). */
function writeOrWait(out: PassThrough, chunk: string): Promise<void> {
  if (out.destroyed || out.writableEnded) return Promise.reject(new Error('stream closed'));
  if (out.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('stream closed'));
    out.on('drain', onDrain);
    out.on('close', onClose);
  });
}
