// The benchmark suite (issue 4): `npm run bench` (quick, about 2 minutes) or `npm run bench -- --full`.
//
//   node build/bench/run.js [--full] [--no-native] [--no-dropin] [--no-blowup] [--only WORKLOAD[,WORKLOAD]] [--contenders A,B]
//   node build/bench/run.js --render      (re-render the report from bench/results/latest.json, measuring nothing)
//
// Steps, each with progress on the console:
//   1. the dlmalloc wasm peer is checked (scripts/build-wasm-peers.sh rebuilds it only when stale);
//   2. native figures: scripts/bench-native.sh (glibc, and mimalloc via LD_PRELOAD when it can be installed);
//   3. how well plain computation scales to 2 and 4 workers on this machine right now (machine.ts);
//   4. every JS measurement, each in a fresh Node process (one.js -> measure.ts): contenders never share a JIT.
//      A full run makes PASSES passes over steps 2 and 4, the JS plan in alternating order, and reports for
//      each measurement the pass with the median time: on a shared machine a burst of load slows whatever
//      runs during it, by 1.7x at times, and a single pass left one contender's figure at the mercy of it;
//   5. the wasm drop-in comparison (wasm-dropin.js; --no-dropin reuses its last JSON);
//   6. the bounded-memory cases and reclaim cost (blowup.js; --no-blowup skips them).
// Then the table, the targets of issue 4 as met / missed, and bench/results/latest.{json,svg,md,txt}.
//
// Only one benchmark may run at a time on this machine: the whole run holds an flock on
// ${TMPDIR:-/tmp}/webmalloc-bench.lock (it re-runs itself under flock; WEBMALLOC_BENCH_LOCK_HELD=1 tells the
// steps that the lock is held).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALL_CONTENDERS, CONTENDERS, type ContenderName } from './contenders.js';
import { namesOf, readArgs } from './args.js';
import { FLOORS, singleFloorOf } from './floors.js';
import { rerunUnderBenchLock } from './lock.js';
import { machineInfo, parallelScaling } from './machine.js';
import { FULL, QUICK, type Result, type Spec } from './measure.js';
import { dlmallocWasmStatus } from './peers/dlmalloc-wasm.js';
import { repoRoot } from './peers/types.js';
import {
  evaluateTargets,
  fmtBytes,
  medianOfPasses,
  fmtTime,
  groupLabel,
  renderMatrix,
  renderMemory,
  renderSvg,
  renderTable,
  renderTargets,
  renderTargetsMarkdown,
  type Row,
} from './report.js';
import { ALL_WORKLOADS, PARALLEL_WORKLOADS, RANDOM_BLOCKS, SINGLE_WORKLOADS, type WorkloadName } from './workloads.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = repoRoot();
const RESULTS = join(ROOT, 'bench', 'results');
const argv = process.argv.slice(2);
const USAGE = 'npm run bench -- [--full] [--no-native] [--no-dropin] [--no-blowup] [--only WORKLOAD[,WORKLOAD]] [--contenders A[,B]] | --render';
const { values: args } = readArgs(
  argv,
  {
    full: { type: 'boolean' },
    'no-native': { type: 'boolean' },
    'no-dropin': { type: 'boolean' },
    'no-blowup': { type: 'boolean' },
    only: { type: 'string' },
    contenders: { type: 'string' },
    render: { type: 'boolean' },
  },
  USAGE,
);
const full = args.full === true;
const mode = full ? 'full' : 'quick';
const only = namesOf(args.only, ALL_WORKLOADS, USAGE);
const onlyContenders = namesOf(args.contenders, ALL_CONTENDERS, USAGE);
/** @thi.ng/malloc's live-block cap on the random workloads (see peers/thing-malloc.ts). */
const THING_CAP = 2000;
/** Passes over the native and JS measurements (see step 4 above). */
const PASSES = full ? 3 : 1;

// ------------------------------------------------------------------------------------------------ lock

if (args.render !== true) {
  const status = rerunUnderBenchLock(SELF, argv, 1800);
  if (status !== undefined) process.exit(status);
}

// ------------------------------------------------------------------------------------------------ plan

