// Instructions per allocator call, counted by valgrind (cachegrind): the figure that does not move with the
// machine's load. Times on a shared 2-core machine swing by 20% and more from one run to the next, so a change
// of a few percent in a hot path shows up here and nowhere else. It is a proxy: it does not see cache misses,
// dependent loads or atomics' cost, so a change is judged by times too (npm run bench).
//
//   npm run bench:instructions [-- --only pairs-16,batch-64] [--contenders webmalloc,dlmalloc-wasm] [--functions K]
//
// Each workload runs twice under valgrind in a process of its own, with the same warm-up and different numbers
// of calls; the difference of the two counts over the difference of the calls is the cost of one call with
// start-up, compilation and warm-up taken out. Node runs with --single-threaded, so that compiling on
// background threads happens at the same points in both runs, and --no-liftoff, so that wasm runs its
// optimized code from the start (with the baseline compiler first, the tier-up came at different points:
// dlmalloc-wasm's pairs-16 counted 157 in one run and 189 in another). And with fixed seeds for V8's hashes
// and random numbers (NODE_FLAGS): with random ones, start-up work differed from one run to the next (a
// primality test of the hash seed, among others), and webmalloc's batch-64 counted 129.1-133.4 in three
// pairs of runs, against 136.3-136.9 with the seeds fixed. valgrind is installed with apt-get
// when it is missing and the machine allows it; else the script says so and stops. It holds the benchmark
// lock (lock.ts): it keeps a core busy for minutes, which would skew a timed run beside it.
//
// With --functions K, each count is followed by the K functions that take the most instructions per call
// (callgrind.ts: the same two runs under callgrind, with V8's map of its compiled code): compiled JS by its
// source position (all its tiers together), webmalloc's wasm functions by their exports, V8's builtins and
// native code by name. Where a function is inlined, its instructions are its caller's.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { perCallDifference, readRun } from './callgrind.js';
import { readable, wasmopsNames } from './profile.js';
import { ALL_CONTENDERS, makeContender, type ContenderName } from './contenders.js';
import { countOf, namesOf, readArgs } from './args.js';
import { ensureInstalled } from './apt.js';
import { rerunUnderBenchLock } from './lock.js';
import { isFloor, singleFloorOf } from './floors.js';
import { primeBody, singleBody, SINGLE_WORKLOADS, type WorkloadName } from './workloads.js';

const SELF = fileURLToPath(import.meta.url);
/** Node's flags under valgrind (see above). */
const NODE_FLAGS = ['--single-threaded', '--no-liftoff', '--hash-seed=1', '--random-seed=1'];
/** Calls made before counting starts in both runs, and the calls the second run makes beyond the first. */
const WARM_CALLS = 200_000;
const FIRST_CALLS = 100_000;
const EXTRA_CALLS = 1_000_000;
const DEFAULT_CONTENDERS: ContenderName[] = ['webmalloc', 'dlmalloc-wasm'];

const argv = process.argv.slice(2);

if (argv[0] === '--child') {
  // node instructions.js --child contender workload calls: warm up, then make at least `calls` calls, and print
  // how many were made.
  const [, contender, workload, calls] = argv as [string, ContenderName, WorkloadName, string];
  const body = singleBody(workload, makeContender(contender));
  primeBody(body);
  let made = 0;
  while (made < WARM_CALLS) made += body(1);
  made = 0;
  while (made < Number(calls)) made += body(1);
  process.stdout.write(`${made}\n`);
  process.exit(0);
}

