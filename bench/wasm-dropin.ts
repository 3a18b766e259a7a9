// The wasm drop-in benchmark (issue 5): the same C programs (test/wasm/workloads.c and stress.c, built by
// scripts/build-wasm-tests.sh) linked once with wasi-libc's own malloc (dlmalloc, inside the module) and once
// with wasm/webmalloc.c (every malloc and free is a call into webmalloc in JS). Each program times its own work
// (clock_gettime around each workload), so instantiation and compilation are not counted.
//
//   node build/bench/wasm-dropin.js [--quick] [--runs N] [--out FILE]
//
// Every measurement is a fresh Node process; each (workload, allocator) pair runs N times (default 5, --quick
// 3 with a tenth of the work) and the median is kept. Prints a table with the time ratio webmalloc / dlmalloc
// (checked mode, the drop-in's default, and unchecked) and writes bench/results/wasm-dropin.json.
// Holds the benchmark lock (${TMPDIR:-/tmp}/webmalloc-bench.lock) while it measures.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countOf, readArgs } from './args.js';
import { rerunUnderBenchLock } from './lock.js';
import { median } from './report.js';

const SELF = fileURLToPath(import.meta.url);

function repoRoot(): string {
  let dir = dirname(SELF);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'webmalloc') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the webmalloc repository above ' + SELF);
    dir = up;
  }
}

const ROOT = repoRoot();
const PREBUILT = join(ROOT, 'test', 'wasm', 'prebuilt');

type Variant = 'dlmalloc' | 'webmalloc' | 'webmalloc-unchecked';
const VARIANTS: Variant[] = ['dlmalloc', 'webmalloc', 'webmalloc-unchecked'];

// ------------------------------------------------------------------------------------------------ child mode
// node wasm-dropin.js --child VARIANT program.wasm args...: runs one program and passes its output through.

async function child(variant: Variant, wasmPath: string, args: string[]): Promise<number> {
  const bytes = readFileSync(wasmPath);
  if (variant === 'dlmalloc') {
    const { WASI } = await import('node:wasi');
    const wasi = new WASI({ version: 'preview1', args: ['program', ...args], env: {}, returnOnExit: true });
    const imports: WebAssembly.ModuleImports = {};
    for (const [k, f] of Object.entries(wasi.wasiImport as Record<string, (...a: unknown[]) => unknown>)) imports[k] = (...a: unknown[]) => f(...a);
    const instance = await WebAssembly.instantiate(bytes, { wasi_snapshot_preview1: imports });
    return wasi.start(instance.instance) ?? 0;
  }
  const { runWasi } = (await import(new URL('dist/wasm/wasi.js', `file://${ROOT}/`).href)) as typeof import('../dist/wasm/wasi.js');
  const r = await runWasi(bytes, { args, checked: variant === 'webmalloc' });
  return r.exitCode;
}

// ------------------------------------------------------------------------------------------------ parent

interface Sample {
  workload: string;
  operations: number;
  ms: number;
}