function plan(): Spec[] {
  const specs: Spec[] = [];
  const add = (contender: ContenderName, workload: WorkloadName, threads: number, blocks?: number) => {
    if (only && !only.includes(workload)) return;
    if (onlyContenders && !onlyContenders.includes(contender)) return;
    specs.push({ contender, workload, threads, ...(blocks !== undefined ? { blocks } : {}) });
  };
  for (const w of SINGLE_WORKLOADS)
    for (const c of CONTENDERS) {
      if (c === 'thing-malloc' && w in RANDOM_BLOCKS) continue; // capped: the rows below
      add(c, w, 1);
    }
  // The loops' floor (floors.ts): one bare free list on the workloads of one size, one per size class on the
  // random sizes.
  for (const w of SINGLE_WORKLOADS) {
    const floor = singleFloorOf(w);
    if (floor) add(floor, w, 1);
  }
  // The random workloads at @thi.ng/malloc's cap, every contender (so its figure has company).
  for (const w of ['random-512', 'random-64k'] as const) for (const c of CONTENDERS) add(c, w, 1, THING_CAP);
  if (full) for (const c of ['webmalloc', 'thing-malloc'] as const) add(c, 'random-512', 1, 4 * THING_CAP);
  // Single-thread workloads with several workers: webmalloc sharing one heap, dlmalloc-wasm an instance each.
  for (const t of [2, 4]) for (const w of PARALLEL_WORKLOADS) for (const c of ['webmalloc', 'webmalloc-checked', 'dlmalloc-wasm'] as const) add(c, w, t);
  for (const t of [1, 2, 4]) for (const c of CONTENDERS) add(c, 'larson', t);
  // The scaling target's measurement (see workloads.ts); dlmalloc-wasm, which shares nothing, for comparison.
  for (const c of ['webmalloc', 'dlmalloc-wasm'] as const) add(c, 'larson-turns', 2);
  for (const t of [2, 4]) {
    for (const c of ['webmalloc', 'webmalloc-checked'] as const) {
      add(c, 'xmalloc-local', t);
      add(c, 'xmalloc', t);
    }
    add('none', 'xmalloc', t); // the ring and the loop alone: what the handoff costs without an allocator
    for (const f of FLOORS) add(f, 'xmalloc', t); // what handing the blocks between the cores costs, without an allocator
  }
  return specs;
}

/** A measurement as the progress lines and the failures name it: its row's label (the report's), then its contender. */
function specLabel(s: Spec): string {
  return `${groupLabel(s, RANDOM_BLOCKS).padEnd(20)} ${s.contender.padEnd(18)}`;
}

// ------------------------------------------------------------------------------------------------ steps

const say = (s: string) => process.stdout.write(s + '\n');

function ensurePeers(): string | undefined {
  say('== dlmalloc wasm peer');
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'build-wasm-peers.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const st = dlmallocWasmStatus();
  if (r.status !== 0 || !st.ok) return `dlmalloc-wasm is not usable (${st.reason}): left out of this run`;
  return undefined;
}

interface NativeLine {
  allocator: string;
  workload: string;
  threads: number;
  ops: number;
  ns_per_op: number;
  thread_ns_per_op: number;
  ops_per_sec: number;
  peak_rss_bytes: number;
  peak_live_bytes: number;
  blocks?: number;
}

function runNative(): { rows: Row[]; note?: string } {
  say('\n== native: glibc and mimalloc (scripts/bench-native.sh)');
  const out = join(RESULTS, 'native.json');
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'bench-native.sh'), ...(full ? [] : ['--quick']), '--out', out], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, WEBMALLOC_BENCH_LOCK_HELD: '1' },
  });
  if (r.status !== 0 || !existsSync(out)) return { rows: [], note: 'the native step failed: no native figures in this run' };
  const lines = JSON.parse(readFileSync(out, 'utf8')) as NativeLine[];
  const rows: Row[] = lines.map((l) => ({
    source: 'native',
    contender: l.allocator,
    workload: l.workload,
    threads: l.threads,
    ...(l.blocks !== undefined ? { blocks: l.blocks } : {}),
    rounds: 1,
    opsPerRound: l.ops,
    nsPerOp: l.ns_per_op,
    bestNsPerOp: l.ns_per_op,
    spread: 0,
    opsPerSec: l.ops_per_sec,
    threadNsPerOp: l.thread_ns_per_op,
    memoryBytes: l.peak_rss_bytes,
    memoryKind: 'peak RSS of the process (includes the program itself, ~1 MiB)',
    peakLiveBytes: l.peak_live_bytes,
  }));
  const note = rows.some((x) => x.contender === 'mimalloc') ? undefined : 'mimalloc was not available: glibc only (see the messages above)';
  return { rows, ...(note ? { note } : {}) };
}

