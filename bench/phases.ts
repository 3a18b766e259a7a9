// The random workloads with their two phases timed apart: allocating the blocks and touching each (the
// allocation phase), then reading each block's first byte and freeing it, in random order (the free phase).
// Beside the allocators, "floor-classes" (floors.ts: one bare free list per size class, what the loops cost with
// the least a segregated allocator can do) and "no allocator": the addresses one of webmalloc's rounds got,
// handed out again and never freed, so what the loops and their touching alone cost over the same memory; and the native
// allocators, from the C program's own clocks around its phases (bench/native/workloads.c, run_random).
// docs/performance.md ("random-512, phase by phase") says what it showed.
//
//   node build/bench/phases.js [random-512|random-64k] [--rounds N] [--no-native]
//
// Each JS contender runs in a process of its own, as in npm run bench; a phase's figure is its median round,
// in ns per allocator call. A native figure is the C program's own (its median of 5 runs of 10 rounds each),
// the median of 3 such.
// It holds the benchmark lock (lock.ts).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeContender, WebmallocBench } from './contenders.js';
import { countOf, nameOf, readArgs, usageError } from './args.js';
import { rerunUnderBenchLock } from './lock.js';
import { median } from './report.js';
import { repoRoot, type BenchAllocator } from './peers/types.js';
import { RANDOM_BLOCKS, RANDOM_MAX_SIZE, RANDOM_WARM_PASSES, randomDraws, sink, toucher, type Toucher } from './workloads.js';

export const PHASE_CONTENDERS = ['webmalloc', 'dlmalloc-wasm', 'floor-classes', 'no allocator'] as const;
export type PhaseContender = (typeof PHASE_CONTENDERS)[number];

export interface PhaseTimes {
  /** ns per allocator call of each timed round's allocation phase, and of its free phase. */
  alloc: number[];
  free: number[];
  /** webmalloc's heap after the rounds (every block freed): check()'s errors. */
  checkErrors?: string[];
}

/**
 * The two phases as closures over the allocator and the requests, as the benchmark's bodies are (workloads.ts):
 * with the allocator passed to each call as an argument instead, webmalloc's phases took longer (in scratch
 * loops, 22.5-28.7 and 40.8-46.6 ns per call against 17.9-21.2 and 30.9-32.6; docs/performance.md, "random-512,
 * phase by phase").
 */
function phaseBodies(a: BenchAllocator, t: Toucher, sizes: Uint32Array, orders: Uint32Array[], ptrs: Float64Array) {
  return {
    alloc(): void {
      for (let i = 0; i < sizes.length; i++) {
        const n = sizes[i]!;
        const p = a.malloc(n);
        t.touch(p, n, i);
        ptrs[i] = p;
      }
    },
    free(round: number): number {
      const order = orders[round & 3]!;
      let acc = 0;
      for (let i = 0; i < order.length; i++) {
        const p = ptrs[order[i]!]!;
        acc += t.peek(p);
        a.free(p);
      }
      return acc;
    },
  };
}

/** "no allocator": the allocation phase hands out `from`'s addresses again, the free phase frees nothing. */
function replayBodies(t: Toucher, sizes: Uint32Array, orders: Uint32Array[], from: Float64Array, ptrs: Float64Array) {
  return {
    alloc(): void {
      for (let i = 0; i < sizes.length; i++) {
        const n = sizes[i]!;
        const p = from[i]!;
        t.touch(p, n, i);
        ptrs[i] = p;
      }
    },
    free(round: number): number {
      const order = orders[round & 3]!;
      let acc = 0;
      for (let i = 0; i < order.length; i++) acc += t.peek(ptrs[order[i]!]!);
      return acc;
    },
  };
}

/**
 * `rounds` timed rounds of `workload` (after `warm` untimed ones) for one contender, in this process.
 * `blocks` overrides the workload's count of live blocks (the tests' tiny runs).
 */
export function timePhases(
  contender: PhaseContender,
  workload: string,
  rounds: number,
  warm: number,
  blocks?: number,
): PhaseTimes {
  const max = RANDOM_MAX_SIZE[workload];
  if (max === undefined) throw new Error(`phases: ${workload} is not a random workload`);
  const { sizes, orders } = randomDraws(blocks ?? RANDOM_BLOCKS[workload]!, 8, max);
  const a = makeContender(contender === 'no allocator' ? 'webmalloc' : contender);
  const t = toucher(a);
  const ptrs = new Float64Array(sizes.length);
  const times: PhaseTimes = { alloc: [], free: [] };
  const calls = sizes.length;
  const own = phaseBodies(a, t, sizes, orders, ptrs);
  let acc = 0;
  for (let r = 0; r < warm; r++) {
    own.alloc();
    acc += own.free(r);
  }
  let from: Float64Array | undefined;
  if (contender === 'no allocator') {
    own.alloc(); // the addresses of one more round, kept live
    from = ptrs.slice();
  }
  const body = from ? replayBodies(t, sizes, orders, from, ptrs) : own;
  for (let r = 0; r < 3; r++) {
    // untimed (the replay's bodies are compiled here)
    body.alloc();
    acc += body.free(r);
  }
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    body.alloc();
    const t1 = performance.now();
    acc += body.free(r);
    const t2 = performance.now();
    times.alloc.push(((t1 - t0) * 1e6) / calls);
    times.free.push(((t2 - t1) * 1e6) / calls);
  }
  if (from) for (let i = 0; i < calls; i++) a.free(from[i]!);
  sink.value += acc;
  if (a instanceof WebmallocBench) times.checkErrors = a.heap.check().errors;
  return times;
}

