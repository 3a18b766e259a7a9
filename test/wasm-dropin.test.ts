// The wasm drop-in (issue 5): C programs compiled for wasm32-wasi with wasm/webmalloc.c take their malloc
// from webmalloc. The programs are test/wasm/*.c, built by scripts/build-wasm-tests.sh (see
// test/wasm/helpers.ts); they run through the CLI (`webmalloc run`) and through the API.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAllocator, WebmallocError } from 'webmalloc';
import { buildRecord, cli, ensureBuilt, lastJson, prebuilt, PREBUILT, ROOT, wasi, wasm } from './wasm/helpers.js';

before(() => ensureBuilt());

describe('the built modules', () => {
  it('are up to date with their sources, flags and toolchain (scripts/build-wasm-tests.sh --check)', () => {
    const r = spawnSync('bash', [ROOT + 'scripts/build-wasm-tests.sh', '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  it('take malloc from webmalloc: no dlmalloc, no sbrk, no memory.grow of their own', () => {
    const record = buildRecord();
    const names = Object.keys(record.targets);
    for (const want of ['conformance.wasm', 'stress.wasm', 'shared.wasm', 'workloads.wasm', 'threads.js', 'cxx.js']) assert.ok(names.includes(want), want);
    for (const [name, t] of Object.entries(record.targets)) {
      assert.ok(t.checks.namedFunctions > 0, `${name}: the check saw function names`);
      if (t.malloc === 'webmalloc') {
        assert.deepEqual(t.checks.allocatorFunctions, [], `${name}: allocator functions in the module`);
        assert.equal(t.checks.memoryGrow, 0, `${name}: memory.grow in the module`);
        assert.ok(t.checks.webmallocImports.some((i) => /malloc$/.test(i)), `${name}: imports malloc`);
        assert.ok(t.checks.webmallocImports.some((i) => /free$/.test(i)), `${name}: imports free`);
      } else {
        // The same programs linked with wasi-libc's dlmalloc: the check does see an allocator where there is one.
        assert.ok(t.checks.allocatorFunctions.includes('dlmalloc') && t.checks.memoryGrow > 0, name);
      }
    }
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(prebuilt('conformance.wasm')));
    const fromWebmalloc = imports.filter((i) => i.module === 'webmalloc').map((i) => i.name);
    for (const f of ['malloc', 'free', 'calloc', 'realloc', 'aligned_alloc', 'usable_size']) assert.ok(fromWebmalloc.includes(f), f);
  });
});

describe('C API conformance (conformance.c)', () => {
  for (const mode of ['checked', 'unchecked']) {
    it(`every check passes (${mode})`, () => {
      const r = cli(['run', ...(mode === 'unchecked' ? ['--unchecked'] : []), PREBUILT + 'conformance.wasm']);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /conformance: \d{4,} checks, 0 failed/);
    });
  }

  const misuses: [string, RegExp][] = [
    ['double-free', /webmalloc: free\(0x[0-9a-f]{8}\): double free: the block was freed already; aborting/],
    ['double-free-large', /webmalloc: free\(0x[0-9a-f]{8}\): double free/], // a freed huge block's segments stay cached: still known
    ['interior-free', /webmalloc: free\(0x[0-9a-f]{8}\): invalid pointer: not a live block from malloc/],
    ['wild-free', /webmalloc: free\(0x00000010\): invalid pointer/],
    ['realloc-freed', /webmalloc: realloc\(0x[0-9a-f]{8}\): use after free/],
    ['usable-size-interior', /webmalloc: malloc_usable_size\(0x[0-9a-f]{8}\): invalid pointer/],
  ];
  for (const [what, message] of misuses) {
    it(`a misuse aborts with a clear message: ${what}`, () => {
      const r = cli(['run', PREBUILT + 'conformance.wasm', what]);
      assert.equal(r.status, 134, r.stdout + r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stdout, /not caught/);
    });
  }

  it('a refused free leaves the heap exactly as it was (API, checked)', async () => {
    const errPath = join(tmpdir(), `webmalloc-misuse-${process.pid}.txt`);
    const fd = openSync(errPath, 'w');
    try {
      const inst = await wasi.instantiateWasi(prebuilt('conformance.wasm'), { args: ['double-free'], stderr: fd });
      const result = inst.start();
      assert.equal(result.exitCode, wasi.ABORT_EXIT_CODE);
      assert.ok(result.error instanceof WebAssembly.RuntimeError);
      const p = result.misuse?.pointer as number;
      assert.equal(result.misuse?.code, 'DOUBLE_FREE');
      const a = inst.allocator;
      assert.ok(a.check().ok, a.check().errors.join('\n'));
      // The block stays freed once: freeing it again is refused again, and the heap goes on working.
      assert.throws(() => a.free(p), (e: unknown) => e instanceof WebmallocError && e.code === 'DOUBLE_FREE');
      const live = a.stats().liveBlocks;
      const q = a.malloc(32);
      assert.ok(q !== 0 && a.stats().liveBlocks === live + 1);
      a.free(q);
      assert.ok(a.check().ok);
      closeSync(fd);
      assert.match(readFileSync(errPath, 'utf8'), /double free/);
    } finally {
      rmSync(errPath, { force: true });
    }
  });

  it('unchecked: a double free of a small block is not caught, an interior free still is', () => {
    const r = cli(['run', '--unchecked', PREBUILT + 'conformance.wasm', 'double-free']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /not caught/);
    const s = cli(['run', '--unchecked', PREBUILT + 'conformance.wasm', 'interior-free']);
    assert.equal(s.status, 134);
  });
});

