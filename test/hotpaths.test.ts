// What the hot paths must not do: allocate JavaScript objects, or give heaps of different kinds different
// hidden classes (which would make a call site that sees two heaps polymorphic). Not timed: the first is told
// by counting V8's garbage collections over millions of operations, the second by V8's own test intrinsic.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { createAllocator, attach } from 'webmalloc';
import { assertCheckOk, runWorker, MiB } from './helpers.js';
import { gcsDuring, mixedOps, type HotpathsWorkerData } from './workers/hotpaths-worker.js';

const workerUrl = new URL('./workers/hotpaths-worker.js', import.meta.url);
const SLOTS = 4096;
const WARMUP = 1_000_000;
const OPS = 4_000_000;
/** The threads' test runs longer: only part of its operations are remote frees. */
const THREAD_OPS = 8_000_000;

// One 16-byte object per operation would give dozens of collections over OPS operations (a scratch run: 73
// over 10 million); one per 64 local frees gave 10-11, and in the threads' test one per 16 remote frees gave 2
// or 3 in each thread (one per 64 gave 0 or 1: not caught). One is allowed: V8 may still finish compiling
// some path meanwhile (code and feedback live on its heap), or a collection just before the run is reported
// during it. What this catches is allocation that adds up to megabytes over the run, not one rare branch.
// It caught one: the owner's collection of remote frees returned a pair from a call V8 did not inline, one
// array per flagged page, which gave every thread of the threads' test 2 collections, and 4 or 5 in about
// one run in 20 (collections that depend on how the threads interleave).
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
      const data = (seed: number): HotpathsWorkerData => ({ memory: heap.memory as HotpathsWorkerData['memory'], slots, warmup: WARMUP, ops: THREAD_OPS, seed });
      const workers = [runWorker<number>(workerUrl, data(10), 60_000), runWorker<number>(workerUrl, data(20), 60_000)];
      mixedOps(heap, slots, WARMUP, 1);
      const mine = await gcsDuring(() => mixedOps(heap, slots, THREAD_OPS, 2));
      const theirs = await Promise.all(workers);
      const what = memory ? 'SharedArrayBuffer' : 'WebAssembly.Memory';
      assert.ok(mine <= MAX_GCS, `${what}: ${mine} garbage collections in the main thread`);
      for (const gcs of theirs) assert.ok(gcs <= MAX_GCS, `${what}: ${gcs} garbage collections in a worker`);
      assertCheckOk(heap, `${what}: check()`);
    }
  });
});

describe('no deoptimization once warm', () => {
  // A call site that met a new hidden class, or a value of a new kind, gets its code thrown away
  // (deoptimized) and compiled again; in a loop that keeps doing so, every call runs slowly. The run goes in a
  // process of its own, with V8 reporting each deoptimization; those after the warm-up are counted. Seen
  // there: at most one, of collect() (called every 2^16 operations) reaching code it had not run before.
  const MAX_DEOPTS = 1;
  for (const kind of ['WebAssembly.Memory', 'SharedArrayBuffer', 'checked mode']) {
    it(`${kind}: ${OPS / 1e6} million mixed operations deoptimize nothing (at most ${MAX_DEOPTS})`, () => {
      const options = kind === 'SharedArrayBuffer' ? '{ memory: new SharedArrayBuffer(256 << 20) }' : kind === 'checked mode' ? '{ checked: true }' : '{}';
      const script = [
        `import { createAllocator } from ${JSON.stringify(import.meta.resolve('webmalloc'))};`,
        `import { mixedOps } from ${JSON.stringify(new URL('./workers/hotpaths-worker.js', import.meta.url).href)};`,
        `const heap = createAllocator(${options});`,
        `const slots = new Int32Array(${SLOTS});`,
        `mixedOps(heap, slots, ${WARMUP}, 1);`,
        `console.log('warm');`,
        `mixedOps(heap, slots, ${OPS}, 2);`,
      ].join('\n');
      const run = spawnSync(process.execPath, ['--trace-deopt', '--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 * MiB });
      assert.equal(run.status, 0, run.stderr);
      const lines = run.stdout.split('\n');
      const warm = lines.indexOf('warm');
      assert.ok(warm >= 0, 'the run did not get through its warm-up');
      const deopts = lines.slice(warm).filter((line) => line.startsWith('[bailout'));
      assert.ok(deopts.length <= MAX_DEOPTS, `${deopts.length} deoptimizations after the warm-up:\n${deopts.slice(0, 10).join('\n')}`);
    });
  }
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
