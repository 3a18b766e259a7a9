// One measurement: a contender on a workload with a number of threads, warmed up, calibrated so that a round
// takes `roundMs`, then timed over several rounds; the median round gives ns per allocator call. An untimed
// last round samples memory at the workload's peak. For webmalloc, the heap is checked afterwards (check()
// must pass, and every block must have been freed).
//
// Single-thread workloads run in the calling thread. larson, xmalloc and the single-thread workloads asked for
// with several workers (each worker runs the workload on blocks of its own) run in worker_threads (worker.ts):
// webmalloc's workers attach to one heap made here; a peer gets one instance per worker. Workers time
// themselves with process.hrtime (one clock for every thread of the process) and a round's time is from the
// first worker's start to the last worker's end. The main thread waits on Atomics.waitAsync meanwhile, and
// fails a round that does not end, naming each worker's state. larson-turns times rounds of worker 0 alone
// and of all workers in turn (takeTurns), for a scaling figure that a change of load cannot fake.
//
// The runner (run.ts) calls this through one.ts, in a fresh process per measurement; the test calls it
// directly at a tiny size.

import { Worker } from 'node:worker_threads';
import { createAllocator, type Allocator, type LinearMemory } from 'webmalloc';
import { makeContender, WebmallocBench, type ContenderName } from './contenders.js';
import { FLOOR_BYTES, isFloor } from './floors.js';
import { recompile } from './placement.js';
import { median } from './report.js';
import { THING_MALLOC_CAPS } from './peers/thing-malloc.js';
import type { BenchAllocator } from './peers/types.js';
import { describe, primeBody, RANDOM_WARM_PASSES, singleBody, XM_RING_WORDS, XM_SLOTS, type Body, type WorkloadName } from './workloads.js';

export interface Spec {
  contender: ContenderName;
  workload: WorkloadName;
  threads: number;
  /** Live blocks of the random workloads (a cap for @thi.ng/malloc). */
  blocks?: number;
}

export interface Settings {
  /** Target length of a timed round. */
  roundMs: number;
  /** Timed rounds wanted; fewer (but at least minRounds) when maxMs runs out. */
  rounds: number;
  minRounds: number;
  /** Time budget for the timed rounds. */
  maxMs: number;
  /** Least time spent warming up before calibrating. */
  warmMs: number;
}

export const QUICK: Settings = { roundMs: 20, rounds: 7, minRounds: 3, maxMs: 1500, warmMs: 150 };
export const FULL: Settings = { roundMs: 50, rounds: 15, minRounds: 5, maxMs: 6000, warmMs: 500 };
/** For the test: one tiny round. */
export const TINY: Settings = { roundMs: 0, rounds: 1, minRounds: 1, maxMs: 0, warmMs: 0 };

export interface Result {
  contender: string;
  workload: string;
  threads: number;
  /** Live blocks at the peak, where the workload has a count (random: its cap). */
  blocks?: number;
  /** Timed rounds and allocator calls per round (all threads). */
  rounds: number;
  opsPerRound: number;
  /** Wall time per allocator call: the median round's, and the best round's. */
  nsPerOp: number;
  bestNsPerOp: number;
  /** Rounds' spread: (slowest - fastest) / median. */
  spread: number;
  /** Allocator calls per second (all threads): 1e9 / nsPerOp. */
  opsPerSec: number;
  /** Wall time per call times threads: what a call costs one thread when several run. */
  threadNsPerOp: number;
  /** Memory the contender holds at its peak (see memoryKind). */
  memoryBytes: number;
  memoryKind: string;
  /** Most bytes requested and live at once (summed over threads). */
  peakLiveBytes: number;
  /** webmalloc: heap.stats().liveBytes at the peak (block sizes, single-thread workloads). */
  heapLiveBytes?: number;
  /** larson-turns: the rounds run by worker 0 alone (the main figures are those of all workers), and the
   *  median over adjacent pairs of rounds of (all workers' throughput / one worker's). */
  alone?: { rounds: number; opsPerRound: number; nsPerOp: number; opsPerSec: number };
  scaling?: number;
  /** webmalloc: check() after the run, and blocks still live after everything was freed (must be 0). */
  check?: { ok: boolean; errors: string[]; liveBlocksAfter: number };
}

