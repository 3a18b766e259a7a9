// Worker for threads.test.ts: a worker that churns until it is terminated (it never detaches), a producer
// and a consumer handing blocks over through a ring, and a worker that detaches while holding blocks.

import { workerData, parentPort } from 'node:worker_threads';
import { attach, type WorkerHandoff } from 'webmalloc';
import { blockTagHolds, fillPattern, rng, writeBlockTag } from '../helpers.js';

const { role } = workerData as { role: string };

if (role === 'churn') {
  // Allocates and frees forever (small, large and huge, aligned too), handing a quarter of its blocks of 12
  // bytes or more to others through `slots`, and never detaches. With a `pause` cell it stops between bursts
  // of operations (pause[0] counts the stops) so that the parent can terminate it there; without,
  // terminate() stops it at whatever instruction it is at. A block of 12 bytes or more carries a tag in its
  // first four bytes and its last four, and its size in the four after the first, written right after
  // malloc; before a free, its own blocks are checked against the tag it wrote, a block taken from `slots`
  // for the two ends agreeing. errors[0] (with `errors`) counts the blocks whose tag changed while they were
  // live: a block handed out twice, or written into by the heap.
  const { webmalloc, slots, seed, pause, errors } = workerData as {
    webmalloc: WorkerHandoff; slots: Int32Array; seed: number; pause?: Int32Array; errors?: Int32Array;
  };
  const heap = attach(webmalloc.memory, webmalloc);
  const r = rng(seed);
  const mine: number[] = [];
  const mineTags: number[] = [];
  let nextTag = (seed * 0x10000) | 0;
  const freeChecked = (q: number, tag: number | undefined) => {
    if (errors !== undefined && !blockTagHolds(heap.u8, q, heap.usableSize(q), tag)) Atomics.add(errors, 0, 1);
    heap.free(q);
  };
  parentPort!.postMessage('attached');
  for (let op = 1; ; op++) {
    if (pause && op % 500 === 0) {
      Atomics.add(pause, 0, 1);
      Atomics.notify(pause, 0);
      Atomics.wait(pause, 1, 0, 5); // test code: a stop the parent can terminate it in
    }
    const k = r();
    const n = k < 0.9 ? Math.floor(r() * 300) : k < 0.995 ? Math.floor(r() * 200_000) : Math.floor(r() * 3_000_000);
    const p = k < 0.02 ? heap.alignedAlloc(1 << (3 + Math.floor(r() * 15)), n) : heap.malloc(n);
    const tag = n >= 12 ? nextTag++ | 0 : -1;
    if (p !== 0 && tag !== -1) writeBlockTag(heap.u8, p, n, tag);
    if (p !== 0 && tag !== -1 && r() < 0.25) {
      const q = Atomics.exchange(slots, Math.floor(r() * slots.length), p) >>> 0;
      if (q !== 0) freeChecked(q, undefined);
    } else if (p !== 0) {
      mine.push(p);
      mineTags.push(tag);
    }
    if (mine.length > 300 || (mine.length > 0 && r() < 0.4)) {
      const j = Math.floor(r() * mine.length);
      const q = mine[j]!;
      const t = mineTags[j]!;
      mine[j] = mine[mine.length - 1]!;
      mineTags[j] = mineTags[mineTags.length - 1]!;
      mine.pop();
      mineTags.pop();
      if (t === -1) heap.free(q);
      else freeChecked(q, t);
    }
    if (r() < 0.0005) heap.collect();
  }
} else if (role === 'producer' || role === 'consumer') {
  // ring: [0] = produced, [1] = consumed, then `capacity` pointers. Waits in Atomics.wait (test code only).
  const { memory, ring, capacity, count, size } = workerData as {
    memory: SharedArrayBuffer; ring: Int32Array; capacity: number; count: number; size: number;
  };
  const heap = attach(memory);
  if (role === 'producer') {
    for (let i = 0; i < count; i++) {
      const p = heap.malloc(size);
      for (let c = Atomics.load(ring, 1); i - c >= capacity; c = Atomics.load(ring, 1)) Atomics.wait(ring, 1, c, 50);
      ring[2 + (i % capacity)] = p;
      Atomics.store(ring, 0, i + 1);
      Atomics.notify(ring, 0);
    }
  } else {
    for (let i = 0; i < count; i++) {
      for (let pr = Atomics.load(ring, 0); pr <= i; pr = Atomics.load(ring, 0)) Atomics.wait(ring, 0, pr, 50);
      heap.free(ring[2 + (i % capacity)] >>> 0);
      Atomics.store(ring, 1, i + 1);
      Atomics.notify(ring, 1);
    }
  }
  heap.detach();
  parentPort!.postMessage('done');
} else if (role === 'leave-holding') {
  // Allocates blocks of many sizes, fills them, posts them to the parent, and detaches without freeing them.
  const { memory, count, seed } = workerData as { memory: SharedArrayBuffer; count: number; seed: number };
  const heap = attach(memory);
  const r = rng(seed);
  const blocks: { p: number; n: number; seed: number }[] = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(r() * (r() < 0.95 ? 2000 : 300_000));
    const p = heap.malloc(n);
    fillPattern(heap.u8, p, n, seed + i);
    blocks.push({ p, n, seed: seed + i });
  }
  for (let i = 0; i < count; i += 3) heap.free(blocks[i].p); // some pages empty out before leaving
  heap.detach();
  parentPort!.postMessage(blocks.filter((_, i) => i % 3 !== 0));
}
