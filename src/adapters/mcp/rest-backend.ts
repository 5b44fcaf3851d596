import { AppError, type ErrorCode } from '../../core/errors.js';
import type { PlanOut } from '../../core/plan/plan.schemas.js';
import type { KnowledgeOut } from '../../core/review/knowledge.repo.js';
import type { ReviewOut } from '../../core/review/review.schemas.js';
import type { Page } from '../../core/tenancy/list-projects.js';
import type { ProjectOut } from '../../core/tenancy/project.schemas.js';
import type { QuorumBackend } from './backend.js';

export interface RestBackendOptions {
  url: string;
  apiKey: string;
  userAgent?: string;
  fetch?: typeof fetch;
}

const TERMINAL = new Set(['review.completed', 'review.failed', 'review.cancelled']);

/**
 * Delegation: every call goes to a team's Quorum REST API as the API key's user. The REST API
 * answers with the same shapes the core returns, and errors with the same codes, so tools built on
 * this backend give the same results as in local mode.
 */
export function restBackend(o: RestBackendOptions): QuorumBackend {
  const base = o.url.replace(/\/+$/, '');
  const doFetch = o.fetch ?? fetch;
  const headers = { 'x-api-key': o.apiKey, 'user-agent': o.userAgent ?? 'quorum-mcp', accept: 'application/json' };

  const call = async (method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> => {
    try {
      return await doFetch(base + path, {
        method,
        headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        ...(signal && { signal }),
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new AppError('database_unavailable', `cannot reach the Quorum server at ${base}: ${(e as Error).message}`);
    }
  };
  const fail = async (res: Response): Promise<never> => {
    const text = await res.text();
    let err: { code?: string; message?: string; details?: unknown } | undefined;
    try {
      err = (JSON.parse(text) as { error?: typeof err }).error;
    } catch {
      err = undefined;
    }
    throw new AppError((err?.code as ErrorCode | undefined) ?? (res.status >= 500 ? 'internal' : 'bad_request'), err?.message ?? `HTTP ${res.status} from ${base}`, err?.details);
  };
  const json = async <T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> => {
    const res = await call(method, path, body, signal);
    if (!res.ok) return fail(res);
    return (await res.json()) as T;
  };
  const text = async (path: string): Promise<string> => {
    const res = await call('GET', path);
    if (!res.ok) return fail(res);
    return res.text();
  };
  const qs = (q: Record<string, unknown>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null) p.set(k, v instanceof Date ? v.toISOString() : String(v));
    const s = p.toString();
    return s ? `?${s}` : '';
  };
  const enc = encodeURIComponent;

  return {
    kind: 'rest',
    async reviewCode(input, onProgress, signal) {
      const { timeout_s, ...body } = input;
      const started = await json<ReviewOut>('POST', '/v1/review/async', body, signal);
      const deadline = AbortSignal.timeout(Math.max(1, timeout_s) * 1000);
      const stop = signal ? AbortSignal.any([signal, deadline]) : deadline;
      let done = false;
      // The review's SSE stream: replay from its start, live events after; it ends after the terminal event.
      try {
        const res = await call('GET', `/v1/reviews/${enc(started.id)}/events`, undefined, stop);
        if (!res.ok || !res.body) return await fail(res);
        const decoder = new TextDecoder();
        let buf = '';
        let maxDone = -1;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let sep: number;
          while ((sep = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, sep);
            buf = buf.slice(sep + 2);
            const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
            if (!data) continue;
            const e = JSON.parse(data) as { type: string; payload: { completed?: number; total?: number; reviewer?: string; status?: 'completed' | 'failed' } };
            const p = e.payload;
            if (e.type === 'review.queued' && typeof p.total === 'number') await onProgress?.({ completed: 0, total: p.total });
            if (e.type === 'reviewer.completed' && typeof p.completed === 'number' && typeof p.total === 'number' && p.completed > maxDone) {
              maxDone = p.completed;
              await onProgress?.({ completed: p.completed, total: p.total, ...(p.reviewer && { reviewer: p.reviewer }), ...(p.status && { status: p.status }) });
            }
            if (TERMINAL.has(e.type)) done = true;
          }
          if (done) break;
        }
      } catch (e) {
        if (signal?.aborted) throw e;
        if (!deadline.aborted) throw e;
      }
      const review = await json<ReviewOut>('GET', `/v1/reviews/${enc(started.id)}`);
      return { review, done: done || ['completed', 'failed', 'cancelled'].includes(review.status) };
    },
    getReview: (id) => json<ReviewOut>('GET', `/v1/reviews/${enc(id)}`),
    listReviews: (q) => json<Page<ReviewOut>>('GET', `/v1/reviews${qs(q)}`),
    searchKnowledge: (project, q) => json<Page<KnowledgeOut>>('GET', `/v1/projects/${enc(project)}/knowledge${qs(q)}`),
    listProjects: (q) => json<Page<ProjectOut>>('GET', `/v1/projects${qs(q)}`),
    generatePlan: (input, signal) => json<PlanOut>('POST', '/v1/plan', input, signal),
    async reviewMarkdown(project, id) {
      const [p, r] = await Promise.all([json<ProjectOut>('GET', `/v1/projects/${enc(project)}`), json<ReviewOut>('GET', `/v1/reviews/${enc(id)}`)]);
      if (r.project_id !== p.id) throw new AppError('not_found', 'review not found');
      return text(`/v1/reviews/${enc(id)}/report.md`);
    },
    async knowledgeMarkdown(project) {
      const p = await json<ProjectOut>('GET', `/v1/projects/${enc(project)}`);
      return { project_slug: p.slug, markdown: await text(`/v1/projects/${enc(p.id)}/knowledge.md`) };
    },
  };
}
