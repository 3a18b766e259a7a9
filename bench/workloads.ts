// The benchmark's workloads, in the style of mimalloc-bench, mirroring bench/native/workloads.c: the same
// patterns, size ranges and live-block counts, so the JS figures and the native ones can be set side by side.
//
// Every block is touched like the C program does: its first and last byte written after malloc, its first
// byte read back before free (so no allocator gets away with handing out memory nobody could use, and the
// cost of reaching the memory is in every figure, as it is in C).
//
// A workload is set up untimed (random sizes and orders drawn up front, from a fixed-seed generator) and
// returns a body: `run(reps, probe?)` does `reps` units of work and returns the number of allocator calls it
// made (malloc, free, realloc, aligned_alloc each count one). The harness (measure.ts) picks `reps` so that a
// round takes a set time. `probe(liveBytes)`, only passed in the untimed memory round, is called where the
// workload's live memory peaks (or may peak), with the bytes requested and live at that point; the harness
// keeps the largest figures it sees.
//
// Single-thread workloads run in the process's main thread; larson and xmalloc run in workers (worker.ts),
// one body per worker.

import type { BenchAllocator } from './peers/types.js';

export type Probe = (liveBytes: number) => void;
export type Body = (reps: number, probe?: Probe) => number;

/**
 * Runs `body` with no work (`reps` 0), enough times that V8 gives it its feedback vector and every statement
 * outside its loops has run: to be done before its first timed or warm-up call. Without it, a loop compiled
 * while it ran (on-stack replacement, during the first call) could lack feedback for the code after the loop
 * (`sink.value += acc`): that code then left to the interpreter (a deoptimization) at the end of every call,
 * the next call's loop ran uncompiled until it re-entered the same code, and the measurement came out 40%
 * slower. It happened at random, depending on when the background compile ran: pairs-16 for webmalloc took
 * 7.7-8.2 ns per call in 4 of 24 processes (5.4-5.6 in the others; 45-48 deoptimizations each against 2-6),
 * dlmalloc-wasm's pairs-64 12.2 in 1 of 6; with this, 16 of 16 and 6 of 6 ran at the fast figure with 1-2.
 * One call is not enough: V8 allocates a function's feedback only after it has run about eight times its
 * bytecode's size.
 */
export function primeBody(body: Body): void {
  for (let i = 0; i < 200; i++) body(0);
}