interface Figures {
  alloc: number;
  free: number;
}

/** The native figures: the C program under glibc and under libmimalloc, three runs each (median). */
function nativeFigures(workload: string): Map<string, Figures> {
  const out = new Map<string, Figures>();
  const dir = mkdtempSync(join(tmpdir(), 'webmalloc-phases-'));
  try {
    const runs = new Map<string, { alloc: number[]; free: number[] }>();
    for (let k = 0; k < 3; k++) {
      const file = join(dir, `native-${k}.json`);
      const script = join(repoRoot(), 'scripts', 'bench-native.sh');
      const r = spawnSync('bash', [script, '--only', workload, '--out', file], { stdio: ['ignore', 'ignore', 'inherit'] });
      if (r.status !== 0) {
        console.log(`native: scripts/bench-native.sh failed (exit ${r.status}); no native figures`);
        return out;
      }
      const found = JSON.parse(readFileSync(file, 'utf8')) as { allocator: string; alloc_ns_per_op?: number; free_ns_per_op?: number }[];
      for (const row of found) {
        if (row.alloc_ns_per_op === undefined || row.free_ns_per_op === undefined) continue;
        const e = runs.get(row.allocator) ?? { alloc: [], free: [] };
        e.alloc.push(row.alloc_ns_per_op);
        e.free.push(row.free_ns_per_op);
        runs.set(row.allocator, e);
      }
    }
    for (const [name, e] of runs) out.set(name, { alloc: median(e.alloc), free: median(e.free) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const USAGE = 'npm run bench:phases -- [random-512|random-64k] [--rounds N] [--no-native]';

/** The command line: the workload, the JS rounds, and whether the native figures are measured too. */
function options(argv: string[]): { workload: string; rounds: number; native: boolean } {
  const { values: args, positionals } = readArgs(argv, { rounds: { type: 'string' }, 'no-native': { type: 'boolean' } }, USAGE, true);
  if (positionals.length > 1) usageError(`one workload at a time, not "${positionals.join(' ')}"`, USAGE);
  const workload = nameOf(positionals[0], ['random-512', 'random-64k'], USAGE) ?? 'random-512';
  return { workload, rounds: countOf(args.rounds, 30, 'rounds', USAGE), native: args['no-native'] !== true };
}

function main({ workload, rounds, native }: { workload: string; rounds: number; native: boolean }): void {
  const rows = new Map<string, Figures>();
  for (const c of PHASE_CONTENDERS) {
    const child = [SELF, '--child', c, workload, String(rounds)];
    const r = spawnSync(process.execPath, child, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`phases: ${c} failed (exit ${r.status})`);
    const times = JSON.parse(r.stdout) as PhaseTimes;
    if (times.checkErrors?.length) throw new Error(`phases: ${c}: check() failed: ${times.checkErrors.join('; ')}`);
    rows.set(c, { alloc: median(times.alloc), free: median(times.free) });
    console.log(`${c}: done`);
  }
  if (native) for (const [name, f] of nativeFigures(workload)) rows.set(name, f);
  console.log('\n' + renderPhases(workload, rounds, rows));
}

/** The table: each phase's ns per allocator call, and both together (their mean), with ratios to mimalloc. */
function renderPhases(workload: string, rounds: number, rows: Map<string, Figures>): string {
  const ref = rows.get('mimalloc');
  const cell = (x: number, of: number | undefined): string =>
    x.toFixed(1).padStart(10) + (of === undefined ? '' : ` (${(x / of).toFixed(2)}x)`).padEnd(9);
  const blocks = RANDOM_BLOCKS[workload]!.toLocaleString('en-US');
  const native = rows.has('glibc') || ref ? ', native the median of 3 runs' : '';
  const ratios = ref ? '; ratio to mimalloc in parentheses' : '';
  const gap = ' '.repeat(9);
  const lines = [
    `${workload}: ${blocks} blocks; ns per allocator call, JS the median of ${rounds} rounds${native}${ratios}`,
    'contender'.padEnd(16) + 'allocation'.padStart(10) + gap + 'free'.padStart(10) + gap + 'both'.padStart(10),
  ];
  for (const [name, f] of rows) {
    const both = (f.alloc + f.free) / 2;
    const refBoth = ref ? (ref.alloc + ref.free) / 2 : undefined;
    lines.push(name.padEnd(16) + cell(f.alloc, ref?.alloc) + cell(f.free, ref?.free) + cell(both, refBoth).trimEnd());
  }
  return lines.join('\n');
}

const SELF = fileURLToPath(import.meta.url);

if (process.argv[1] === SELF) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const [, contender, workload, rounds] = argv as [string, PhaseContender, string, string];
    const times = timePhases(contender, workload, Number(rounds), RANDOM_WARM_PASSES[workload]!);
    process.stdout.write(JSON.stringify(times) + '\n');
  } else {
    const opts = options(argv);
    const status = rerunUnderBenchLock(SELF, argv, 900);
    if (status !== undefined) process.exit(status);
    main(opts);
  }
}