function runOnce(variant: Variant, program: string, args: string[]): Sample[] {
  const wasmName = variant === 'dlmalloc' ? `${program}.dlmalloc.wasm` : `${program}.wasm`;
  const out = execFileSync(process.execPath, ['--no-warnings', SELF, '--child', variant, join(PREBUILT, wasmName), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { workload?: string; program?: string; operations: number; ms: number; errors?: number })
    .map((j) => {
      if (j.errors) throw new Error(`${program} reported ${j.errors} errors`);
      return { workload: j.workload ?? j.program ?? program, operations: j.operations, ms: j.ms };
    });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const usage = 'npm run bench:wasm -- [--quick] [--runs N] [--out FILE]';
  const { values: args } = readArgs(argv, { quick: { type: 'boolean' }, runs: { type: 'string' }, out: { type: 'string' } }, usage);
  const quick = args.quick === true;
  const runs = countOf(args.runs, quick ? 3 : 5, 'runs', usage);
  const outFile = args.out ?? join(ROOT, 'bench', 'results', 'wasm-dropin.json');

  const status = rerunUnderBenchLock(SELF, argv, 900);
  if (status !== undefined) {
    process.exitCode = status;
    return;
  }

  execFileSync('bash', [join(ROOT, 'scripts', 'build-wasm-tests.sh'), 'workloads.wasm', 'workloads.dlmalloc.wasm', 'stress.wasm', 'stress.dlmalloc.wasm'], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const record = JSON.parse(readFileSync(join(PREBUILT, 'build.json'), 'utf8')) as { targets: Record<string, { toolchain: string }> };

  const workloads = ['pairs', 'batch', 'tree', 'strings', 'mixed', 'realloc'];
  const plan: { program: string; name: string; args: string[] }[] = [
    ...workloads.map((w) => ({ program: 'workloads', name: w, args: [...(quick ? ['--quick'] : []), w] })),
    { program: 'stress', name: 'stress', args: ['1', quick ? '50000' : '300000', '2000'] },
  ];

  const samples: Record<string, Record<Variant, number[]>> = {};
  const operations: Record<string, number> = {};
  console.log(`wasm drop-in: ${runs} runs per cell${quick ? ' (quick)' : ''}; C-timed ms, median`);
  for (const item of plan) {
    samples[item.name] = { dlmalloc: [], webmalloc: [], 'webmalloc-unchecked': [] };
    for (let r = 0; r < runs; r++) {
      for (const v of VARIANTS) {
        const got = runOnce(v, item.program, item.args);
        const s = got.find((x) => x.workload === item.name) ?? got[0];
        samples[item.name][v].push(s.ms);
        operations[item.name] = s.operations;
      }
    }
    const m = (v: Variant) => median(samples[item.name][v]);
    console.log(
      `  ${item.name.padEnd(8)} dlmalloc ${m('dlmalloc').toFixed(1).padStart(8)} ms  webmalloc ${m('webmalloc').toFixed(1).padStart(8)} ms` +
        ` (${(m('webmalloc') / m('dlmalloc')).toFixed(2)}x)  unchecked ${m('webmalloc-unchecked').toFixed(1).padStart(8)} ms` +
        ` (${(m('webmalloc-unchecked') / m('dlmalloc')).toFixed(2)}x)`,
    );
  }

  const rows = plan.map(({ name }) => {
    const s = samples[name];
    const dl = median(s.dlmalloc);
    const wm = median(s.webmalloc);
    const wu = median(s['webmalloc-unchecked']);
    return {
      workload: name,
      operations: operations[name],
      dlmallocMs: dl,
      webmallocMs: wm,
      webmallocUncheckedMs: wu,
      ratio: wm / dl,
      ratioUnchecked: wu / dl,
      dlmallocNsPerOp: (dl * 1e6) / operations[name],
      webmallocNsPerOp: (wm * 1e6) / operations[name],
      webmallocUncheckedNsPerOp: (wu * 1e6) / operations[name],
      samples: s,
    };
  });
  const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
  const summary = { ratioGeomean: geomean(rows.map((r) => r.ratio)), ratioUncheckedGeomean: geomean(rows.map((r) => r.ratioUnchecked)) };

  console.log('');
  console.log('| workload | allocation calls | dlmalloc ms | webmalloc ms | ratio | webmalloc unchecked ms | ratio |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.workload} | ${r.operations} | ${r.dlmallocMs.toFixed(1)} | ${r.webmallocMs.toFixed(1)} | ${r.ratio.toFixed(2)}x | ` +
        `${r.webmallocUncheckedMs.toFixed(1)} | ${r.ratioUnchecked.toFixed(2)}x |`,
    );
  }
  console.log(`| geometric mean | | | | ${summary.ratioGeomean.toFixed(2)}x | | ${summary.ratioUncheckedGeomean.toFixed(2)}x |`);

  const result = {
    benchmark: 'wasm-dropin',
    description:
      'the same C programs (test/wasm/workloads.c, stress.c) linked with wasi-libc dlmalloc vs wasm/webmalloc.c; ' +
      'times measured inside the program (clock_gettime); ratio = webmalloc / dlmalloc (lower is better)',
    date: new Date().toISOString(),
    node: process.version,
    quick,
    runs,
    toolchain: record.targets['workloads.wasm']?.toolchain,
    summary,
    rows,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${outFile}`);
}

// ------------------------------------------------------------------------------------------------ entry

if (process.argv[2] === '--child') {
  process.removeAllListeners('warning');
  const [variant, wasmPath, ...args] = process.argv.slice(3);
  process.exitCode = await child(variant as Variant, wasmPath, args);
} else {
  await main();
}