const now = (): number => Number(process.hrtime.bigint());

/** Memory kind and reader for a contender. */
export function memoryKindOf(contender: string): string {
  switch (contender) {
    case 'webmalloc':
    case 'webmalloc-checked':
      return 'heap.stats().memorySize (the memory never shrinks: the size at the end is the peak)';
    case 'dlmalloc-wasm':
      return 'the wasm memory size (it never shrinks)';
    case 'thing-malloc':
      return "the pool's high-water mark (its fixed pool is reserved whole but untouched pages cost nothing)";
    case 'plain-js':
      return 'growth of the JS heap + array buffers (process.memoryUsage) at the peak, garbage not yet collected included';
    default:
      return 'peak RSS of the process';
  }
}

/** Bytes the allocator holds; for plain JS, what the process's JS heap and array buffers grew by. */
export function footprintOf(a: BenchAllocator, baseline: number): number {
  if (a.name === 'plain-js') {
    const u = process.memoryUsage();
    return Math.max(0, u.heapUsed + u.arrayBuffers - baseline);
  }
  return a.footprint();
}

export function jsBaseline(): number {
  const u = process.memoryUsage();
  return u.heapUsed + u.arrayBuffers;
}

export function poolBytesFor(workload: string): number {
  return Math.max(128 << 20, THING_MALLOC_CAPS[workload]?.minPoolBytes ?? 0);
}

/** Warm up (at least warmMs of running, with rounds growing until they take a quarter of roundMs), then
 *  pick reps so that a round takes about roundMs, from the last warm-up round (the JIT has seen it all by then). */
async function calibrate(round: (reps: number) => Promise<number>, s: Settings, minWarmReps = 0): Promise<number> {
  let reps = 1;
  let ns = await round(reps);
  if (s.roundMs === 0) return 1;
  let done = reps;
  const target = s.roundMs * 1e6;
  const warmUntil = performance.now() + s.warmMs;
  while (ns < target / 4 || performance.now() < warmUntil || done < minWarmReps) {
    if (ns < target / 4 && reps < 1 << 24) reps *= ns < target / 64 ? 8 : 2;
    ns = await round(reps);
    done += reps;
  }
  reps = Math.max(1, Math.round((reps * target) / Math.max(ns, 1)));
  await round(reps);
  return reps;
}

async function timeRounds(round: (reps: number) => Promise<number>, reps: number, s: Settings): Promise<number[]> {
  const times: number[] = [];
  const deadline = performance.now() + s.maxMs;
  while (times.length < s.rounds && (times.length < s.minRounds || performance.now() < deadline)) times.push(await round(reps));
  return times;
}

/** Compilations of a body that its timed rounds are spread over (see placement.ts). */
const PLACEMENTS = 3;

/**
 * How a measurement spreads its timed rounds over PLACEMENTS compilations of its bodies (the one the warm-up
 * left, then ones made anew): `settings` for each compilation's share of the rounds, and how many there are.
 * The median round is then the median placement's, where it was whichever placement the order of compilation
 * gave. Settings with fewer than two rounds per compilation (the tests' tiny ones) keep the one compilation.
 */
function placements(s: Settings): { count: number; settings: Settings } {
  const count = s.rounds >= 2 * PLACEMENTS ? PLACEMENTS : 1;
  return { count, settings: { ...s, rounds: Math.ceil(s.rounds / count), minRounds: Math.ceil(s.minRounds / count), maxMs: s.maxMs / count } };
}

/**
 * Runs `share` once per compilation (see placements), with the settings of one share; `recompileAll` compiles
 * the bodies anew and runs an untimed round on the new code before every share but the first.
 */
