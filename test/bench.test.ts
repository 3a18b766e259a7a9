// The benchmark suite cannot rot: every workload runs once, at a tiny size, for every contender it is
// measured with (in this process, not one process each as `npm run bench` does), and must give a sane time;
// webmalloc's heap must pass check() after each workload with every block freed. The report (table, targets,
// chart) is built from those results, and the native C workloads compile and run.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONTENDERS, makeContender, type ContenderName } from '../bench/contenders.js';
import { FLOOR_BYTES, FLOOR_CLASSES_MAX, FLOOR_SINGLE, FloorAllocator, FloorClasses, floorClassOf, floorClassSize, FloorList, FLOORS, singleFloorOf } from '../bench/floors.js';
import { measure, TINY, turnsScaling, type Result, type Spec } from '../bench/measure.js';
import { dlmallocWasmStatus } from '../bench/peers/dlmalloc-wasm.js';
import { parsePerfMap, perCallDifference, selfCostByFunction } from '../bench/callgrind.js';
import { wasmExportNames } from '../bench/profile.js';
import { recompile } from '../bench/placement.js';
import { PHASE_CONTENDERS, timePhases } from '../bench/phases.js';
import { repoRoot } from '../bench/peers/types.js';
import { evaluateTargets, medianOfPasses, renderMatrix, renderMemory, renderSvg, renderTable, renderTargets, type Row } from '../bench/report.js';
import { larsonBody, PARALLEL_WORKLOADS, primeBody, RANDOM_BLOCKS, singleBody, SINGLE_WORKLOADS, xmLocal, type Body, type WorkloadName } from '../bench/workloads.js';

const results: Row[] = [];
/** Tiny live-block counts for the random workloads (the benchmark's are 100,000 and 10,000). */
const TINY_BLOCKS: Record<string, number> = { 'random-512': 1000, 'random-64k': 200 };

function assertSane(r: Result, spec: Spec): void {
  const what = `${spec.contender} on ${spec.workload} x${spec.threads}`;
  assert.equal(r.contender, spec.contender);
  assert.equal(r.workload, spec.workload);
  assert.equal(r.threads, spec.threads);
  assert.ok(r.opsPerRound > 0, `${what}: made allocator calls`);
  assert.ok(Number.isFinite(r.nsPerOp) && r.nsPerOp > 0, `${what}: ns/op ${r.nsPerOp}`);
  assert.ok(r.nsPerOp < 1e8, `${what}: ns/op ${r.nsPerOp} is not sane`);
  assert.ok(Math.abs(r.opsPerSec * r.nsPerOp - 1e9) < 1, `${what}: ops/s agrees with ns/op`);
  assert.ok(r.peakLiveBytes > 0, `${what}: the memory round saw live bytes`);
  // plain-js's figure is the JS heap's growth, which a collection during the run can make 0
  if (spec.contender === 'plain-js' || spec.contender === 'none') assert.ok(r.memoryBytes >= 0, `${what}: memory ${r.memoryBytes}`);
  else assert.ok(r.memoryBytes > 0, `${what}: memory ${r.memoryBytes}`);
  if (spec.contender === 'webmalloc' || spec.contender === 'webmalloc-checked') {
    assert.ok(r.check, `${what}: the heap was checked`);
    assert.deepEqual(r.check.errors, [], `${what}: check() errors`);
    assert.ok(r.check.ok, `${what}: check() passes`);
    assert.equal(r.check.liveBlocksAfter, 0, `${what}: every block was freed`);
    assert.ok(r.memoryBytes >= r.peakLiveBytes, `${what}: the heap holds its live bytes`);
  }
}

async function run(spec: Spec): Promise<void> {
  const r = await measure(spec, TINY);
  assertSane(r, spec);
  results.push({ ...r, source: 'js' });
}

