import type { Logger } from 'pino';
import type { Db } from '../../db/client.js';
import { deleteHeartbeat, upsertHeartbeat } from './worker-heartbeats.repo.js';

export interface HeartbeatOptions {
  workerId: string;
  hostname: string;
  pid: number;
  /** The graphile worker (and pool) ids this process has created so far. */
  graphileWorkerIds: () => string[];
  intervalMs: number;
  logger: Logger;
  /** Called after each beat (metrics). */
  onBeat?: (ok: boolean) => void;
}

export interface Heartbeat {
  /** Writes a beat now (after any beat in flight); resolves when it is committed. */
  beat(): Promise<void>;
  /** Stops beating and deletes this process's row (graceful exit: nothing to sweep). */
  stop(): Promise<void>;
}

/**
 * Keeps this process's worker_heartbeats row fresh so the sweeper can tell a live worker from a
 * SIGKILLed one. Beats never overlap: at most one write is in flight and one more queued, so a
 * slow database does not pile up writes.
 */
export async function startHeartbeat(db: Db, o: HeartbeatOptions): Promise<Heartbeat> {
  let first = true;
  let stopped = false;
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;

  const write = async () => {
    if (stopped) return;
    const { inserted } = await upsertHeartbeat(db, {
      workerId: o.workerId,
      hostname: o.hostname,
      pid: o.pid,
      graphileWorkerIds: o.graphileWorkerIds(),
    });
    if (inserted && !first) {
      o.logger.warn(
        { worker_id: o.workerId },
        'heartbeat row was missing (a sweeper judged this process dead): jobs it was running may have been handed to another worker',
      );
    }
    first = false;
  };

  const beat = (): Promise<void> => {
    if (queued) return queued;
    if (running) {
      queued = running.then(() => {
        queued = undefined;
        return beat();
      });
      return queued;
    }
    running = write()
      .then(() => o.onBeat?.(true))
      .catch((e: unknown) => {
        o.onBeat?.(false);
        o.logger.warn({ err: { message: (e as Error).message } }, 'heartbeat write failed');
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  // The first row must exist before any job is claimed; a failure here fails the start.
  await write();
  const timer = setInterval(() => void beat(), o.intervalMs);
  timer.unref();

  return {
    beat,
    stop: async () => {
      clearInterval(timer);
      stopped = true;
      await queued;
      await running;
      await deleteHeartbeat(db, o.workerId);
    },
  };
}