describe('randomized stress with content checks (stress.c)', () => {
  for (const [seed, mode] of [
    [1, 'checked'],
    [2, 'unchecked'],
    [3, 'checked'],
  ] as const) {
    it(`seed ${seed}, ${mode}`, () => {
      const r = cli(['run', ...(mode === 'unchecked' ? ['--unchecked'] : []), PREBUILT + 'stress.wasm', String(seed), '60000', '1500']);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const out = lastJson<{ errors: number; operations: number }>(r.stdout);
      assert.equal(out.errors, 0);
      assert.equal(out.operations, 60000);
    });
  }
});

describe('the CLI', () => {
  it('prints the heap statistics at exit with WEBMALLOC_SHOW_STATS=1, or as JSON', () => {
    const r = cli(['run', PREBUILT + 'stress.wasm', '5', '2000', '100'], { WEBMALLOC_SHOW_STATS: '1' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /webmalloc heap statistics at exit:/);
    assert.match(r.stderr, /memory +\d/);
    assert.match(r.stderr, /live +/);
    const j = cli(['run', PREBUILT + 'stress.wasm', '5', '2000', '100'], { WEBMALLOC_SHOW_STATS: 'json' });
    const stats = JSON.parse(j.stderr.trim().split('\n').pop() as string) as { memorySize: number; liveBlocks: number; threadsAttached: number };
    assert.ok(stats.memorySize > 0);
    assert.ok(stats.liveBlocks <= 4, `live blocks ${stats.liveBlocks}`); // stress frees all it allocated; libc keeps argv
    assert.equal(stats.threadsAttached, 1);
    const quiet = cli(['run', PREBUILT + 'stress.wasm', '5', '2000', '100']);
    assert.doesNotMatch(quiet.stderr, /statistics/);
    assert.doesNotMatch(quiet.stderr, /ExperimentalWarning/);
  });

  it("passes the arguments and returns the program's exit status", () => {
    const r = cli(['run', PREBUILT + 'conformance.wasm', 'no-such-misuse']);
    assert.equal(r.status, 2);
    assert.match(r.stdout, /unknown misuse no-such-misuse/);
  });

  it('explains its usage', () => {
    assert.equal(cli(['help']).status, 0);
    assert.match(cli(['help']).stdout, /usage: webmalloc run/);
    const bad = cli(['frobnicate']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown command/);
    assert.equal(cli(['run']).status, 2);
    assert.match(cli(['version']).stdout, /^\d+\.\d+\.\d+/);
    const missing = cli(['run', PREBUILT + 'no-such.wasm']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read/);
  });
});

describe('the memory of a drop-in: a non-shared WebAssembly.Memory that webmalloc grows', () => {
  it('survives growth that detaches the old buffer (large, huge, aligned, calloc, realloc)', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const a = createAllocator({ memory, start: 70000, checked: true });
    const blocks: [number, number][] = [];
    for (const n of [100, 5000, 70000, 2 << 20, 300, 8 << 20, 100, 500000, 16 << 20]) {
      const p = a.malloc(n);
      assert.ok(p !== 0, `malloc(${n})`);
      a.u8[p] = 7;
      blocks.push([p, n]);
    }
    for (let i = 0; i < 5000; i++) blocks.push([a.malloc(1000), 1000]);
    const z = a.calloc(1, 3 << 20);
    assert.ok(z !== 0 && a.u8[z] === 0 && a.u8[z + (3 << 20) - 1] === 0);
    const q = a.alignedAlloc(1 << 20, 100);
    assert.ok(q !== 0 && q % (1 << 20) === 0);
    const r = a.realloc(blocks[0][0], 20 << 20);
    assert.ok(r !== 0 && a.u8[r] === 7);
    blocks[0] = [r, 20 << 20];
    for (const [p] of blocks) a.free(p);
    a.free(z);
    a.free(q);
    assert.ok(a.check().ok, a.check().errors.join('\n'));
    assert.equal(a.stats().liveBlocks, 0);
    assert.ok(memory.buffer.byteLength > 40 << 20);
  });

  it('instantiateWithWebmalloc puts the heap above __heap_base', async () => {
    const inst = await wasm.instantiateWithWebmalloc(prebuilt('conformance.wasm'), { imports: { wasi_snapshot_preview1: stubs() } });
    const heapBase = (inst.exports.__heap_base as WebAssembly.Global).value as number;
    assert.equal(inst.heapBase, heapBase);
    assert.ok(inst.allocator.heapBase >= heapBase && inst.allocator.heapBase % 65536 === 0 && inst.allocator.heapBase - heapBase < 65536);
    const p = inst.allocator.malloc(10);
    assert.ok(p >= heapBase);
    assert.equal(inst.allocator.stats().belowHeap, inst.allocator.heapBase);
    const moved = await wasm.instantiateWithWebmalloc(prebuilt('conformance.wasm'), { imports: { wasi_snapshot_preview1: stubs() }, heapBase: 3 << 20 });
    assert.equal(moved.allocator.heapBase, 3 << 20);
  });

  it('without __heap_base, the heap starts where the initial memory ends; an imported memory is created', async () => {
    // (module (memory (export "memory") 3))
    const own = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0, 3, 7, 10, 1, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 0]);
    const a = wasm.instantiateWithWebmallocSync(own);
    assert.equal(a.heapBase, 3 * 65536);
    assert.ok(a.allocator.malloc(100) >= 3 * 65536);
    // (module (import "env" "memory" (memory 2 100)))
    const imported = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 16, 1, 3, 0x65, 0x6e, 0x76, 6, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 2, 1, 2, 100]);
    assert.deepEqual(wasm.memoryImportOf(imported), { initial: 2, maximum: 100, shared: false });
    const b = await wasm.instantiateWithWebmalloc(imported);
    assert.equal(b.heapBase, 2 * 65536);
    const p = b.allocator.malloc(1 << 20);
    assert.ok(p !== 0);
    assert.equal(b.allocator.malloc(10 << 20), 0); // the declared maximum (100 pages) holds
    assert.ok(b.memory.buffer.byteLength <= 100 * 65536);
    assert.throws(() => wasm.instantiateWithWebmallocSync(new WebAssembly.Module(imported)), /imports its memory/);
    assert.deepEqual(wasm.memoryImportOf(prebuilt('threads.wasm')), { initial: 256, maximum: 32768, shared: true });
    assert.equal(wasm.memoryImportOf(prebuilt('conformance.wasm')), undefined);
  });
});

/** wasi_snapshot_preview1 functions that do nothing (for instantiating without running). */
function stubs(): WebAssembly.ModuleImports {
  return new Proxy({}, { get: () => () => 0 }) as WebAssembly.ModuleImports;
}