/** xorshift32 with a fixed seed: integers in [0, 2^32). */
export function rng(seed: number): () => number {
  let x = seed | 0 || 0x2545f491;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

function shuffle(a: Uint32Array, next: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

// ------------------------------------------------------------------------------------------------ touching

/** Reaches the bytes of a block: through the linear memory (re-read when it grew), or the block's own array. */
export interface Toucher {
  /** Write the first and last byte of block p of n bytes. */
  touch(p: number, n: number, v: number): void;
  /** Read the first byte of block p (touched before). */
  peek(p: number): number;
}

class LinearToucher implements Toucher {
  private u8: Uint8Array;
  constructor(private readonly a: BenchAllocator) {
    this.u8 = a.u8;
  }
  touch(p: number, n: number, v: number): void {
    if (p === 0) throw new Error(`${this.a.name}: out of memory`);
    let u8 = this.u8;
    if (p + n > u8.length) u8 = this.u8 = this.a.u8; // the memory grew (or a wasm buffer was detached)
    u8[p] = v;
    u8[p + n - 1] = v >> 8;
  }
  peek(p: number): number {
    let u8 = this.u8;
    if (p >= u8.length) u8 = this.u8 = this.a.u8;
    return u8[p]!;
  }
}

class ObjectToucher implements Toucher {
  constructor(private readonly a: BenchAllocator) {}
  touch(p: number, n: number, v: number): void {
    if (p === 0) throw new Error(`${this.a.name}: out of memory`);
    const b = this.a.bytes(p, n);
    b[0] = v;
    b[n - 1] = v >> 8;
  }
  peek(p: number): number {
    return this.a.bytes(p, 1)[0]!;
  }
}

export function toucher(a: BenchAllocator): Toucher {
  return a.linear ? new LinearToucher(a) : new ObjectToucher(a);
}

/** Keeps read-back bytes observable. */
export const sink = { value: 0 };

// ------------------------------------------------------------------------------------------------ definitions

export interface WorkloadInfo {
  name: string;
  /** 'single': one thread, in the main thread. 'larson' / 'xmalloc' / 'xmalloc-local': in workers. */
  kind: 'single' | 'larson' | 'xmalloc' | 'xmalloc-local';
  /** What it does, for the report. */
  describe: string;
  /** Live blocks at the peak (default: the workload's own count; the random workloads can be capped). */
  blocks?: number;
}

export const SINGLE_WORKLOADS = [
  'pairs-16',
  'pairs-64',
  'pairs-256',
  'pairs-4096',
  'batch-64',
  'random-512',
  'random-64k',
  'realloc-grow',
  'aligned',
  'large',
] as const;
export const THREAD_WORKLOADS = ['larson', 'larson-turns', 'xmalloc', 'xmalloc-local'] as const;
/**
 * Single-thread workloads that also run with 2 and 4 workers, each worker running the workload on blocks of
 * its own (webmalloc's workers on one heap, a peer's on an instance each): the fast paths side by side
 * (pairs-64), pages coming and going through the heap's shared pool (the random sizes), and huge blocks
 * through its shared segments (large).
 */
export const PARALLEL_WORKLOADS = ['pairs-64', 'random-512', 'random-64k', 'large'] as const;
export type WorkloadName = (typeof SINGLE_WORKLOADS)[number] | (typeof THREAD_WORKLOADS)[number];
export const ALL_WORKLOADS: readonly WorkloadName[] = [...SINGLE_WORKLOADS, ...THREAD_WORKLOADS];

export const RANDOM_BLOCKS: Record<string, number> = { 'random-512': 100_000, 'random-64k': 10_000 };
/** The random workloads' largest block (their smallest is 8 bytes). */
export const RANDOM_MAX_SIZE: Record<string, number> = { 'random-512': 512, 'random-64k': 65536 };
/** Untimed passes a random workload needs before its figures settle (measure.ts, measureSingle, says why). */
export const RANDOM_WARM_PASSES: Record<string, number> = { 'random-512': 10, 'random-64k': 30 };

export function describe(name: WorkloadName, blocks?: number): WorkloadInfo {
  const pm = /^pairs-(\d+)$/.exec(name);
  if (pm) return { name, kind: 'single', describe: `malloc(${pm[1]}) then free, repeated` };
  switch (name) {
    case 'batch-64':
      return { name, kind: 'single', describe: 'allocate 1000 blocks of 64 bytes, then free them in order', blocks: 1000 };
    case 'random-512':
    case 'random-64k': {
      const n = blocks ?? RANDOM_BLOCKS[name]!;
      return {
        name,
        kind: 'single',
        describe: `${n.toLocaleString('en-US')} blocks of 8..${RANDOM_MAX_SIZE[name]} bytes, freed in random order`,
        blocks: n,
      };
    }
    case 'realloc-grow':
      return { name, kind: 'single', describe: 'a buffer grown from 16 bytes to 64 KiB by realloc in steps of 16..64 bytes' };
    case 'aligned':
      return { name, kind: 'single', describe: 'aligned_alloc(16..4096, 16..1024 bytes) then free' };
    case 'large':
      return { name, kind: 'single', describe: 'malloc(1..64 MiB) then free' };
    case 'larson':
      return { name, kind: 'larson', describe: 'each worker replaces random blocks (16..1024 bytes) in its own array of 1000', blocks: LARSON_SLOTS };
    case 'larson-turns':
      return {
        name,
        kind: 'larson',
        describe: 'larson in one process, rounds of one worker (each in turn) and of all workers taking turns: the scaling measured under the same load',
        blocks: LARSON_SLOTS,
      };
    case 'xmalloc':
      return { name, kind: 'xmalloc', describe: `producer/consumer pairs: blocks of 16..256 bytes allocated in one worker, freed in another (handed over in batches of ${XM_BATCH})` };
    case 'xmalloc-local':
      return { name, kind: 'xmalloc-local', describe: `the xmalloc blocks, each worker freeing its own (batches of ${XM_BATCH}): the thread-local baseline` };
  }
  throw new Error(`unknown workload ${String(name)}`);
}

/** Sets up a single-thread workload (untimed) and returns its body. `blocks` caps the random workloads. */
export function singleBody(name: WorkloadName, a: BenchAllocator, blocks?: number): Body {
  const t = toucher(a);
  const pm = /^pairs-(\d+)$/.exec(name);
  if (pm) return pairs(a, t, Number(pm[1]));
  switch (name) {
    case 'batch-64':
      return batch(a, t, 64, 1000);
    case 'random-512':
    case 'random-64k':
      return randomSizes(a, t, blocks ?? RANDOM_BLOCKS[name]!, 8, RANDOM_MAX_SIZE[name]!);
    case 'realloc-grow':
      return reallocGrow(a, t);
    case 'aligned':
      return aligned(a, t);
    case 'large':
      return large(a, t);
  }
  throw new Error(`${name} is not a single-thread workload`);
}

/** One rep: 10,000 malloc(size) + free pairs. */
function pairs(a: BenchAllocator, t: Toucher, size: number): Body {
  return (reps, probe) => {
    let acc = 0;
    const n = reps * 10_000;
    for (let i = 0; i < n; i++) {
      const p = a.malloc(size);
      t.touch(p, size, i);
      acc += t.peek(p);
      if (probe && i === 0) probe(size);
      a.free(p);
    }
    sink.value += acc;
    return 2 * n;
  };
}

/** Read back the first byte of blocks ptrs[0..count) and free them, in that order; returns the bytes' sum. */
function freeInOrder(a: BenchAllocator, t: Toucher, ptrs: Float64Array, count: number): number {
  let acc = 0;
  for (let i = 0; i < count; i++) {
    const p = ptrs[i]!;
    acc += t.peek(p);
    a.free(p);
  }
  return acc;
}

/** One rep: allocate `count` blocks of `size`, then free them in allocation order. */
function batch(a: BenchAllocator, t: Toucher, size: number, count: number): Body {
  const ptrs = new Float64Array(count);
  return (reps, probe) => {
    let acc = 0;
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < count; i++) {
        const p = a.malloc(size);
        t.touch(p, size, i);
        ptrs[i] = p;
      }
      if (probe && r === 0) probe(size * count);
      acc += freeInOrder(a, t, ptrs, count);
    }
    sink.value += acc;
    return 2 * reps * count;
  };
}

