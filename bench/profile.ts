// Where a measurement spends its time, down to the instruction: one measurement (one.ts, full mode) run under
// `perf record` (the cpu-clock event: this machine's virtual CPUs expose no hardware counters), with V8
// writing its compiled code out (--perf-prof), so that JS and wasm functions are named in the report:
//
//   npm run bench:profile -- xmalloc [--threads 2] [--contender webmalloc] [--annotate 3]
//
// Prints the functions with the most samples (all threads together), then, for the hottest `--annotate`
// compiled JS or wasm functions, the instructions that took the most of that function's samples. Where a
// sample lands tells what the CPU was waiting on: a load, a locked instruction (which waits for the loads
// and stores before it), or a spread of samples over many instructions when a path is simply long. The
// wasm functions of webmalloc's module (wasmops.ts) are named by their exports (V8 names them by index).
// perf is installed with apt-get when it is missing and the machine allows it; else the script says so and
// stops. It holds the benchmark lock (lock.ts).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureInstalled } from './apt.js';
import { countOf, nameOf, readArgs, usageError } from './args.js';
import { ALL_CONTENDERS } from './contenders.js';
import { rerunUnderBenchLock } from './lock.js';
import { ALL_WORKLOADS } from './workloads.js';

const SELF = fileURLToPath(import.meta.url);
const ONE = fileURLToPath(new URL('./one.js', import.meta.url));
/** Samples per second per CPU. */
const FREQUENCY = 5000;

