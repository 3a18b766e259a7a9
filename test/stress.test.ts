// Multi-worker stress: 4 workers attach to one heap and allocate, free, realloc and hand blocks to each other
// through a shared slot array (see workers/stress-worker.ts). Each block names its owner and size in its
// first bytes and carries a pattern; whoever frees it verifies it. At the end main frees what is left in the
// slots and what the workers handed back when they detached, then checks the heap and its accounting.
//
// Environment: STRESS_SEED (base seed), STRESS_MS (time budget per worker, default 3000 ms).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAllocator, type CreateOptions } from 'webmalloc';
import {
  type Allocator,
  type Memory,
  MiB,
  assertBalanced,
  assertCheckOk,
  bufferOf,
  runWorker,
} from './helpers.js';
import { verifyBlock, type StressWorkerData, type StressWorkerResult } from './workers/stress-worker.js';

const BASE_SEED = process.env.STRESS_SEED !== undefined ? Number(process.env.STRESS_SEED) : 20240601;
const TIME_MS = process.env.STRESS_MS !== undefined ? Number(process.env.STRESS_MS) : 3000;
const WORKERS = 4;
const SLOTS = 256;

interface Variant {
  name: string;
  make: () => { a: Allocator; memory: Memory; start: number };
  tolerateOom?: boolean;
  bigBias?: number;
  hugeBias?: number;
  iterations?: number;
  expectOom?: boolean;
}

async function stress(v: Variant, log: (msg: string) => void): Promise<void> {
  const { a, memory, start } = v.make();
  const slotsBuf = new SharedArrayBuffer(SLOTS * 4);
  const slots = new Int32Array(slotsBuf);
  const url = new URL('./workers/stress-worker.js', import.meta.url);
  const results = await Promise.all(
    Array.from({ length: WORKERS }, (_, i) => {
      const data: StressWorkerData = {
        memory,
        start,
        slots: slotsBuf,
        id: i + 1,
        seed: BASE_SEED + i * 7919,
        iterations: v.iterations ?? 2_000_000,
        timeMs: TIME_MS,
        tolerateOom: v.tolerateOom ?? false,
        bigBias: v.bigBias ?? 0.03,
        hugeBias: v.hugeBias ?? 0.002,
      };
      return runWorker<StressWorkerResult>(url, data, TIME_MS + 60_000);
    }),
  );

  // the workers really ran, concurrently, on distinct thread slots, and exchanged blocks
  assert.equal(new Set(results.map((r) => r.threadId)).size, WORKERS, 'workers got distinct thread slots');
  assert.ok(!results.some((r) => r.threadId === a.threadId), 'a worker got the main thread slot');
  const sum = (f: (r: StressWorkerResult) => number) => results.reduce((t, r) => t + f(r), 0);
  assert.ok(sum((r) => r.allocs) > 1000, `too few allocations: ${sum((r) => r.allocs)}`);
  assert.ok(sum((r) => r.takenFromSlots) > 100, `too few cross-worker frees: ${sum((r) => r.takenFromSlots)}`);
  log(
    `ops ${sum((r) => r.ops)}, allocs ${sum((r) => r.allocs)}, frees ${sum((r) => r.frees)}, reallocs ${sum((r) => r.reallocs)}, ` +
      `hand-offs ${sum((r) => r.handOffs)}, taken from slots ${sum((r) => r.takenFromSlots)}, out of memory ${sum((r) => r.oom)}`,
  );
  if (v.expectOom) assert.ok(sum((r) => r.oom) > 0, 'the fixed memory never ran out: the variant tests nothing');

  // every worker detached
  assert.equal(a.stats().threadsAttached, 1, 'only main should be attached after the workers detached');

  // blocks the workers left behind: verify and free from main
  let leftovers = 0;
  for (const r of results) {
    for (const b of r.handedBack) {
      const e = verifyBlock(a, b.p, { size: b.size, seed: b.seed, owner: r.id });
      assert.equal(e, '', `block handed back by worker ${r.id}: ${e}`);
      a.free(b.p);
      leftovers++;
    }
  }
  for (let k = 0; k < SLOTS; k++) {
    const p = Atomics.exchange(slots, k, 0) >>> 0;
    if (p === 0) continue;
    const e = verifyBlock(a, p);
    assert.equal(e, '', `block left in slot ${k}: ${e}`);
    a.free(p);
    leftovers++;
  }
  assert.ok(leftovers > 0, 'nothing was left for main to free');

  assertCheckOk(a, 'check() after the stress run');
  const s = a.stats();
  assertBalanced(s, 'stats after the stress run');
  assert.equal(s.liveBlocks, 0, 'liveBlocks after everything was freed');
  assert.equal(s.liveBytes, 0, 'liveBytes after everything was freed');
  assert.equal(s.memorySize, bufferOf(memory).byteLength);

  // the heap is fully usable again from main
  // (every block is free; pages the detached workers owned must not keep the memory from being reused)
  const p = a.malloc(3 * MiB);
  assert.notEqual(p, 0, `a 3 MiB block after the stress run: stats ${JSON.stringify({ ...s, bins: undefined })}`);
  a.u8.fill(0x77, p, p + 3 * MiB);
  const q = a.malloc(100);
  assert.notEqual(q, 0);
  a.free(p);
  a.free(q);
  assertCheckOk(a, 'check() at the very end');
}

/** A variant's heap in a new growable SharedArrayBuffer (createAllocator's default memory). */
function growable(options: CreateOptions = {}): Variant['make'] {
  return () => {
    const a = createAllocator(options);
    return { a, memory: a.memory, start: 0 };
  };
}

describe('multi-worker stress (4 workers, shared slot array)', () => {
  it('default growable heap', async (t) => {
    await stress({
      name: 'default',
      make: growable(),
    }, (m) => t.diagnostic(m));
  });

  it('checked heap', async (t) => {
    await stress({
      name: 'checked',
      make: growable({ checked: true }),
    }, (m) => t.diagnostic(m));
  });

  it('huge churn: cached runs of freed huge blocks taken, split and joined by every worker at once', async (t) => {
    await stress({
      name: 'huge',
      make: growable(),
      hugeBias: 0.05,
    }, (m) => t.diagnostic(m));
  });

  it('large churn: spans of freed large blocks held, split, grown in place and given back by every worker at once', async (t) => {
    await stress({
      name: 'large',
      make: growable(),
      bigBias: 0.3,
    }, (m) => t.diagnostic(m));
  });

  it('fixed 16 MiB SharedArrayBuffer that runs out (malloc returns 0, then recovers)', async (t) => {
    await stress({
      name: 'fixed',
      make: () => {
        const memory = new SharedArrayBuffer(16 * MiB);
        const a = createAllocator({ memory });
        return { a, memory, start: 0 };
      },
      tolerateOom: true,
      bigBias: 0.12,
      hugeBias: 0.01,
      expectOom: true,
    }, (m) => t.diagnostic(m));
  });

  it('shared WebAssembly.Memory with start 100003 (bytes below start untouched)', async (t) => {
    const start = 100_003;
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 4096, shared: true });
    const below = new Uint8Array(memory.buffer, 0, start);
    for (let i = 0; i < start; i++) below[i] = (i * 31 + 1) & 255;
    await stress({
      name: 'wasm',
      make: () => {
        const a = createAllocator({ memory, start });
        return { a, memory, start };
      },
    }, (m) => t.diagnostic(m));
    const after = new Uint8Array(memory.buffer, 0, start);
    for (let i = 0; i < start; i++) {
      if (after[i] !== ((i * 31 + 1) & 255)) assert.fail(`byte ${i} below start was modified`);
    }
  });
});