/** The random workloads' requests, drawn up front from a fixed seed: `blocks` sizes in [min, max] (and their
 *  sum), and four orders to free them in. (bench/phases.ts times the same requests phase by phase.) */
export function randomDraws(blocks: number, min: number, max: number): { sizes: Uint32Array; orders: Uint32Array[]; total: number } {
  const next = rng(0x5eed0000 + max);
  const sizes = new Uint32Array(blocks);
  let total = 0;
  for (let i = 0; i < blocks; i++) total += sizes[i] = min + (next() % (max - min + 1));
  const orders: Uint32Array[] = [];
  for (let k = 0; k < 4; k++) {
    const o = new Uint32Array(blocks);
    for (let i = 0; i < blocks; i++) o[i] = i;
    shuffle(o, next);
    orders.push(o);
  }
  return { sizes, orders, total };
}

/** One rep: `blocks` blocks of random sizes in [min, max] allocated, then freed in a random order (four
 *  different orders, taking turns). */
function randomSizes(a: BenchAllocator, t: Toucher, blocks: number, min: number, max: number): Body {
  const { sizes, orders, total } = randomDraws(blocks, min, max);
  const ptrs = new Float64Array(blocks);
  let turn = 0;
  return (reps, probe) => {
    let acc = 0;
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < blocks; i++) {
        const n = sizes[i]!;
        const p = a.malloc(n);
        t.touch(p, n, i);
        ptrs[i] = p;
      }
      if (probe && r === 0) probe(total);
      const o = orders[turn++ & 3]!;
      for (let i = 0; i < blocks; i++) {
        const p = ptrs[o[i]!]!;
        acc += t.peek(p);
        a.free(p);
      }
    }
    sink.value += acc;
    return 2 * reps * blocks;
  };
}