async function forEachPlacement(s: Settings, recompileAll: () => Promise<unknown>, share: (settings: Settings) => Promise<void>): Promise<void> {
  const p = placements(s);
  for (let k = 0; k < p.count; k++) {
    if (k > 0) await recompileAll();
    await share(p.settings);
  }
}

/** Timed rounds spread over compilations (see placements). */
async function timePlacements(round: (reps: number) => Promise<number>, recompileAll: () => Promise<unknown>, reps: number, s: Settings): Promise<number[]> {
  const times: number[] = [];
  await forEachPlacement(s, recompileAll, async (settings) => {
    times.push(...(await timeRounds(round, reps, settings)));
  });
  return times;
}

function summarize(spec: Spec, times: number[], ops: number): Pick<Result, 'rounds' | 'opsPerRound' | 'nsPerOp' | 'bestNsPerOp' | 'spread' | 'opsPerSec' | 'threadNsPerOp'> {
  const per = times.map((t) => t / ops);
  const med = median(per);
  return {
    rounds: times.length,
    opsPerRound: ops,
    nsPerOp: med,
    bestNsPerOp: Math.min(...per),
    spread: (Math.max(...per) - Math.min(...per)) / med,
    opsPerSec: 1e9 / med,
    threadNsPerOp: med * spec.threads,
  };
}

function checkHeap(heap: Allocator): NonNullable<Result['check']> {
  const c = heap.check();
  const st = heap.stats();
  return { ok: c.ok, errors: c.errors.slice(0, 5), liveBlocksAfter: st.liveBlocks };
}

export async function measure(spec: Spec, settings: Settings): Promise<Result> {
  const info = describe(spec.workload, spec.blocks);
  if (info.kind === 'single' && spec.threads === 1) return measureSingle(spec, settings);
  return measureThreads(spec, settings);
}

async function measureSingle(spec: Spec, s: Settings): Promise<Result> {
  const baseline = jsBaseline();
  const a = makeContender(spec.contender, poolBytesFor(spec.workload));
  const body: Body = singleBody(spec.workload, a, spec.blocks);
  let ops = 0;
  const round = (reps: number): Promise<number> => {
    const t0 = now();
    ops = body(reps);
    return Promise.resolve(now() - t0);
  };
  // The random workloads reach their steady state only after many passes: blocks land at new addresses each
  // pass, so passes keep touching pages of the memory that were never touched (first touch = a page fault)
  // until all of it is resident. webmalloc on random-64k (385 MiB) costs ~5 µs per call on the first pass and
  // settles at ~200 ns after ~30. So warm up with at least 30 passes there and 10 on random-512 (the native
  // program runs 1 + 5 rounds of 2 passes in its quick mode, of 10 in its full mode).
  const minWarm = RANDOM_WARM_PASSES[spec.workload] ?? 0;
  primeBody(body);
  const reps = await calibrate(round, s, minWarm);
  const times = await timePlacements(round, () => (recompile(body), round(reps)), reps, s);
  const timedOps = ops;
  // the memory round
  let memory = 0;
  let peakLive = 0;
  let heapLive: number | undefined;
  body(1, (live) => {
    peakLive = Math.max(peakLive, live);
    memory = Math.max(memory, footprintOf(a, baseline));
    if (a instanceof WebmallocBench) heapLive = Math.max(heapLive ?? 0, a.heap.stats().liveBytes);
  });
  memory = Math.max(memory, footprintOf(a, baseline));
  const result: Result = {
    contender: spec.contender,
    workload: spec.workload,
    threads: 1,
    ...(describe(spec.workload, spec.blocks).blocks !== undefined ? { blocks: describe(spec.workload, spec.blocks).blocks } : {}),
    ...summarize(spec, times, timedOps),
    memoryBytes: memory,
    memoryKind: memoryKindOf(spec.contender),
    peakLiveBytes: peakLive,
  };
  if (heapLive !== undefined) result.heapLiveBytes = heapLive;
  if (a instanceof WebmallocBench) result.check = checkHeap(a.heap);
  return result;
}

// ------------------------------------------------------------------------------------------------ workers