interface Failure {
  spec: Spec;
  error: string;
}

function measureInChild(spec: Spec): Result | Failure {
  const one = join(dirname(SELF), 'one.js');
  for (let attempt = 0; ; attempt++) {
    const r = spawnSync(process.execPath, [one, JSON.stringify(spec), mode], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
    const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
    if (r.status === 0 && line) return JSON.parse(line) as Result;
    const err = (r.error?.message ?? r.stderr ?? '').trim();
    // dist/ is rebuilt by others at times: a module seen half-written fails to link; try again once.
    if (attempt === 0 && /does not provide an export named|Cannot find module|ERR_MODULE_NOT_FOUND/.test(err)) continue;
    const lines = err.split('\n').filter((l) => l.trim() !== '');
    const msg = lines.find((l) => /Error|error/.test(l)) ?? lines[0] ?? `exit code ${String(r.status)}`;
    return { spec, error: msg.trim().slice(0, 300) };
  }
}

function runDropin(): { data?: unknown; note?: string } {
  const out = join(RESULTS, 'wasm-dropin.json');
  if (args['no-dropin'] === true) {
    if (!existsSync(out)) return { note: 'the wasm drop-in step was skipped (--no-dropin) and there is no earlier result' };
    const data = JSON.parse(readFileSync(out, 'utf8')) as { date?: string };
    return { data, note: `the wasm drop-in figures are from an earlier run (${data.date ?? 'date unknown'}): --no-dropin` };
  }
  say('\n== wasm drop-in: C programs linked with dlmalloc vs with webmalloc as malloc (wasm-dropin.js)');
  const r = spawnSync(process.execPath, [join(dirname(SELF), 'wasm-dropin.js'), ...(full ? [] : ['--quick']), '--out', out], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, WEBMALLOC_BENCH_LOCK_HELD: '1' },
  });
  if (r.status !== 0 || !existsSync(out)) return { note: 'the wasm drop-in step failed: no drop-in figures in this run' };
  return { data: JSON.parse(readFileSync(out, 'utf8')) };
}