/** The exported functions of a wasm module by their function index (imports counted first): `index → name`. */
export function wasmExportNames(bytes: Uint8Array): Map<number, string> {
  let at = 8; // magic and version
  const u32 = (): number => {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  const name = (): string => {
    const n = u32();
    const s = new TextDecoder().decode(bytes.subarray(at, at + n));
    at += n;
    return s;
  };
  const names = new Map<number, string>();
  while (at < bytes.length) {
    const id = bytes[at++]!;
    const size = u32();
    const end = at + size;
    if (id === 7) {
      for (let count = u32(); count > 0; count--) {
        const exported = name();
        const kind = bytes[at++]!;
        const index = u32();
        if (kind === 0 && !names.has(index)) names.set(index, exported); // a function exported twice: its first name
      }
    }
    at = end;
  }
  return names;
}

/** webmalloc's wasm functions (wasmops.ts's module), by index. */
export async function wasmopsNames(): Promise<Map<number, string>> {
  const { wasmOpsBytes } = (await import(new URL('../../dist/wasmops.js', import.meta.url).href)) as { wasmOpsBytes(shared: boolean): Uint8Array<ArrayBuffer> };
  return wasmExportNames(wasmOpsBytes(true));
}

/** A symbol of perf's report made readable: V8's `JS:*name file:///…/dist/x.js:12:3` as `name (dist/x.js:12)`. */
export function readable(symbol: string, wasm: Map<number, string>): string {
  const w = /^JS:wasm-function\[(\d+)\]/.exec(symbol);
  if (w) return `wasm ${wasm.get(Number(w[1])) ?? `function ${w[1]}`} (wasm-function[${w[1]}])`;
  const js = /^JS:[*~^]?(\S*) file:\/\/\/\S*?\/((?:dist|build)\/\S+?):(\d+):\d+$/.exec(symbol);
  if (js) return `${js[1] || '(anonymous)'} (${js[2]}:${js[3]})`;
  return symbol;
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.slice(0, 3).join(' ')} failed:\n${(r.stderr ?? '').slice(-2000)}`);
  return r.stdout;
}

const USAGE = 'npm run bench:profile -- <workload> [--threads N] [--contender NAME] [--annotate K]';

if (process.argv[1] === SELF) {
  const argv = process.argv.slice(2);
  const { values: args, positionals } = readArgs(
    argv,
    { threads: { type: 'string' }, contender: { type: 'string' }, annotate: { type: 'string' } },
    USAGE,
    true,
  );
  if (positionals.length !== 1) usageError(positionals.length === 0 ? 'which workload?' : `one workload at a time, not "${positionals.join(' ')}"`, USAGE);
  const workload = nameOf(positionals[0], ALL_WORKLOADS, USAGE)!;
  const contender = nameOf(args.contender, ALL_CONTENDERS, USAGE) ?? 'webmalloc';
  const spec = { contender, workload, threads: countOf(args.threads, 1, 'threads', USAGE) };
  const annotate = countOf(args.annotate, 3, 'annotate', USAGE, 0);
  const status = rerunUnderBenchLock(SELF, argv, 1800);
  if (status !== undefined) process.exit(status);
  ensureInstalled('perf', ['version'], 'linux-perf', 'bench:profile');
  // Named only when webmalloc runs: a peer's wasm functions are numbered too.
  const wasm = spec.contender.startsWith('webmalloc') ? await wasmopsNames() : new Map<number, string>();
  // V8 writes its code maps (jit-*.dump) into the working directory: a directory of our own.
  const dir = mkdtempSync(join(tmpdir(), 'webmalloc-profile-'));
  try {
    console.log(`profiling ${JSON.stringify(spec)} (one.js full mode, perf record -e cpu-clock -F ${FREQUENCY})...`);
    const result = run(
      'perf',
      ['record', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-k', 'mono', '-o', 'perf.data', process.execPath, '--perf-prof', ONE, JSON.stringify(spec), 'full'],
      dir,
    );
    const measured = JSON.parse(result.trim().split('\n').at(-1)!) as { nsPerOp: number };
    console.log(`measured meanwhile: ${measured.nsPerOp.toFixed(2)} ns per call (perf's sampling slows it somewhat)\n`);
    run('perf', ['inject', '--jit', '-i', 'perf.data', '-o', 'jit.data'], dir);
    const report = run('perf', ['report', '-i', 'jit.data', '--stdio', '--sort', 'sym', '--percent-limit', '0.5'], dir);
    const rows = [...report.matchAll(/^\s+([\d.]+)%\s+\[[.k]\]\s+(.+?)\s*$/gm)].map((m) => ({ percent: Number(m[1]), symbol: m[2]! }));
    console.log('share of all samples (every thread), by function:');
    for (const r of rows.slice(0, 20)) console.log(`${r.percent.toFixed(2).padStart(7)}%  ${readable(r.symbol, wasm)}`);
    // A function compiled more than once (the benchmark recompiles its bodies: placement.ts) has one symbol for
    // all its code objects: each is annotated on its own, and the one with the most samples shown.
    const seen = new Set<string>();
    for (const r of rows.filter((r) => r.symbol.startsWith('JS:') && /turbofan|^JS:\*/.test(r.symbol))) {
      if (seen.has(r.symbol)) continue;
      seen.add(r.symbol);
      if (seen.size > annotate) break;
      const text = run('perf', ['annotate', '-i', 'jit.data', '--stdio', '-s', r.symbol], dir);
      const objects = text.split(/^(?=\s*Percent \|)/m).filter((b) => /Percent \|/.test(b));
      const samples = (b: string) => Number(/\((\d+) samples/.exec(b)?.[1] ?? 0);
      const busiest = objects.sort((a, b) => samples(b) - samples(a))[0] ?? '';
      const lines = [...busiest.matchAll(/^\s+([\d.]+)\s+:\s+([0-9a-f]+):\s+(.+?)\s*$/gm)].map((m) => ({
        percent: Number(m[1]),
        offset: m[2]!,
        instruction: m[3]!.replace(/\s+/g, ' ').replace(/ <.*$/, '').replace(/ ;;.*$/, ''),
      }));
      const hottest = lines.map((l, i) => ({ ...l, before: lines[i - 1]?.instruction ?? '' })).sort((a, b) => b.percent - a.percent);
      const share = objects.length > 1 ? `; of its ${objects.length} compiled copies, the busiest (${samples(busiest)} samples)` : '';
      console.log(`\n${readable(r.symbol, wasm)}: ${r.percent.toFixed(2)}% of all samples${share}. Its hottest instructions, each after the one before it (a sample lands on the instruction after one that waits):`);
      for (const l of hottest.slice(0, 8).filter((l) => l.percent > 0)) console.log(`${l.percent.toFixed(2).padStart(7)}%  +0x${l.offset.padEnd(5)} ${l.before.padEnd(40)} | ${l.instruction}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