/** One rep: malloc(16), realloc up to 64 KiB in random steps of 16..64 bytes (last byte written after each),
 *  free. The steps are drawn up front (one sequence, reused). */
function reallocGrow(a: BenchAllocator, t: Toucher): Body {
  const LIMIT = 65536;
  const next = rng(0x4ea110c);
  const stepsList: number[] = [];
  for (let n = 16; n < LIMIT; ) {
    n = Math.min(LIMIT, n + 16 + (next() % 49));
    stepsList.push(n);
  }
  const steps = Uint32Array.from(stepsList);
  return (reps, probe) => {
    let acc = 0;
    for (let r = 0; r < reps; r++) {
      let p = a.malloc(16);
      t.touch(p, 16, r);
      for (let i = 0; i < steps.length; i++) {
        const m = steps[i]!;
        p = a.realloc(p, m);
        t.touch(p, m, m); // first byte rewritten: the same value realloc kept (the read-back checks nothing)
      }
      if (probe && r === 0) probe(LIMIT);
      acc += t.peek(p);
      a.free(p);
    }
    sink.value += acc;
    return reps * (steps.length + 2);
  };
}

/** One rep: 1000 × aligned_alloc(16 << [0, 8], [16, 1024]) then free. */
function aligned(a: BenchAllocator, t: Toucher): Body {
  const next = rng(0xa11611ed);
  const N = 4096;
  const aligns = new Uint32Array(N);
  const sizes = new Uint32Array(N);
  for (let i = 0; i < N; i++) {
    aligns[i] = 16 << next() % 9;
    sizes[i] = 16 + (next() % 1009);
  }
  let k = 0;
  return (reps, probe) => {
    let acc = 0;
    let misaligned = 0;
    let biggest = 0;
    let kk = k;
    const n = reps * 1000;
    for (let i = 0; i < n; i++) {
      const j = kk++ & (N - 1);
      const align = aligns[j]!;
      const size = sizes[j]!;
      const p = a.alignedAlloc(align, size);
      if (a.linear && (p & (align - 1)) !== 0) misaligned++;
      t.touch(p, size, i);
      acc += t.peek(p);
      if (probe && size > biggest) probe((biggest = size)); // one block live at a time: sampled at each new largest
      a.free(p);
    }
    k = kk & (N - 1);
    if (misaligned !== 0) throw new Error(`${a.name}: ${misaligned} blocks were not aligned as asked`);
    sink.value += acc;
    return 2 * n;
  };
}

/** One rep: 10 × malloc([1 MiB, 64 MiB]) then free (first and last byte touched). */
function large(a: BenchAllocator, t: Toucher): Body {
  const next = rng(0x1a26e);
  const N = 64;
  const sizes = new Uint32Array(N);
  for (let i = 0; i < N; i++) sizes[i] = (1 << 20) + (next() % ((63 << 20) + 1));
  let k = 0;
  return (reps, probe) => {
    let acc = 0;
    const n = reps * 10;
    let biggest = 0;
    let kk = k;
    for (let i = 0; i < n; i++) {
      const size = sizes[kk++ & (N - 1)]!;
      const p = a.malloc(size);
      t.touch(p, size, i);
      acc += t.peek(p);
      if (probe && size > biggest) probe((biggest = size)); // sampled while the block is live
      a.free(p);
    }
    k = kk & (N - 1);
    sink.value += acc;
    return 2 * n;
  };
}

