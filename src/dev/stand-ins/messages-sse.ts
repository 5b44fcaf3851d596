import type http from 'node:http';

/**
 * Writes one Messages API answer as Server-Sent Events, the way the real API streams it:
 * `message_start` (a Message with empty content), per content block `content_block_start`,
 * `content_block_delta`s (`text_delta` or `input_json_delta`) and `content_block_stop`, then
 * `message_delta` (stop_reason, cumulative usage) and `message_stop`; `ping` after the first
 * block starts and every `pingIntervalMs`. Output is paced: the text is cut into deltas of about
 * `chunkTokens` tokens and delta i is written when i × chunkTokens tokens would have been
 * generated at `msPerOutputToken`.
 */

export interface StreamPlan {
  message: {
    id: string;
    model: string;
    usage: { input_tokens: number };
  };
  block: { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; json: string };
  /** Output tokens the whole block stands for (what `message_delta.usage` reports). */
  outputTokens: number;
  stopReason: string;
  msPerOutputToken: number;
  chunkTokens: number;
  pingIntervalMs: number;
  /** Stop after about half the output with an `overloaded_error` event (the API's mid-stream 529). */
  failMidstream: boolean;
  signal: AbortSignal;
}

export interface StreamResult {
  /** Output tokens generated before the stream ended (all of them unless it failed or the client left). */
  generated: number;
  outcome: 'completed' | 'overloaded' | 'aborted';
}

export function writeEvent(res: http.ServerResponse, event: string, data: unknown): void {
  if (!res.writableEnded && !res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** Splits `text` into `n` pieces of nearly equal length (never splitting a UTF-16 surrogate pair). */
function split(text: string, n: number): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(chars.slice(Math.floor((i * chars.length) / n), Math.floor(((i + 1) * chars.length) / n)).join(''));
  return out;
}

function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const ms = at - Date.now();
    if (ms <= 0 || signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

export async function streamMessage(res: http.ServerResponse, plan: StreamPlan): Promise<StreamResult> {
  const { block, outputTokens, signal } = plan;
  const text = block.type === 'text' ? block.text : block.json;
  const pieces = split(text, Math.max(1, Math.ceil(outputTokens / Math.max(1, plan.chunkTokens))));
  const n = pieces.length;
  const tokensAfter = (i: number) => Math.round((outputTokens * i) / n);
  const ping = plan.pingIntervalMs > 0 ? setInterval(() => writeEvent(res, 'ping', { type: 'ping' }), plan.pingIntervalMs) : undefined;
  try {
    writeEvent(res, 'message_start', {
      type: 'message_start',
      message: {
        id: plan.message.id,
        type: 'message',
        role: 'assistant',
        model: plan.message.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: plan.message.usage.input_tokens, output_tokens: Math.min(1, outputTokens), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    });
    const start =
      block.type === 'text' ? { type: 'text', text: '' } : { type: 'tool_use', id: block.id, name: block.name, input: {} };
    writeEvent(res, 'content_block_start', { type: 'content_block_start', index: 0, content_block: start });
    writeEvent(res, 'ping', { type: 'ping' });

    const t0 = Date.now();
    const failAt = plan.failMidstream ? Math.floor(n / 2) : -1;
    for (let i = 0; i < n; i++) {
      if (i === failAt) {
        writeEvent(res, 'error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
        return { generated: tokensAfter(i), outcome: 'overloaded' };
      }
      await sleepUntil(t0 + tokensAfter(i + 1) * plan.msPerOutputToken, signal);
      if (signal.aborted) return { generated: tokensAfter(i), outcome: 'aborted' };
      const delta = block.type === 'text' ? { type: 'text_delta', text: pieces[i] } : { type: 'input_json_delta', partial_json: pieces[i] };
      writeEvent(res, 'content_block_delta', { type: 'content_block_delta', index: 0, delta });
    }
    writeEvent(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
    writeEvent(res, 'message_delta', {
      type: 'message_delta',
      delta: { stop_reason: plan.stopReason, stop_sequence: null },
      usage: { input_tokens: plan.message.usage.input_tokens, output_tokens: outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    writeEvent(res, 'message_stop', { type: 'message_stop' });
    return { generated: outputTokens, outcome: 'completed' };
  } finally {
    if (ping) clearInterval(ping);
  }
}
