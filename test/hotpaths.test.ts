// What the hot paths must not do: allocate JavaScript objects, or give heaps of different kinds different
// hidden classes (which would make a call site that sees two heaps polymorphic). Not timed: the first is told
// by counting V8's garbage collections over millions of operations, the second by V8's own test intrinsic.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { createAllocator, attach } from 'webmalloc';
import { assertCheckOk, runWorker, MiB } from './helpers.js';
import { gcsDuring, mixedOps, type HotpathsWorkerData } from './workers/hotpaths-worker.js';

const workerUrl = new URL('./workers/hotpaths-worker.js', import.meta.url);
const SLOTS = 4096;
const WARMUP = 1_000_000;
const OPS = 4_000_000;

// One 16-byte object per operation would give dozens of collections over OPS operations (a scratch run: 73
// over 10 million). One is allowed: V8 may still finish compiling some path meanwhile (code and feedback
// live on its heap).
const MAX_GCS = 1;

describe('no allocation on any path once warm', () => {
  const kinds = {
    'WebAssembly.Memory (the default)': {},
    SharedArrayBuffer: { memory: new SharedArrayBuffer(256 * MiB) },
    ArrayBuffer: { memory: new ArrayBuffer(256 * MiB) },
    'checked mode': { checked: true },
  };
  for (const [kind, options] of Object.entries(kinds)) {
    it(`${kind}: ${OPS / 1e6} million mixed operations (malloc, calloc, realloc, aligned, large, huge, free, collect) collect no garbage`, async () => {
      const heap = createAllocator(options);
      const slots = new Int32Array(SLOTS);
      mixedOps(heap, slots, WARMUP, 1);
      const gcs = await gcsDuring(() => mixedOps(heap, slots, OPS, 2));
      assert.ok(gcs <= MAX_GCS, `${gcs} garbage collections during ${OPS} operations`);
      assertCheckOk(heap);
    });
  }

  it('three threads freeing each other\'s blocks (remote frees, their collection, delayed pages) collect no garbage in any of them', async () => {
    for (const memory of [undefined, new SharedArrayBuffer(256 * MiB)]) {
      const heap = createAllocator(memory ? { memory } : {});
      const slots = new Int32Array(new SharedArrayBuffer(SLOTS * 4));
      const data = (seed: number): HotpathsWorkerData => ({ memory: heap.memory as HotpathsWorkerData['memory'], slots, warmup: WARMUP, ops: OPS, seed });
      const workers = [runWorker<number>(workerUrl, data(10), 60_000), runWorker<number>(workerUrl, data(20), 60_000)];
      mixedOps(heap, slots, WARMUP, 1);
      const mine = await gcsDuring(() => mixedOps(heap, slots, OPS, 2));
      const theirs = await Promise.all(workers);
      const what = memory ? 'SharedArrayBuffer' : 'WebAssembly.Memory';
      assert.ok(mine <= MAX_GCS, `${what}: ${mine} garbage collections in the main thread`);
      for (const gcs of theirs) assert.ok(gcs <= MAX_GCS, `${what}: ${gcs} garbage collections in a worker`);
      assertCheckOk(heap);
    }
  });
});

describe('one hidden class for every heap', () => {
  it('heaps over each kind of memory, checked or not, created or attached, share one map', () => {
    setFlagsFromString('--allow-natives-syntax');
    // new Function: the intrinsic's `%` syntax parses only where the flag was on when the code was compiled.
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const first = createAllocator();
    const heaps = [
      createAllocator({ checked: true }),
      createAllocator({ memory: new SharedArrayBuffer(64 * MiB) }),
      createAllocator({ memory: new ArrayBuffer(64 * MiB) }),
      attach(first.memory),
    ];
    // Every path once (small, large, huge, aligned, realloc), in case one of them added a field.
    for (const heap of [first, ...heaps]) {
      heap.free(heap.realloc(heap.malloc(100), 300));
      heap.free(heap.malloc(200 * 1024));
      heap.free(heap.malloc(4 * MiB));
      heap.free(heap.alignedAlloc(1 << 17, 100));
    }
    heaps.forEach((heap, i) => assert.equal(sameMap(first, heap), true, `heap ${i + 1} has a hidden class of its own`));
  });
});