// ------------------------------------------------------------------------------------------------ larson

export const LARSON_SLOTS = 1000;
const LARSON_MIN = 16;
const LARSON_MAX = 1024;

/** Larson-style churn for one worker: its own 1000 slots, filled at set-up; one rep is 10,000 steps, each
 *  freeing a random slot's block and putting a new block of random size in its place. `release()` frees the
 *  slots at the end. */
export function larsonBody(a: BenchAllocator, worker: number): { run: Body; release(): void } {
  const t = toucher(a);
  let x = (0x1a250000 + worker * 0x9e3779b9) | 0 || 1;
  const slot = new Float64Array(LARSON_SLOTS);
  const size = new Uint32Array(LARSON_SLOTS);
  let live = 0;
  for (let i = 0; i < LARSON_SLOTS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const n = LARSON_MIN + ((x >>> 0) % (LARSON_MAX - LARSON_MIN + 1));
    const p = a.malloc(n);
    t.touch(p, n, i);
    slot[i] = p;
    size[i] = n;
    live += n;
  }
  return {
    run(reps, probe) {
      // State the closure keeps is copied into locals for the loop: a 32-bit value stored back into a closure
      // variable on every step would be boxed (an allocation per step).
      let acc = 0;
      let xs = x;
      let liveNow = live;
      let peak = liveNow;
      const steps = reps * 10_000;
      for (let s = 0; s < steps; s++) {
        xs ^= xs << 13;
        xs ^= xs >>> 17;
        xs ^= xs << 5;
        // The slot from the high 16 bits, the size from the low 16, in small-integer arithmetic: `(xs >>> 0) %
        // LARSON_SLOTS` took a floating-point remainder (x87 fprem: the unsigned value is not a small integer
        // to V8), a quarter of webmalloc's larson loop under perf.
        const i = ((xs >>> 16) * LARSON_SLOTS) >>> 16;
        const n = LARSON_MIN + ((xs & 0xffff) % (LARSON_MAX - LARSON_MIN + 1));
        const old = slot[i]!;
        acc += t.peek(old);
        a.free(old);
        liveNow -= size[i]!;
        const p = a.malloc(n);
        t.touch(p, n, s);
        slot[i] = p;
        size[i] = n;
        liveNow += n;
        if (liveNow > peak) peak = liveNow;
      }
      x = xs;
      live = liveNow;
      if (probe) probe(peak);
      sink.value += acc;
      return 2 * steps;
    },
    release() {
      for (let i = 0; i < LARSON_SLOTS; i++) a.free(slot[i]!);
    },
  };
}

// ------------------------------------------------------------------------------------------------ xmalloc

/** Blocks handed over at a time, and batches the ring holds. */
export const XM_BATCH = 256;
export const XM_SLOTS = 32;
const XM_MIN = 16;
export const XM_MAX = 256;
// Ring layout in an Int32Array over a SharedArrayBuffer: [HEAD, TAIL] (batches published / consumed, counted
// since the start), then XM_SLOTS * XM_BATCH pointers. The bytes of each batch sit in a Float64Array beside it.
const HEAD = 0;
const TAIL = 16; // on its own cache line
const PTRS = 32;

/** Int32 words and Float64 words a ring takes. */
export const XM_RING_WORDS = PTRS + XM_SLOTS * XM_BATCH;

/** Sizes drawn for a producer (a fixed sequence, reused). */
function xmSizes(worker: number): Uint32Array {
  const next = rng(0x3a110000 + worker);
  const s = new Uint32Array(4096);
  for (let i = 0; i < s.length; i++) s[i] = XM_MIN + (next() % (XM_MAX - XM_MIN + 1));
  return s;
}

/** A producer's batch: malloc the XM_BATCH sizes from sizes[k] on, touch each block, store the pointers in
 *  `into` from index `at`. Returns the bytes asked for. */
