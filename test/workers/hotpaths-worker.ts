// The mixed workload of hotpaths.test.ts, and a worker that runs it on a heap it attaches to and reports how
// many times V8 collected garbage in it meanwhile.
//
// `node --test build/test/` also runs this file on the main thread as if it were a test file: it then does
// nothing but define the workload.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { PerformanceObserver } from 'node:perf_hooks';
import { attach, type Allocator } from 'webmalloc';

/**
 * `n` operations on the blocks named in `slots` (shared with other threads, so that they free each other's
 * blocks): each takes a random slot's block with an exchange and frees it or reallocs it, or, on an empty
 * slot, puts a new block there: malloc of up to 512 bytes mostly, calloc, aligned blocks (up to 128 KiB of
 * alignment), large blocks of 64 KiB to 1 MiB and huge ones of 1 to 3 MiB now and then. usableSize on each
 * new block, collect() every 2^16 operations. A bare LCG: the loop itself allocates nothing either.
 */
export function mixedOps(heap: Allocator, slots: Int32Array, n: number, seed: number): void {
  let x = seed | 0;
  const mask = slots.length - 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    const j = (x >>> 8) & mask;
    const op = (x >>> 20) & 15;
    const old = Atomics.exchange(slots, j, 0) >>> 0;
    if (old !== 0) {
      if (op < 2) {
        const q = heap.realloc(old, ((x >>> 3) & 2047) + 1);
        if (q !== 0 && Atomics.compareExchange(slots, j, 0, q) === 0) continue;
        heap.free(q !== 0 ? q : old);
      } else heap.free(old);
    } else {
      let p: number;
      const size = ((x >>> 3) & 511) + 1;
      if (op === 2) p = heap.calloc(1, size * 2);
      else if (op === 3) p = heap.alignedAlloc(64 << ((x >>> 4) & 11), size);
      else if (op === 4 && (x & 0x1f00) === 0) p = heap.malloc((1 << 16) + ((x >>> 2) & 0xfffff));
      else if (op === 5 && (x & 0x7f00) === 0) p = heap.malloc((1 << 20) + ((x >>> 1) & 0x1fffff));
      else p = heap.malloc(size);
      if (p === 0) continue;
      heap.usableSize(p);
      if (Atomics.compareExchange(slots, j, 0, p) !== 0) heap.free(p);
    }
    if ((i & 0xffff) === 0) heap.collect();
  }
}

/** How many garbage collections this thread had while `run` ran (it is given the time to report them). */
export async function gcsDuring(run: () => void): Promise<number> {
  let gcs = 0;
  const observer = new PerformanceObserver((list) => {
    gcs += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  await new Promise((resolve) => setTimeout(resolve, 50)); // collections before `run` are reported meanwhile
  const before = gcs;
  run();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return gcs - before;
}

export interface HotpathsWorkerData {
  memory: SharedArrayBuffer | WebAssembly.Memory;
  slots: Int32Array;
  warmup: number;
  ops: number;
  seed: number;
}

if (!isMainThread && parentPort) {
  const d = workerData as HotpathsWorkerData;
  const heap = attach(d.memory);
  mixedOps(heap, d.slots, d.warmup, d.seed);
  const gcs = await gcsDuring(() => mixedOps(heap, d.slots, d.ops, d.seed + 1));
  heap.detach();
  parentPort.postMessage(gcs);
}
