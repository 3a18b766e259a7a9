// Worker for blowup.ts: a producer or consumer of blocks handed over in batches, or a worker that fills a
// heap with live blocks and waits to be killed (for the reclaim cost).

import { parentPort, workerData } from 'node:worker_threads';
import { attach, type LinearMemory, type WorkerHandoff } from 'webmalloc';

const { role } = workerData as { role: string };
if (role === 'producer' || role === 'consumer') {
  // ring: [0] batches produced, [1] batches consumed, then `slots` batches of `batch` pointers.
  const { memory, ring, slots, batch, batches, size } = workerData as {
    memory: LinearMemory; ring: Int32Array; slots: number; batch: number; batches: number; size: number;
  };
  const heap = attach(memory);
  for (let i = 0; i < batches; i++) {
    const at = 2 + (i % slots) * batch;
    if (role === 'producer') {
      for (let c = Atomics.load(ring, 1); i - c >= slots; c = Atomics.load(ring, 1)) Atomics.wait(ring, 1, c, 20);
      for (let j = 0; j < batch; j++) ring[at + j] = heap.malloc(size);
      Atomics.store(ring, 0, i + 1);
      Atomics.notify(ring, 0);
    } else {
      for (let p = Atomics.load(ring, 0); p <= i; p = Atomics.load(ring, 0)) Atomics.wait(ring, 0, p, 20);
      for (let j = 0; j < batch; j++) heap.free(ring[at + j] >>> 0);
      Atomics.store(ring, 1, i + 1);
      Atomics.notify(ring, 1);
    }
  }
  heap.detach();
  parentPort!.postMessage('done');
} else if (role === 'hold') {
  const { webmalloc, bytes } = workerData as { webmalloc: WorkerHandoff; bytes: number };
  const heap = attach(webmalloc.memory, webmalloc);
  let x = 1;
  for (let total = 0; total < bytes; ) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const n = 16 + (x % 2000);
    heap.malloc(n);
    total += n;
  }
  parentPort!.postMessage('full');
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0); // test-bench code: wait to be terminated (a wait may return without a notify)
}