/** Control words (Int32Array over a SharedArrayBuffer) shared with the workers. */
export const C = {
  READY: 0, // workers set up
  GO: 1, // round generation: a worker runs a round each time it changes
  DONE: 2, // workers done with the current round
  REPS: 3,
  PROBE: 4, // 1: the round samples memory
  STOP: 5, // 1: free everything and leave
  ACTIVE: 6, // workers that run the round: ACTIVE of them from worker FIRST on, round the workers (the others only count themselves done)
  ARRIVED: 7, // active workers woken for the current round: the start barrier (see worker.ts)
  FIRST: 8, // (see ACTIVE)
  RECOMPILE: 9, // 1: every worker compiles its body anew before the round (see placement.ts)
  WORDS: 10,
} as const;

/** Per-worker figures (Float64Array): start ns, end ns, ops, peak live bytes, footprint; and for a report
 *  of a round that does not end, the GO value of the worker's last round and how many rounds it finished. */
export const W = { START: 0, END: 1, OPS: 2, PEAK: 3, FOOTPRINT: 4, SEEN: 5, ROUNDS: 6, WORDS: 7 } as const;

export interface WorkerData {
  spec: Spec;
  index: number;
  /** How many workers the measurement has. */
  workers: number;
  role: 'single' | 'larson' | 'producer' | 'consumer' | 'local';
  memory?: LinearMemory;
  control: SharedArrayBuffer;
  figures: SharedArrayBuffer;
  ring?: SharedArrayBuffer;
  ringBytes?: SharedArrayBuffer;
  /** The memory a producer and its consumer share (the floors, FloorAllocator). */
  floor?: SharedArrayBuffer;
  poolBytes: number;
}

/**
 * Until word `index` of the control words (a count the workers raise) reads `value`; an error when a worker
 * failed, when the count went past `value`, or when it has not got there for ROUND_LIMIT_MS, naming every
 * worker's state. Waits on Atomics.waitAsync (woken by the workers' notify), outside the timed span.
 */
async function waitFor(ctrl: Int32Array, index: number, value: number, failed: () => Error | undefined, state: () => string): Promise<void> {
  const deadline = performance.now() + ROUND_LIMIT_MS;
  for (;;) {
    const v = Atomics.load(ctrl, index);
    if (v === value) return;
    if (v > value) throw new Error(`a worker ran a round twice: ${state()}`);
    const err = failed();
    if (err) throw err;
    if (performance.now() > deadline) throw new Error(`no progress for ${ROUND_LIMIT_MS / 1000} s: ${state()}`);
    const w = Atomics.waitAsync(ctrl, index, v, 200);
    if (w.async) await w.value;
  }
}

/**
 * larson-turns: timed rounds of one worker alone and of all workers, taking turns (the same reps per worker),
 * so that a change of the machine's load between two processes cannot pass for scaling. The worker that runs
 * alone is each worker in turn (round k: worker k mod n). Times and ops of each kind; pair k is round k of each.
 */
async function takeTurns(
  round: (reps: number, probe?: boolean, active?: number, first?: number) => Promise<number>,
  recompileAll: () => Promise<unknown>,
  reps: number,
  s: Settings,
  workers: number,
  lastOps: () => number,
): Promise<{ alone: number[]; aloneOps: number; all: number[]; allOps: number }> {
  const alone: number[] = [];
  const all: number[] = [];
  let aloneOps = 0;
  let allOps = 0;
  // Spread over compilations as timePlacements does, each share a whole number of turns of the workers.
  await forEachPlacement(s, recompileAll, async (settings) => {
    const deadline = performance.now() + 2 * settings.maxMs;
    const from = alone.length;
    const turns = () => alone.length - from;
    while (turns() < Math.max(settings.rounds, workers) || turns() % workers !== 0) {
      if (turns() >= Math.max(settings.minRounds, workers) && turns() % workers === 0 && performance.now() >= deadline) break;
      alone.push(await round(reps, false, 1, alone.length % workers)); // pair k's worker alone: k mod n (turnsScaling reads it so)
      aloneOps = lastOps();
      all.push(await round(reps));
      allOps = lastOps();
    }
  });
  return { alone, aloneOps, all, allOps };
}