function mallocXmBatch(a: BenchAllocator, t: Toucher, sizes: Uint32Array, k: number, into: Int32Array | Float64Array, at: number): number {
  let bytes = 0;
  for (let i = 0; i < XM_BATCH; i++) {
    const n = sizes[(k + i) & 4095]!;
    const p = a.malloc(n);
    t.touch(p, n, i);
    into[at + i] = p;
    bytes += n;
  }
  return bytes;
}

/** Wait until ring[index] !== seen: spin a little, then sleep on it (a producer and its consumer may share
 *  one core here: spinning long would starve the partner). */
function waitChange(ring: Int32Array, index: number, seen: number): number {
  for (let spin = 0; spin < 200; spin++) {
    const v = Atomics.load(ring, index);
    if (v !== seen) return v;
  }
  for (;;) {
    Atomics.wait(ring, index, seen, 50);
    const v = Atomics.load(ring, index);
    if (v !== seen) return v;
  }
}

/** The producer side: one rep mallocs XM_BATCH blocks and publishes them as one batch. */
export function xmProducer(a: BenchAllocator, ring: Int32Array, batchBytes: Float64Array, worker: number): Body {
  const t = toucher(a);
  const sizes = xmSizes(worker);
  let k = 0;
  let head = Atomics.load(ring, HEAD);
  let tail = Atomics.load(ring, TAIL);
  return (reps, probe) => {
    let inFlight = 0;
    for (let b = head - tail; b > 0; b--) inFlight += batchBytes[(tail + b - 1) % XM_SLOTS]!;
    let peak = inFlight;
    for (let r = 0; r < reps; r++) {
      if (head - tail === XM_SLOTS) {
        const t2 = waitChange(ring, TAIL, tail);
        for (; tail < t2; tail++) inFlight -= batchBytes[tail % XM_SLOTS]!;
      }
      const slot = head % XM_SLOTS;
      const bytes = mallocXmBatch(a, t, sizes, k, ring, PTRS + slot * XM_BATCH);
      k = (k + XM_BATCH) & 4095;
      batchBytes[slot] = bytes;
      inFlight += bytes;
      if (inFlight > peak) peak = inFlight;
      Atomics.store(ring, HEAD, ++head);
      Atomics.notify(ring, HEAD);
    }
    if (probe) probe(peak);
    return reps * XM_BATCH;
  };
}

/** The consumer side: one rep takes one batch off the ring and frees its blocks. */
export function xmConsumer(a: BenchAllocator, ring: Int32Array): Body {
  const t = toucher(a);
  let tail = Atomics.load(ring, TAIL);
  let head = Atomics.load(ring, HEAD);
  return (reps) => {
    let acc = 0;
    for (let r = 0; r < reps; r++) {
      if (head === tail) head = waitChange(ring, HEAD, tail);
      const base = PTRS + (tail % XM_SLOTS) * XM_BATCH;
      for (let i = 0; i < XM_BATCH; i++) {
        const p = ring[base + i]! >>> 0;
        acc += t.peek(p);
        a.free(p);
      }
      Atomics.store(ring, TAIL, ++tail);
      Atomics.notify(ring, TAIL);
    }
    sink.value += acc;
    return reps * XM_BATCH;
  };
}

/** The thread-local baseline: one rep mallocs the XM_BATCH blocks a producer would, then frees them itself
 *  (in the order a consumer would). Two calls per block, like a producer + consumer pair together. */
export function xmLocal(a: BenchAllocator, worker: number): Body {
  const t = toucher(a);
  const sizes = xmSizes(worker);
  const ptrs = new Float64Array(XM_BATCH);
  let k = 0;
  return (reps, probe) => {
    let acc = 0;
    for (let r = 0; r < reps; r++) {
      const bytes = mallocXmBatch(a, t, sizes, k, ptrs, 0);
      k = (k + XM_BATCH) & 4095;
      if (probe && r === 0) probe(bytes);
      acc += freeInOrder(a, t, ptrs, XM_BATCH);
    }
    sink.value += acc;
    return 2 * reps * XM_BATCH;
  };
}
