// Spawning workers that share a heap, and taking a worker's heap over when it ends without detaching
// (terminated, crashed). No dependency on node:worker_threads: the Worker class is passed in, so the same
// code serves Node's worker_threads and, with spawnWebWorker, browsers' Web Workers.

import type { Allocator } from './allocator.js';
import type { WorkerHandoff } from './types.js';

/** The part of Node's worker_threads Worker used here. */
export interface NodeLikeWorker {
  once(event: 'exit', listener: (code: number) => void): unknown;
}

/**
 * Start a worker_threads Worker that will join `heap`: its workerData gets a `webmalloc` field (a
 * WorkerHandoff) besides the caller's own fields; in the worker, `attach(workerData.webmalloc.memory,
 * workerData.webmalloc)`. When the worker exits without having detached, its heap is reclaimed on this
 * thread (live blocks it allocated stay valid).
 */
export function spawnWorker<W extends NodeLikeWorker>(
  heap: Allocator,
  WorkerClass: new (url: string | URL, options: { workerData: unknown }) => W,
  url: string | URL,
  options: { workerData?: Record<string, unknown> } & Record<string, unknown> = {},
): W {
  const handoff = heap.handoff();
  const worker = new WorkerClass(url, { ...options, workerData: { ...(options.workerData ?? {}), webmalloc: handoff } });
  worker.once('exit', () => heap.reclaimHandoff(handoff));
  return worker;
}

/** The part of a browser Web Worker used here. */
export interface WebLikeWorker {
  postMessage(message: unknown): void;
  terminate(): void;
}

/**
 * Hand `worker` (a Web Worker just created) what it needs to join `heap`: it receives `{ webmalloc: handoff }`
 * as its first message and attaches with `attach(data.webmalloc.memory, data.webmalloc)`. Browsers report no
 * worker exit, and `Worker.terminate()` returns before the worker's thread has necessarily stopped, so the
 * returned `terminate()` reclaims the worker's heap `delayMs` later (default 1000 ms): reclaiming a thread
 * that still runs would corrupt the heap. A worker that detached before it ended needs no reclaim.
 */
export function shareWithWebWorker(
  heap: Allocator,
  worker: WebLikeWorker,
  delayMs = 1000,
): { handoff: WorkerHandoff; terminate(): void } {
  const handoff = heap.handoff();
  worker.postMessage({ webmalloc: handoff });
  return {
    handoff,
    terminate() {
      worker.terminate();
      setTimeout(() => heap.reclaimHandoff(handoff), delayMs);
    },
  };
}