/**
 * The scaling of rounds taken in turns (takeTurns): all workers' throughput over one worker's. Each worker's
 * figure is the median of its own pairs (its round alone against the round of all that follows it, so that a
 * change of load cancels out), and one worker's throughput is the mean of theirs: the harmonic mean of the
 * workers' ratios. Each worker runs in a V8 isolate of its own, compiled apart, and one worker's loop can run
 * 15% slower than another's for where its code was placed (larson-turns x2, worker 1 against worker 0: 16.3 ns
 * per call against 14.1 in one process of five); with worker 0 alone always the baseline, such a process
 * gave 1.69x where the others gave 1.82-1.91x.
 */
export function turnsScaling(alone: number[], aloneOps: number, all: number[], allOps: number, workers: number): number {
  let sumInverse = 0;
  for (let w = 0; w < workers; w++) {
    const ratios: number[] = [];
    for (let k = w; k < alone.length; k += workers) ratios.push(allOps / all[k]! / (aloneOps / alone[k]!));
    sumInverse += 1 / median(ratios);
  }
  return workers / sumInverse;
}

/** A round that takes this long has stopped: the measurement fails, naming the state of every worker. */
const ROUND_LIMIT_MS = 60_000;

async function measureThreads(spec: Spec, s: Settings): Promise<Result> {
  const info = describe(spec.workload, spec.blocks);
  const n = spec.threads;
  const webmalloc = spec.contender === 'webmalloc' || spec.contender === 'webmalloc-checked';
  const floor = isFloor(spec.contender);
  if (info.kind === 'xmalloc' && ((!webmalloc && spec.contender !== 'none' && !floor) || n % 2 !== 0))
    throw new Error('xmalloc runs on webmalloc only (and on none and the floors: contenders.ts, floors.ts), with an even number of workers');
  if (floor && info.kind !== 'xmalloc') throw new Error(`${spec.contender} runs xmalloc only (and, single-threaded, its single-thread workloads)`);
  const heap = webmalloc ? createAllocator({ checked: spec.contender === 'webmalloc-checked' }) : undefined;
  const control = new SharedArrayBuffer(C.WORDS * 4);
  const ctrl = new Int32Array(control);
  const figures = new SharedArrayBuffer(n * W.WORDS * 8);
  const fig = new Float64Array(figures);
  const rings: SharedArrayBuffer[] = [];
  const ringBytes: SharedArrayBuffer[] = [];
  const floors: SharedArrayBuffer[] = [];
  if (info.kind === 'xmalloc') {
    for (let k = 0; k < n / 2; k++) {
      rings.push(new SharedArrayBuffer(XM_RING_WORDS * 4));
      ringBytes.push(new SharedArrayBuffer(XM_SLOTS * 8));
      if (floor) floors.push(new SharedArrayBuffer(FLOOR_BYTES));
    }
  }
  const url = new URL('./worker.js', import.meta.url);
  const workers: Worker[] = [];
  const exits: Promise<unknown>[] = [];
  let failure: Error | undefined;
  for (let i = 0; i < n; i++) {
    const data: WorkerData = {
      spec,
      index: i,
      workers: n,
      role: info.kind === 'single' ? 'single' : info.kind === 'larson' ? 'larson' : info.kind === 'xmalloc-local' ? 'local' : i % 2 === 0 ? 'producer' : 'consumer',
      control,
      figures,
      poolBytes: poolBytesFor(spec.workload),
      ...(heap ? { memory: heap.memory } : {}),
      ...(info.kind === 'xmalloc' ? { ring: rings[i >> 1], ringBytes: ringBytes[i >> 1] } : {}),
      ...(floor ? { floor: floors[i >> 1] } : {}),
    };
    const w = new Worker(url, { workerData: data });
    w.on('error', (e) => (failure ??= e instanceof Error ? e : new Error(String(e))));
    w.on('exit', (code) => {
      if (code !== 0 && Atomics.load(ctrl, C.STOP) === 0) failure ??= new Error(`worker ${i} exited with ${code}`);
    });
    workers.push(w);
    exits.push(new Promise((resolve) => w.once('exit', resolve)));
  }
  const failed = () => failure;
  const state = () =>
    `READY ${ctrl[C.READY]} GO ${ctrl[C.GO]} DONE ${ctrl[C.DONE]} STOP ${ctrl[C.STOP]}; per worker, GO of its last round / rounds done: ` +
    Array.from({ length: n }, (_, i) => `${fig[i * W.WORDS + W.SEEN]}/${fig[i * W.WORDS + W.ROUNDS]}`).join(', ');
  try {
    await waitFor(ctrl, C.READY, n, failed, state);
    let ops = 0;
    const round = async (reps: number, probe = false, active = n, first = 0, recompiling = false): Promise<number> => {
      Atomics.store(ctrl, C.RECOMPILE, recompiling ? 1 : 0);
      Atomics.store(ctrl, C.REPS, reps);
      Atomics.store(ctrl, C.PROBE, probe ? 1 : 0);
      Atomics.store(ctrl, C.ACTIVE, active);
      Atomics.store(ctrl, C.FIRST, first);
      Atomics.store(ctrl, C.DONE, 0);
      Atomics.store(ctrl, C.ARRIVED, 0);
      Atomics.add(ctrl, C.GO, 1);
      Atomics.notify(ctrl, C.GO);
      await waitFor(ctrl, C.DONE, n, failed, state);
      let start = Infinity;
      let end = 0;
      ops = 0;
      for (let j = 0; j < active; j++) {
        const i = (first + j) % n;
        start = Math.min(start, fig[i * W.WORDS + W.START]!);
        end = Math.max(end, fig[i * W.WORDS + W.END]!);
        ops += fig[i * W.WORDS + W.OPS]!;
      }
      return end - start;
    };
    // The random workloads' warm-up passes (see measureSingle), in every worker.
    const reps = await calibrate(round, s, RANDOM_WARM_PASSES[spec.workload] ?? 0);
    // Every worker compiles its body anew, then all run an untimed round on the new code.
    const recompileAll = () => round(reps, false, n, 0, true);
    const turns = spec.workload === 'larson-turns' ? await takeTurns(round, recompileAll, reps, s, n, () => ops) : undefined;
    const times = turns ? turns.all : await timePlacements(round, recompileAll, reps, s);
    const timedOps = turns ? turns.allOps : ops;
    await round(1, true);
    let peakLive = 0;
    let footprint = 0;
    for (let i = 0; i < n; i++) {
      peakLive += fig[i * W.WORDS + W.PEAK]!;
      footprint += fig[i * W.WORDS + W.FOOTPRINT]!;
    }
    Atomics.store(ctrl, C.STOP, 1);
    Atomics.add(ctrl, C.GO, 1);
    Atomics.notify(ctrl, C.GO);
    await Promise.all(exits);
    if (failure) throw failure;
    const result: Result = {
      contender: spec.contender,
      workload: spec.workload,
      threads: n,
      ...(info.blocks !== undefined ? { blocks: info.blocks } : {}),
      ...summarize(spec, times, timedOps),
      memoryBytes: heap ? heap.stats().memorySize : footprint,
      memoryKind: memoryKindOf(spec.contender),
      peakLiveBytes: peakLive,
    };
    if (turns) {
      const alone = summarize({ ...spec, threads: 1 }, turns.alone, turns.aloneOps);
      result.alone = { rounds: alone.rounds, opsPerRound: alone.opsPerRound, nsPerOp: alone.nsPerOp, opsPerSec: alone.opsPerSec };
      result.scaling = turnsScaling(turns.alone, turns.aloneOps, turns.all, turns.allOps, n);
    }
    if (heap) result.check = checkHeap(heap);
    return result;
  } finally {
    for (const w of workers) void w.terminate();
  }
}