/** One run under cachegrind: [instructions executed, calls made]. */
function count(contender: string, workload: string, calls: number): [number, number] {
  const r = spawnSync(
    'valgrind',
    ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', process.execPath, ...NODE_FLAGS, SELF, '--child', contender, workload, String(calls)],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  const refs = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  const made = Number(r.stdout.trim());
  if (r.status !== 0 || !refs || !Number.isFinite(made)) throw new Error(`${contender} ${workload} under valgrind failed:\n${r.stderr.slice(-2000)}`);
  return [Number(refs[1]!.replaceAll(',', '')), made];
}

/**
 * One run under callgrind, with V8's perf map: instructions per function name, and calls made. callgrind's
 * output goes to `dir`; the map, which node writes to /tmp/perf-PID.map, is removed once read.
 */
function countByFunction(contender: string, workload: string, calls: number, dir: string): [Map<string, number>, number] {
  const out = join(dir, `callgrind.${calls}`);
  const r = spawnSync(
    'valgrind',
    ['--tool=callgrind', '--dump-instr=yes', `--callgrind-out-file=${out}`, process.execPath, '--perf-basic-prof', ...NODE_FLAGS, SELF, '--child', contender, workload, String(calls)],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  const map = `/tmp/perf-${r.pid}.map`;
  try {
    const made = Number(r.stdout.trim());
    if (r.status !== 0 || !Number.isFinite(made)) throw new Error(`${contender} ${workload} under callgrind failed:\n${r.stderr.slice(-2000)}`);
    return [readRun(out, map), made];
  } finally {
    rmSync(map, { force: true });
  }
}

/** The `top` functions with the most instructions per call of `contender` on `workload`, one line each. */
function functionLines(contender: string, workload: string, top: number, wasm: Map<number, string>): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'webmalloc-callgrind-'));
  try {
    const [f1, c1] = countByFunction(contender, workload, FIRST_CALLS, dir);
    const [f2, c2] = countByFunction(contender, workload, FIRST_CALLS + EXTRA_CALLS, dir);
    const rows = perCallDifference(f1, f2, c2 - c1, (name) => readable(name, wasm));
    const total = rows.reduce((sum, r) => sum + r.perCall, 0);
    return [
      `  ${contender} on ${workload}: ${total.toFixed(1)} instructions per call (callgrind), of which:`,
      ...rows.slice(0, top).map((r) => `  ${r.perCall.toFixed(1).padStart(8)}  ${r.name}`),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const USAGE = 'npm run bench:instructions -- [--only WORKLOAD[,WORKLOAD]] [--contenders A[,B]] [--functions K]';
const { values: args } = readArgs(argv, { only: { type: 'string' }, contenders: { type: 'string' }, functions: { type: 'string' } }, USAGE);
const workloads = namesOf(args.only, SINGLE_WORKLOADS, USAGE) ?? [...SINGLE_WORKLOADS];
const contenders = namesOf(args.contenders, ALL_CONTENDERS, USAGE) ?? DEFAULT_CONTENDERS;
const functions = countOf(args.functions, 0, 'functions', USAGE);
const status = rerunUnderBenchLock(SELF, argv, 1800); // it loads a core for minutes: not beside a timed run
if (status !== undefined) process.exit(status);
ensureInstalled('valgrind', ['--version'], 'valgrind', 'bench:instructions');

console.log(`Instructions per allocator call (valgrind, Node ${process.version}); the workload's own loop and touching included, as in npm run bench.\n`);
console.log(['workload'.padEnd(14), ...contenders.map((c) => c.padStart(16))].join(''));
/** Whether `c` runs `w`: a floor runs only its own workloads (as npm run bench plans them), none here for xmalloc's. */
const runs = (c: ContenderName, w: WorkloadName): boolean => !isFloor(c) || singleFloorOf(w) === c;
// webmalloc's wasm functions by name; a peer's wasm functions stay numbered.
const wasmNames = functions > 0 ? await wasmopsNames() : new Map<number, string>();
const noNames = new Map<number, string>();

for (const w of workloads) {
  const cells: string[] = [];
  for (const c of contenders) {
    if (!runs(c, w)) {
      cells.push(''.padStart(16));
      continue;
    }
    const [i1, c1] = count(c, w, FIRST_CALLS);
    const [i2, c2] = count(c, w, FIRST_CALLS + EXTRA_CALLS);
    cells.push(((i2 - i1) / (c2 - c1)).toFixed(1).padStart(16));
  }
  console.log([w.padEnd(14), ...cells].join(''));
  if (functions === 0) continue;
  for (const c of contenders.filter((c) => runs(c, w))) {
    for (const line of functionLines(c, w, functions, c.startsWith('webmalloc') ? wasmNames : noNames)) console.log(line);
  }
}