/** Issue 3's bounded-memory cases and reclaim cost (blowup.js prints them and writes blowup.json). */
function runBlowup(): string | undefined {
  if (args['no-blowup'] === true) return 'the bounded-memory step was skipped (--no-blowup)';
  say('\n== bounded memory: producer/consumer, phases, a long random workload; reclaim cost (blowup.js)');
  const r = spawnSync(process.execPath, [join(dirname(SELF), 'blowup.js'), ...(full ? ['--full'] : [])], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return r.status === 0 ? undefined : 'the bounded-memory step failed';
}

function gitDescribe(): string {
  const r = spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

// ------------------------------------------------------------------------------------------------ report

type DropinRow = { workload: string; ratio: number; ratioUnchecked: number };
type DropinData = { summary?: { ratioGeomean: number; ratioUncheckedGeomean: number }; rows?: DropinRow[]; quick?: boolean; date?: string };

interface RunRecord {
  suite: string;
  mode: string;
  date: string;
  git: string;
  machine: ReturnType<typeof machineInfo> & { loadavgEnd: number[]; parallelScaling: Record<string, number> };
  settings: unknown;
  caps: Record<string, string>;
  minutes: number;
  notes: string[];
  targets: ReturnType<typeof evaluateTargets>;
  results: Row[];
  failures: Failure[];
  dropin: DropinData | null;
}

/** The console report and the files next to latest.json (latest.svg, latest.md, latest.txt). */
function report(run: RunRecord): void {
  const { machine, results: rows, targets, failures, notes } = run;
  const defaultBlocks = RANDOM_BLOCKS;
  const text: string[] = [renderTable(rows, defaultBlocks)];
  const dropinData = run.dropin;
  if (dropinData?.rows) {
    text.push('', 'wasm drop-in (the same C programs, malloc = webmalloc vs wasi-libc dlmalloc; time ratio, below 1x: webmalloc is faster):');
    for (const d of dropinData.rows) text.push(`  ${d.workload.padEnd(10)} checked ${d.ratio.toFixed(2)}x   unchecked ${d.ratioUnchecked.toFixed(2)}x`);
    if (dropinData.summary)
      text.push(`  geometric mean: checked ${dropinData.summary.ratioGeomean.toFixed(2)}x, unchecked ${dropinData.summary.ratioUncheckedGeomean.toFixed(2)}x`);
  }
  text.push('', 'Targets (issue 4), from ratios measured in this run:', renderTargets(targets));
  if (failures.length) {
    text.push('', `${failures.length} measurement(s) failed:`);
    for (const f of failures) text.push(`  ${specLabel(f.spec)} ${f.error}`);
  }
  for (const n of notes) text.push(`note: ${n}`);
  text.push(
    `${run.mode} run of ${run.date} (${run.git}) · ${machine.cpu}, ${machine.cores} cores · Node ${machine.node} · ` +
      `plain computation scaled ${machine.parallelScaling['2']}x on 2 workers · load average ${machine.loadavg.join(' ')} at the start, ` +
      `${machine.loadavgEnd.join(' ')} at the end · ${run.minutes.toFixed(1)} min`,
  );
  say('\n' + text.join('\n'));

  mkdirSync(RESULTS, { recursive: true });
  const title = `webmalloc benchmark (${run.mode}), ${run.date.slice(0, 10)} · ${machine.cpu}, ${machine.cores} cores · Node ${machine.node}`;
  writeFileSync(join(RESULTS, 'latest.svg'), renderSvg(rows, defaultBlocks, title));
  writeFileSync(join(RESULTS, 'latest.txt'), text.join('\n') + '\n');
  const md = [
    `<!-- written by npm run bench (${run.mode}) on ${run.date} -->`,
    `Machine: ${machine.cpu}, ${machine.cores} cores (${machine.platform}), Node ${machine.node}; load average ${machine.loadavg.join(' ')} at the start.`,
    `Plain computation scaled ${machine.parallelScaling['2']}x on 2 workers and ${machine.parallelScaling['4']}x on 4 during the run.`,
    '',
    '![ns per allocator call](bench/results/latest.svg)',
    '',
    'Time per allocator call (ns; ratio to webmalloc in parentheses, above 1x means webmalloc is faster):',
    '',
    renderMatrix(rows, defaultBlocks),
    '',
    'Memory at the peak (ratio to the bytes requested and live at the peak):',
    '',
    renderMemory(rows, defaultBlocks),
    '',
    'Targets:',
    '',
    renderTargetsMarkdown(targets),
    '',
    ...(dropinData?.summary
      ? [
          `wasm drop-in (C programs, webmalloc as malloc vs wasi-libc's dlmalloc, time ratio): geometric mean ${dropinData.summary.ratioGeomean.toFixed(2)}x checked, ${dropinData.summary.ratioUncheckedGeomean.toFixed(2)}x unchecked.`,
          '',
        ]
      : []),
    ...notes.map((n) => `Note: ${n}`),
    '',
  ].join('\n');
  writeFileSync(join(RESULTS, 'latest.md'), md);
  say(`\nwrote bench/results/latest.json, latest.svg, latest.md, latest.txt`);
}

/** One pass over the JS measurements, in `specs`' order, with progress on the console. */
function measureJs(specs: Spec[], failures: Failure[]): Row[] {
  say(`\n== JS: ${specs.length} measurements, each in a fresh process (${mode}: ${JSON.stringify(full ? FULL : QUICK)})`);
  const results: Row[] = [];
  specs.forEach((spec, i) => {
    const started = performance.now();
    process.stdout.write(`[${String(i + 1).padStart(3)}/${specs.length}] ${specLabel(spec)} `);
    const r = measureInChild(spec);
    const secs = ((performance.now() - started) / 1000).toFixed(1);
    if ('error' in r) {
      failures.push(r);
      say(`FAILED: ${r.error} (${secs} s)`);
      return;
    }
    results.push({ ...r, source: 'js' });
    const good = !r.check || (r.check.ok && r.check.liveBlocksAfter === 0);
    if (!good) failures.push({ spec, error: `heap check after the run: ${JSON.stringify(r.check)}` });
    const check = r.check ? (good ? '  check ok' : `  CHECK FAILED: ${JSON.stringify(r.check)}`) : '';
    say(
      `${fmtTime(r.nsPerOp).padStart(10)}/op  ${(r.opsPerSec / 1e6).toFixed(1).padStart(6)} Mops/s  ${fmtBytes(r.memoryBytes).padStart(9)}` +
        `  ±${(r.spread * 50).toFixed(0)}%${check}  (${secs} s)`,
    );
  });
  return results;
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const t0 = performance.now();
  const git = gitDescribe(); // before any step writes to bench/results (which would make it read -dirty)
  const machine = machineInfo();
  say(`webmalloc benchmark (${mode}) · ${machine.cpu}, ${machine.cores} cores · Node ${machine.node} · load ${machine.loadavg.join(' ')}`);
  const notes: string[] = [];
  const peerNote = ensurePeers();
  if (peerNote) notes.push(peerNote);

  say('\n== this machine: plain computation on 1, 2 and 4 workers');
  const scaling = await parallelScaling(full ? 5 : 3, full ? 8e7 : 4e7);
  say(`   throughput with 2 workers: ${scaling['2']}x of one; with 4: ${scaling['4']}x (a free 2-core machine gives ~2x)`);

  const specs = plan().filter((s) => !(peerNote && s.contender === 'dlmalloc-wasm'));
  const failures: Failure[] = [];
  const passes: Row[][] = [];
  let nativeNote: string | undefined;
  for (let pass = 0; pass < PASSES; pass++) {
    if (PASSES > 1) say(`\n==== pass ${pass + 1} of ${PASSES}`);
    const native = args['no-native'] === true ? { rows: [] as Row[], note: 'native step skipped (--no-native)' } : runNative();
    nativeNote = native.note;
    const order = pass % 2 === 0 ? specs : [...specs].reverse();
    passes.push([...measureJs(order, failures), ...native.rows]);
  }
  if (nativeNote) notes.push(nativeNote);
  if (PASSES > 1) {
    notes.push(
      `each figure is the median of ${PASSES} passes over the native and JS measurements (the JS ones in alternating order); latest.json keeps every pass's time (passNsPerOp)`,
    );
  }

  const dropin = runDropin();
  if (dropin.note) notes.push(dropin.note);
  const blowupNote = runBlowup();
  if (blowupNote) notes.push(blowupNote);

  // Order: the JS plan's order, native rows joining their groups.
  const rows: Row[] = medianOfPasses(passes);
  const run: RunRecord = {
    suite: 'webmalloc benchmark (issue 4)',
    mode,
    date: new Date().toISOString(),
    git,
    machine: { ...machine, loadavgEnd: loadavg().map((x) => Number(x.toFixed(2))), parallelScaling: scaling },
    settings: full ? FULL : QUICK,
    caps: { 'thing-malloc': `random-512 and random-64k run at ${THING_CAP} live blocks (every contender also runs those capped rows)` },
    minutes: Number(((performance.now() - t0) / 60000).toFixed(2)),
    notes,
    targets: evaluateTargets(rows, { parallelScaling: scaling, thingCap: THING_CAP, defaultBlocks: RANDOM_BLOCKS }),
    results: rows,
    failures,
    dropin: (dropin.data as DropinData | undefined) ?? null,
  };
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(run, null, 2) + '\n');
  report(run);
  process.exitCode = failures.length ? 1 : 0;
}

if (args.render === true) {
  // Re-render the report and its files from bench/results/latest.json (no measurement, no lock needed).
  const run = JSON.parse(readFileSync(join(RESULTS, 'latest.json'), 'utf8')) as RunRecord;
  run.targets = evaluateTargets(run.results, { parallelScaling: run.machine.parallelScaling, thingCap: THING_CAP, defaultBlocks: RANDOM_BLOCKS });
  report(run);
} else {
  await main();
}