describe('benchmark workloads at a tiny size', () => {
  it('the dlmalloc wasm peer is the recorded build of its source', () => {
    const st = dlmallocWasmStatus();
    assert.ok(st.ok, st.reason);
  });

  for (const w of SINGLE_WORKLOADS) {
    it(`${w}: every contender`, async () => {
      for (const c of CONTENDERS) {
        const blocks = TINY_BLOCKS[w];
        await run({ contender: c, workload: w, threads: 1, ...(blocks ? { blocks } : {}) });
      }
      const floor = singleFloorOf(w);
      if (floor) await run({ contender: floor, workload: w, threads: 1, ...(TINY_BLOCKS[w] ? { blocks: TINY_BLOCKS[w] } : {}) });
    });
  }

  it('single-thread workloads with 2 and 4 workers, each on blocks of its own (webmalloc: one heap; peers: an instance per worker)', async () => {
    for (const w of PARALLEL_WORKLOADS) {
      const blocks = TINY_BLOCKS[w];
      const one = results.find((r) => r.contender === 'webmalloc' && r.workload === w && r.threads === 1 && r.blocks === blocks);
      assert.ok(one, `${w}: measured with one thread above`);
      for (const c of ['webmalloc', 'webmalloc-checked', 'dlmalloc-wasm'] as const) {
        await run({ contender: c, workload: w, threads: 2, ...(blocks ? { blocks } : {}) });
        // Every worker ran the whole workload: the same requests (one seed), so twice the bytes live at the peak.
        assert.equal(results[results.length - 1]!.peakLiveBytes, 2 * one.peakLiveBytes, `${c} on ${w} x2: each worker's blocks live at once`);
      }
      await run({ contender: 'webmalloc', workload: w, threads: 4, ...(blocks ? { blocks } : {}) });
      assert.equal(results[results.length - 1]!.peakLiveBytes, 4 * one.peakLiveBytes, `webmalloc on ${w} x4`);
    }
  });

  it('larson with 1, 2 and 4 workers (peers: an instance per worker)', async () => {
    for (const t of [1, 2]) for (const c of CONTENDERS) await run({ contender: c, workload: 'larson', threads: t });
    await run({ contender: 'webmalloc', workload: 'larson', threads: 4 });
  });

  it('larson-turns: rounds of one worker and of two taking turns, and the scaling between them', async () => {
    for (const c of ['webmalloc', 'dlmalloc-wasm'] as const) {
      await run({ contender: c, workload: 'larson-turns', threads: 2 });
      const r = results[results.length - 1]!;
      assert.ok(r.alone && r.alone.rounds >= 2 && r.alone.nsPerOp > 0, `${c}: the one-worker rounds were timed, each worker alone at least once`);
      // the same reps per worker: a round of one worker makes half the calls of a round of two (the other sat out)
      assert.equal(r.opsPerRound, 2 * r.alone.opsPerRound, `${c}: calls per round, two workers and one`);
      assert.ok(r.scaling !== undefined && Number.isFinite(r.scaling) && r.scaling > 0, `${c}: scaling ${r.scaling}`);
    }
  });

  it('a body compiled anew for another code placement is optimized again and still runs its workload', () => {
    const a = makeContender('webmalloc');
    const body = singleBody('pairs-64', a);
    primeBody(body);
    for (let i = 0; i < 20; i++) body(1);
    recompile(body);
    const status = new Function('f', 'return %GetOptimizationStatus(f);') as (f: Body) => number;
    assert.ok((status(body) & 16) !== 0, `optimized after recompile (status ${status(body).toString(2)})`);
    assert.equal(body(1), 20_000, 'a rep: 10,000 pairs');
  });

  it("larson-turns' scaling weighs each worker alone alike: one slower worker does not pass for poor scaling", () => {
    // Rounds of 100 calls alone (worker 0 at 10 ns, worker 1 at 12, taking turns) and of 200 calls by both.
    const alone = [1000, 1200, 1000, 1200];
    const all = [1100, 1100, 1100, 1100];
    const s = turnsScaling(alone, 100, all, 200, 2);
    const w0 = 200 / 1100 / (100 / 1000);
    const w1 = 200 / 1100 / (100 / 1200);
    assert.ok(Math.abs(s - 2 / (1 / w0 + 1 / w1)) < 1e-12, `the harmonic mean of the workers' ratios: ${s}`);
    assert.ok(s > w0 && s < w1);
    // Workers alike: the plain ratio of throughputs; each worker's figure is the median of its own pairs.
    assert.ok(Math.abs(turnsScaling([1000, 1000, 1000, 1000, 9000, 1000], 100, [1100, 1100, 1100, 1100, 1100, 1100], 200, 2) - w0) < 1e-12);
  });

  it('xmalloc: producer/consumer across workers, its thread-local baseline, the ring alone, and the floors', async () => {
    for (const c of ['webmalloc', 'webmalloc-checked'] as ContenderName[]) {
      await run({ contender: c, workload: 'xmalloc', threads: 2 });
      await run({ contender: c, workload: 'xmalloc-local', threads: 2 });
    }
    await run({ contender: 'webmalloc', workload: 'xmalloc', threads: 4 });
    await run({ contender: 'none', workload: 'xmalloc', threads: 2 });
    for (const f of FLOORS) await run({ contender: f, workload: 'xmalloc', threads: 2 });
    await assert.rejects(measure({ contender: 'floor-batch', workload: 'pairs-64', threads: 1 }, TINY), /xmalloc only/);
  });

  it('the floors hand out distinct 256-byte blocks, and each gives a freed block back its own way', () => {
    for (const name of FLOORS) {
      const memory = new SharedArrayBuffer(FLOOR_BYTES);
      const producer = new FloorAllocator(name, memory);
      const consumer = new FloorAllocator(name, memory);
      const words = new Int32Array(memory);
      const live = new Set<number>();
      const freed: number[] = [];
      for (let round = 0; round < 40; round++) {
        const got: number[] = [];
        for (let i = 0; i < 300; i++) {
          const p = producer.malloc(1 + ((round * 300 + i) % 256));
          assert.ok(p > 0 && p % 16 === 0 && p + 256 <= FLOOR_BYTES, `${name}: block at ${p}`);
          assert.ok(!live.has(p), `${name}: ${p} is handed out twice`);
          live.add(p);
          got.push(p);
        }
        for (const p of got) {
          consumer.free(p);
          live.delete(p);
          freed.push(p);
          if (name === 'floor') assert.equal(words[p >>> 2], p, 'floor: free wrote the link');
        }
      }
      const reused = new Set(freed).size < freed.length;
      assert.equal(reused, name !== 'floor', `${name}: freed blocks come back (or, floor, do not)`);
      assert.equal(producer.malloc(257), 0, `${name}: more than a block`);
    }
    // floor comes round its ring: after FLOOR_BYTES / 256 blocks, the first again
    const f = new FloorAllocator('floor', new SharedArrayBuffer(FLOOR_BYTES));
    const first = f.malloc(16);
    let again = 0;
    for (let i = 0; i < FLOOR_BYTES / 256 && again === 0; i++) if (f.malloc(16) === first) again = i + 1;
    assert.ok(again > 0 && again < FLOOR_BYTES / 256, 'round the ring');
  });

  it("the single-thread floor hands out distinct slots of one size, the last freed first, and refuses a larger one", () => {
    const f = new FloorList();
    const a = f.malloc(40); // slots of 48 bytes
    const b = f.malloc(48);
    assert.ok(a > 0 && b > 0 && a % 16 === 0 && Math.abs(b - a) === 48, `slots at ${a} and ${b}`);
    f.free(a);
    f.free(b);
    assert.equal(f.malloc(8), b, 'the last freed first');
    assert.equal(f.malloc(8), a);
    const c = f.malloc(48);
    assert.ok(c !== a && c !== b && c > 0, 'then a fresh slot');
    assert.throws(() => f.malloc(49), /one size: 48 bytes, asked for 49/);
    f.free(c);
    assert.throws(() => f.malloc(49), /one size/, 'not even from the list');
    let n = 0;
    while (f.malloc(48) !== 0) n++;
    assert.ok(n > FLOOR_BYTES / 48 - 8 && n < FLOOR_BYTES / 48, `0 when its memory is used up (${n} slots)`);
  });

  it('the random sizes\' floor: classes that fit each request, blocks that do not overlap, a freed block back to its own class', () => {
    // The classes: every size up to the largest in the smallest class that holds it, 16-byte aligned sizes.
    let prev = 0;
    for (let size = 1; size <= FLOOR_CLASSES_MAX; size++) {
      const c = floorClassOf(size);
      const bytes = floorClassSize(c);
      assert.ok(bytes >= size && bytes % 16 === 0 && c <= 80, `size ${size}: class ${c} of ${bytes} bytes`);
      if (c !== prev) {
        assert.equal(c, prev + 1, `size ${size}: classes in order, none skipped`);
        assert.equal(floorClassSize(prev), size - 1, `size ${size}: class ${prev} held up to the size before`);
        prev = c;
      }
    }
    assert.ok(floorClassSize(floorClassOf(1025)) <= 1025 * 1.125 && floorClassSize(floorClassOf(40000)) <= 40000 * 1.125, 'eight classes per doubling');

    const f = new FloorClasses(64 << 20);
    const sizes = [8, 16, 17, 500, 1024, 1025, 4000, 65536, 8, 3000];
    const blocks = sizes.map((n) => [f.malloc(n), floorClassSize(floorClassOf(n))] as const);
    const sorted = [...blocks].sort((a, b) => a[0] - b[0]);
    for (const [i, [p]] of sorted.entries()) {
      assert.ok(p > 0 && p % 16 === 0, `block at ${p}`);
      if (i > 0) assert.ok(sorted[i - 1]![0] + sorted[i - 1]![1] <= p, `blocks at ${sorted[i - 1]![0]} and ${p} do not overlap`);
    }
    // 8, 16 and 8 bytes again: one class, its blocks side by side
    assert.deepEqual([blocks[1]![0] - blocks[0]![0], blocks[8]![0] - blocks[1]![0]], [16, 16], "a class's blocks lie together");
    f.free(blocks[3]![0]); // 500 bytes
    f.free(blocks[6]![0]); // 4000 bytes
    assert.equal(f.malloc(4000), blocks[6]![0], 'back to its class');
    assert.equal(f.malloc(497), blocks[3]![0], 'any size of the class (497..512 bytes)');
    assert.notEqual(f.malloc(500), blocks[3]![0], 'then a fresh block');
    assert.equal(f.malloc(FLOOR_CLASSES_MAX + 1), 0, 'nothing above the largest class');
    let n = 0;
    while (f.malloc(65536) !== 0) n++;
    assert.ok(n > 900 && n < 1024, `0 when its memory is used up (${n} more blocks of 64 KiB)`);
    assert.ok(f.footprint() <= 64 << 20);
  });

  it('a body run with no work (as primeBody does before timing it) calls no allocator method', () => {
    const a = makeContender('webmalloc');
    let calls = 0;
    const counted = new Proxy(a, {
      get(target, key) {
        const v: unknown = Reflect.get(target, key);
        if (typeof v !== 'function') return v;
        const f = v as (...args: unknown[]) => unknown;
        if (key === 'malloc' || key === 'free' || key === 'calloc' || key === 'realloc' || key === 'alignedAlloc') {
          return (...args: unknown[]) => {
            calls++;
            return f.apply(target, args);
          };
        }
        return f.bind(target);
      },
    });
    const bodies: [string, Body][] = SINGLE_WORKLOADS.map((w) => [w, singleBody(w, counted, TINY_BLOCKS[w])]);
    const larson = larsonBody(counted, 0);
    bodies.push(['larson', larson.run], ['xmalloc-local', xmLocal(counted, 0)]);
    const setUp = calls;
    for (const [name, body] of bodies) {
      assert.equal(body(0), 0, `${name}: no calls counted`);
      primeBody(body);
      assert.equal(calls, setUp, `${name}: no allocator call`);
    }
    larson.release();
    assert.ok(calls > setUp, 'the counting wrapper sees the calls');
  });

  it('refuses what cannot run: xmalloc on a peer that cannot be shared, a floor with several workers on its own workload', async () => {
    await assert.rejects(measure({ contender: 'dlmalloc-wasm', workload: 'xmalloc', threads: 2 }, TINY));
    await assert.rejects(measure({ contender: 'floor-list', workload: 'pairs-64' as WorkloadName, threads: 2 }, TINY), /xmalloc only/);
  });

  it('bench/phases.ts times both phases of the random workloads for each of its contenders', () => {
    for (const workload of ['random-512', 'random-64k']) {
      for (const c of PHASE_CONTENDERS) {
        const t = timePhases(c, workload, 2, 1, TINY_BLOCKS[workload]);
        const what = `${c} on ${workload}`;
        assert.equal(t.alloc.length, 2, what);
        assert.equal(t.free.length, 2, what);
        for (const x of [...t.alloc, ...t.free]) assert.ok(Number.isFinite(x) && x > 0 && x < 1e7, `${what}: ${x} ns per call`);
        // webmalloc's heap (also under "no allocator", which replays its addresses) is checked; the peers have no check()
        if (c === 'webmalloc' || c === 'no allocator') assert.deepEqual(t.checkErrors, [], `${what}: check() after every block was freed`);
      }
    }
  });

  it('the process that npm run bench:instructions counts under valgrind makes the calls asked for', () => {
    const r = spawnSync(process.execPath, [join(repoRoot(), 'build/bench/instructions.js'), '--child', 'webmalloc', 'batch-64', '5000'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Number(r.stdout) >= 5000, `calls made: ${r.stdout}`);
  });
});

describe("the benchmark scripts' command lines", () => {
  it('an option, a value or a name a script does not know stops it with its usage, before it measures anything', () => {
    const cases: [string, string[], RegExp][] = [
      ['run.js', ['--ful'], /Unknown option '--ful'/],
      ['run.js', ['--only', 'pairs16'], /unknown name\(s\) "pairs16"; known: pairs-16, /],
      ['run.js', ['--contenders', 'webmalloc,mimalloc-wasm'], /unknown name\(s\) "mimalloc-wasm"/],
      ['run.js', ['--only'], /argument missing/],
      ['instructions.js', ['--only', 'larson'], /unknown name\(s\) "larson"/],
      ['instructions.js', ['--functions', 'all'], /--functions takes a whole number of at least 1, not "all"/],
      ['phases.js', ['random-1k'], /unknown name\(s\) "random-1k"/],
      ['phases.js', ['--rounds', '0'], /--rounds takes a whole number of at least 1, not "0"/],
      ['profile.js', [], /which workload\?/],
      ['profile.js', ['xmalloc', '--threads', 'two'], /--threads takes a whole number/],
      ['profile.js', ['xmalloc', '--contender', 'webmalloc,dlmalloc-wasm'], /one name only/],
      ['wasm-dropin.js', ['--runs'], /argument missing/],
      ['blowup.js', ['--ful'], /Unknown option '--ful'/],
    ];
    for (const [script, args, message] of cases) {
      const what = `${script} ${args.join(' ')}`;
      const r = spawnSync(process.execPath, [join(repoRoot(), 'build/bench', script), ...args], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.status, 2, `${what}: exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, message, what);
      assert.match(r.stderr, /usage: /, what);
      assert.equal(r.stdout, '', `${what}: printed nothing else`);
    }
  });
});

describe('bench:instructions --functions', () => {
  it("charges each instruction's count to the compiled function whose code holds it, else to callgrind's function, and subtracts two runs per call", () => {
    const map = parsePerfMap(['1000 40 JS:*malloc file:///r/dist/heap.js:83:11', '2000 10 JS:wasm-function[10]-10-turbofan', 'junk'].join('\n'));
    assert.deepEqual(map.map((r) => [r.start, r.size]), [[0x1000, 0x40], [0x2000, 0x10]]);
    // Positions in full (0x...), relative (decimal), or the same (*); names compressed after their first use; the
    // line after calls= is the call's inclusive cost, not the caller's own.
    const run = (n: number): string =>
      [
        'positions: instr line',
        'events: Ir',
        'fn=(1) Builtins_Foo(int)',
        '0x500 0 3',
        `fn=(2) jit`,
        `0x1000 0 ${n}`,
        `+16 * ${2 * n}`,
        'cfn=(1)',
        'calls=1 0x500',
        '* 0 1000',
        `+47 0 ${n}`, // 0x103f, the last byte of malloc's code
        `+1 0 7`, // 0x1040, past it: jit's own
        `0x2008 0 ${n}`,
        'fn=(1)',
        '-2 0 4', // 0x2006, inside the wasm function: its range decides, not the name
        'fn=(3) libc_thing',
        '0x9000 0 5',
      ].join('\n');
    const first = selfCostByFunction(run(100), map);
    assert.deepEqual(Object.fromEntries(first), {
      'native Builtins_Foo': 3,
      'JS:*malloc file:///r/dist/heap.js:83:11': 400,
      'native jit': 7,
      'JS:wasm-function[10]-10-turbofan': 104,
      'native libc_thing': 5,
    });
    const rows = perCallDifference(first, selfCostByFunction(run(1100), map), 1000, (name) => name.replace(/ .*/, ''));
    assert.deepEqual(rows.filter((r) => r.perCall !== 0), [
      { name: 'JS:*malloc', perCall: 4 },
      { name: 'JS:wasm-function[10]-10-turbofan', perCall: 1 },
    ]);
  });
});

describe('bench:profile', () => {
  it("names a module's wasm functions by their exports, imported functions counted first (as V8 numbers them)", async () => {
    const { default: wabtInit } = await import('wabt');
    const wabt = await wabtInit();
    const wat = '(module (import "e" "f" (func)) (func (export "first")) (memory (export "mem") 1) (func) (func (export "third") (export "again")))';
    const module = wabt.parseWat('t.wat', wat);
    const bytes = module.toBinary({}).buffer;
    module.destroy();
    assert.deepEqual([...wasmExportNames(bytes)].sort((x, y) => x[0] - y[0]), [
      [1, 'first'],
      [3, 'third'],
    ]);
    // webmalloc's own module: every exported function named, none twice.
    const { wasmOpsBytes } = (await import(new URL('../../dist/wasmops.js', import.meta.url).href)) as { wasmOpsBytes(shared: boolean): Uint8Array<ArrayBuffer> };
    const ops = wasmOpsBytes(true);
    const exported = WebAssembly.Module.exports(new WebAssembly.Module(ops)).filter((e) => e.kind === 'function').map((e) => e.name);
    assert.deepEqual([...wasmExportNames(ops).values()].sort(), exported.sort());
  });
});

describe('benchmark report', () => {
  it('builds the table, the targets and the chart from the results', () => {
    assert.ok(results.length > 50, `results from the workloads above (${results.length})`);
    const blocks = { ...RANDOM_BLOCKS, ...TINY_BLOCKS };
    const table = renderTable(results, blocks);
    for (const c of CONTENDERS) assert.match(table, new RegExp(`\\b${c}\\b`));
    for (const w of SINGLE_WORKLOADS) assert.match(table, new RegExp(`^${w}\\b`, 'm'));
    assert.match(renderMatrix(results, blocks), /^\| larson x2 \|/m);
    assert.match(renderMemory(results, blocks), /random-512/);
    // A single-thread workload run with several workers is a row of its own, named with its workers.
    assert.match(renderMatrix(results, blocks), /^\| pairs-64 x2 \|/m);
    assert.match(renderMatrix(results, blocks), /^\| pairs-64 \|/m);
    assert.match(renderMemory(results, blocks), /^\| random-64k x4 \|/m);

    const targets = evaluateTargets(results, { thingCap: TINY_BLOCKS['random-512']!, defaultBlocks: blocks, parallelScaling: { '2': 2, '4': 2 } });
    assert.deepEqual(
      targets.map((t) => t.id),
      ['vs-mimalloc', 'vs-dlmalloc-wasm', 'vs-thing-malloc', 'larson-scaling', 'xmalloc', 'memory'],
    );
    // No native figures here: the mimalloc target says so; every other one has a verdict from measured ratios.
    assert.equal(targets[0]!.met, undefined);
    for (const t of targets.slice(1)) {
      assert.notEqual(t.met, undefined, `${t.id} was evaluated`);
      for (const c of t.checks.filter((x) => x.met !== undefined)) assert.ok(c.value! > 0 && Number.isFinite(c.value!), `${t.id}: ${c.what}`);
    }
    assert.match(targets[3]!.checks[0]!.what, /^larson-turns/, 'the scaling verdict is the one measured with rounds taking turns');
    for (const f of FLOORS) {
      assert.match(targets[4]!.note ?? '', new RegExp(`${f} x2 [\\d.]+ [nµm]?s per call \\([\\d.]+x\\)`), `the xmalloc target names ${f}`);
    }
    assert.match(renderMatrix(results, blocks), /^\| larson-turns x2 \|/m);
    // With mimalloc's figures, the mimalloc target names the loops' floor, and where the target lies below it.
    const floorOf = (w: string) => results.find((r) => r.contender === 'floor-list' && r.workload === w)!;
    const mimalloc = FLOOR_SINGLE.map((w) => ({ ...floorOf(w), contender: 'mimalloc', nsPerOp: floorOf(w).nsPerOp * (w === 'batch-64' ? 0.5 : 2) }));
    const withNative = evaluateTargets([...results, ...mimalloc], { thingCap: TINY_BLOCKS['random-512']!, defaultBlocks: blocks });
    const note = withNative[0]!.note ?? '';
    assert.match(note, /pairs-16 [\d.]+ [nµm]?s \(0\.50x\)/, note);
    assert.match(note, /batch-64 [\d.]+ [nµm]?s \(2\.00x\); batch-64: the target lies below the floor itself$/, note);
    // A floor's ratio comes with its range over the passes, and the target lies below the floor only if every pass says so.
    const b64 = { ...floorOf('batch-64'), nsPerOp: 3, passNsPerOp: [3, 3, 3] };
    const mi64 = { ...b64, contender: 'mimalloc', nsPerOp: 1.5, passNsPerOp: [1.5, 1.5, 2.5] };
    const ranged = evaluateTargets([...results.filter((r) => r !== floorOf('batch-64')), b64, mi64], { thingCap: TINY_BLOCKS['random-512']!, defaultBlocks: blocks })[0]!.note ?? '';
    assert.match(ranged, /batch-64 [\d.]+ [nµm]?s \(2\.00x; passes 1\.20-2\.00x\)/, ranged);
    assert.doesNotMatch(ranged, /below the floor/, ranged);
    assert.match(renderTargets(targets), /MET|MISSED/);

    const svg = renderSvg(results, blocks, 'test <chart>');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    assert.match(svg, /test &lt;chart&gt;/, 'text is escaped');
    const bars = svg.match(/<rect x="\d+" y="\d+" width="[\d.]+" height="9"/g) ?? [];
    assert.equal(bars.length, results.length, 'one bar per result');
    assert.ok(!/NaN|undefined|Infinity/.test(svg), 'no broken numbers in the chart');
  });

  it("a full run's passes: each measurement is its median pass, every pass's time kept, in the first pass's order", () => {
    const pick = (workload: string, contender: string) => results.find((r) => r.workload === workload && r.contender === contender && r.threads === 1)!;
    const a = pick('pairs-16', 'webmalloc');
    const b = pick('pairs-64', 'dlmalloc-wasm');
    const pass = (na: number, nb: number, reversed = false): Row[] => {
      const rows = [{ ...a, nsPerOp: na, memoryBytes: na }, { ...b, nsPerOp: nb, memoryBytes: nb }];
      return reversed ? rows.reverse() : rows;
    };
    const merged = medianOfPasses([pass(30, 5), pass(10, 7, true), pass(20, 6)]);
    assert.deepEqual(
      merged.map((r) => [r.workload, r.nsPerOp, r.memoryBytes, r.passNsPerOp]),
      [
        ['pairs-16', 20, 20, [30, 10, 20]],
        ['pairs-64', 6, 6, [5, 7, 6]],
      ],
      'the median pass whole (its memory too)',
    );
    const two = medianOfPasses([pass(30, 5), pass(10, 7)]);
    assert.deepEqual(two.map((r) => r.nsPerOp), [10, 5], 'of two passes, the faster');
  });

  it("a verdict's ratio comes with its range over the passes, pass against the same pass", () => {
    const row = (contender: string, passes: number[]): Row => {
      const base = results.find((r) => r.workload === 'pairs-16' && r.contender === 'webmalloc' && r.threads === 1)!;
      const sorted = [...passes].sort((x, y) => x - y);
      return { ...base, contender, nsPerOp: sorted[(sorted.length - 1) >> 1]!, passNsPerOp: passes };
    };
    const rows = [row('webmalloc', [10, 8, 12]), row('dlmalloc-wasm', [30, 12, 18]), row('mimalloc', [5, 4, 8])];
    const targets = evaluateTargets(rows, { thingCap: 2000, defaultBlocks: {}, parallelScaling: {} });
    const dl = targets.find((t) => t.id === 'vs-dlmalloc-wasm')!.checks.find((c) => c.what === 'pairs-16')!;
    assert.equal(dl.value, 18 / 10, 'the ratio of the medians');
    assert.deepEqual(dl.passes, [12 / 8, 30 / 10], 'dlmalloc over webmalloc in each pass: 3, 1.5, 1.5');
    const mi = targets.find((t) => t.id === 'vs-mimalloc')!.checks.find((c) => c.what === 'pairs-16')!;
    assert.deepEqual(mi.passes, [1.5, 2], 'webmalloc over mimalloc in each pass: 2, 2, 1.5');
    assert.match(renderTargets(targets), /pairs-16: 1\.80x {2}\(passes 1\.50-3\.00x\)/);
  });

  it("larson-turns' verdict: the median of the passes' scaling, with its range, not the median-time pass's", () => {
    const turns = results.find((r) => r.workload === 'larson-turns' && r.contender === 'webmalloc')!;
    assert.ok(turns.alone, 'larson-turns measured its rounds of one worker');
    // The pass with the median time (8 ns) scaled 1.5x; the passes' median scaling is 1.9x.
    const pass = (nsPerOp: number, scaling: number): Row[] => [{ ...turns, nsPerOp, scaling }];
    const [row] = medianOfPasses([pass(7, 1.95), pass(8, 1.5), pass(9, 1.9)]);
    assert.equal(row!.nsPerOp, 8);
    assert.deepEqual(row!.passScaling, [1.95, 1.5, 1.9]);
    assert.equal(row!.scaling, 1.9);
    const target = evaluateTargets([row!], { thingCap: 2000, defaultBlocks: {}, parallelScaling: {} }).find((t) => t.id === 'larson-scaling')!;
    assert.equal(target.checks[0]!.value, 1.9);
    assert.equal(target.met, true);
    assert.deepEqual(target.checks[0]!.passes, [1.5, 1.95]);
    assert.match(renderTargets([target]), /1\.90x {2}\(passes 1\.50-1\.95x\)/);
  });
});

describe('native workloads', () => {
  const cc = spawnSync('sh', ['-c', 'command -v cc'], { encoding: 'utf8' });
  it('compile and run every workload once', { skip: cc.status !== 0 ? 'no C compiler' : false }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'wm-native-'));
    try {
      const bin = join(dir, 'workloads');
      const src = join(repoRoot(), 'bench', 'native', 'workloads.c');
      const build = spawnSync('cc', ['-O2', '-pthread', '-fno-builtin-malloc', '-fno-builtin-free', '-o', bin, src], { encoding: 'utf8' });
      assert.equal(build.status, 0, build.stderr);
      const r = spawnSync(bin, ['--quick', '--rounds', '1', '--label', 'test'], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { workload: string; ns_per_op: number; allocator: string });
      const names = new Set(lines.map((l) => l.workload));
      for (const w of [...SINGLE_WORKLOADS, 'larson', 'xmalloc', 'xmalloc-local']) assert.ok(names.has(w), `native ${w} ran`);
      for (const l of lines) assert.ok(l.ns_per_op > 0 && l.allocator === 'test', `native ${l.workload}: ${l.ns_per_op} ns/op`);
      // The random workloads time their two phases apart as well (bench/phases.ts reads them): each phase's
      // ns per call, whose mean is the whole's.
      for (const l of lines as { workload: string; ns_per_op: number; alloc_ns_per_op?: number; free_ns_per_op?: number }[]) {
        if (!l.workload.startsWith('random-')) continue;
        const { alloc_ns_per_op: alloc, free_ns_per_op: free } = l;
        assert.ok(alloc !== undefined && free !== undefined && alloc > 0 && free > 0, `native ${l.workload}: phases ${alloc} and ${free}`);
        assert.ok(Math.abs((alloc + free) / 2 - l.ns_per_op) < 0.01 * l.ns_per_op + 0.002, `native ${l.workload}: phases ${alloc} and ${free} against ${l.ns_per_op}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
