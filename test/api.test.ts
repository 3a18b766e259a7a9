// API conformance tests for webmalloc, in the spirit of mimalloc's test-api.c and glibc's malloc tests.
// Pointers are unsigned 32-bit byte offsets into the memory; 0 is NULL.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAllocator, attach, WebmallocError, EINVAL, ENOMEM } from 'webmalloc';
import {
  type Allocator,
  type Block,
  type Memory,
  KiB,
  MiB,
  assertBalanced,
  assertCheckOk,
  assertNoOverlap,
  assertPattern,
  assertPointerError,
  assertRangeError,
  assertZero,
  bufferOf,
  byteLengthOf,
  descriptorWordOf,
  fillPattern,
  heapHeaderWord,
  naturalAlignment,
  rng,
  randInt,
  remoteBitOf,
} from './helpers.js';

// ---------------------------------------------------------------------------------------------------------
// Local helpers

interface Snapshot {
  liveBlocks: number;
  liveBytes: number;
  memorySize: number;
}

function snapshot(a: Allocator): Snapshot {
  const s = a.stats();
  return { liveBlocks: s.liveBlocks, liveBytes: s.liveBytes, memorySize: s.memorySize };
}

/** Asserts the heap is exactly as before: same live figures, same memory size, check() ok, contents intact. */
function assertUnchanged(a: Allocator, before: Snapshot, blocks: Block[], what: string): void {
  assert.deepEqual(snapshot(a), before, `${what}: live blocks/bytes or memory size changed`);
  assertCheckOk(a, `${what}: check()`);
  for (const b of blocks) assertPattern(a.u8, b.p, b.size, b.seed, `${what}: live block`);
}

let seedCounter = 1;
function allocFilled(a: Allocator, size: number): Block {
  const p = a.malloc(size);
  assert.notEqual(p, 0, `malloc(${size}) failed`);
  const b = { p, size, seed: seedCounter++ };
  fillPattern(a.u8, p, size, b.seed);
  return b;
}

/**
 * malloc each size; usableSize must be at least the size and stay the same while the block lives, and every
 * block's whole usable area must be its own (no overlap; a pattern written over all of it survives). Frees them.
 */
function assertUsableAreasOwn(a: Allocator, sizes: number[]): void {
  const live: { p: number; us: number; seed: number }[] = [];
  for (const size of sizes) {
    const p = a.malloc(size);
    assert.notEqual(p, 0, `malloc(${size})`);
    const us = a.usableSize(p);
    assert.ok(us >= size, `usableSize(malloc(${size})) = ${us}`);
    const seed = seedCounter++;
    fillPattern(a.u8, p, us, seed);
    live.push({ p, us, seed });
  }
  assertNoOverlap(live.map((b) => ({ p: b.p, len: b.us })), 'usable areas');
  for (const b of live) assertPattern(a.u8, b.p, b.us, b.seed, 'usable area');
  for (const b of live) assert.equal(a.usableSize(b.p), b.us, 'usableSize changed while the block was live');
  for (const b of live) a.free(b.p);
}

const roundUp = (x: number, a: number) => Math.ceil(x / a) * a;

// ---------------------------------------------------------------------------------------------------------

describe('malloc(0) and zero-sized requests', () => {
  it('malloc(0) returns unique, aligned, live pointers that can be freed', () => {
    const a = createAllocator();
    const base = a.stats().liveBlocks;
    const ps: number[] = [];
    for (let i = 0; i < 300; i++) ps.push(a.malloc(0));
    for (const p of ps) {
      assert.notEqual(p, 0, 'malloc(0) must not return NULL');
      assert.equal(p % 8, 0, `malloc(0) = ${p} should be 8-aligned`);
      assert.ok(a.usableSize(p) >= 0);
    }
    assert.equal(new Set(ps).size, ps.length, 'malloc(0) pointers must be distinct');
    // distinct from real allocations made while they are live, and not overlapping them
    const others = [allocFilled(a, 8), allocFilled(a, 16), allocFilled(a, 100)];
    for (const o of others) assert.ok(!ps.includes(o.p), 'a live malloc(0) pointer was handed out again');
    assertNoOverlap(
      [...ps.map((p) => ({ p, len: Math.max(1, a.usableSize(p)) })), ...others.map((o) => ({ p: o.p, len: o.size }))],
      'malloc(0) blocks',
    );
    assert.equal(a.stats().liveBlocks, base + ps.length + others.length, 'malloc(0) blocks count as live');
    for (const p of ps) a.free(p);
    for (const o of others) {
      assertPattern(a.u8, o.p, o.size, o.seed);
      a.free(o.p);
    }
    const s = a.stats();
    assert.equal(s.liveBlocks, base);
    assert.equal(s.liveBytes, 0);
    assertCheckOk(a);
  });

  it('calloc(0, n), calloc(n, 0), zalloc(0), alignedAlloc(a, 0), reallocArray(0, 0, n) return unique live pointers', () => {
    const a = createAllocator();
    const ps = [a.calloc(0, 8), a.calloc(8, 0), a.calloc(0, 0), a.zalloc(0), a.alignedAlloc(64, 0), a.memalign(256, 0),
      a.realloc(0, 0), a.reallocArray(0, 0, 8)];
    ps.forEach((p, i) => assert.notEqual(p, 0, `zero-size request #${i} returned NULL`));
    assert.equal(new Set(ps).size, ps.length, 'zero-size pointers must be distinct');
    assert.equal(ps[4]! % 64, 0, 'alignedAlloc(64, 0) must be 64-aligned');
    assert.equal(ps[5]! % 256, 0, 'memalign(256, 0) must be 256-aligned');
    assert.equal(a.stats().liveBlocks, ps.length);
    for (const p of ps) a.free(p);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('free(0) is a no-op and usableSize(0) is 0', () => {
    const a = createAllocator();
    const b = allocFilled(a, 40);
    const before = snapshot(a);
    a.free(0);
    assert.equal(a.usableSize(0), 0);
    assertUnchanged(a, before, [b], 'free(0)');
  });
});

describe('sizes that cannot be met', () => {
  const huge = [2 ** 32, 2 ** 32 + 16, 2 ** 33, 2 ** 40, 2 ** 52, Number.MAX_SAFE_INTEGER];

  it('malloc/calloc/zalloc/alignedAlloc/memalign/valloc/pvalloc of >= 4 GiB return 0 and change nothing', () => {
    const a = createAllocator();
    const blocks = [allocFilled(a, 100), allocFilled(a, 5000)];
    const before = snapshot(a);
    for (const n of huge) {
      assert.equal(a.malloc(n), 0, `malloc(${n})`);
      assert.equal(a.calloc(1, n), 0, `calloc(1, ${n})`);
      assert.equal(a.calloc(n, 1), 0, `calloc(${n}, 1)`);
      assert.equal(a.zalloc(n), 0, `zalloc(${n})`);
      assert.equal(a.alignedAlloc(16, n), 0, `alignedAlloc(16, ${n})`);
      assert.equal(a.alignedAlloc(MiB, n), 0, `alignedAlloc(1 MiB, ${n})`);
      assert.equal(a.memalign(64, n), 0, `memalign(64, ${n})`);
      assert.equal(a.valloc(n), 0, `valloc(${n})`);
      assert.equal(a.pvalloc(n), 0, `pvalloc(${n})`);
      assert.equal(a.mallocAs(Uint8Array, n), undefined, `mallocAs(Uint8Array, ${n})`);
      assert.equal(a.callocAs(Float64Array, n), undefined, `callocAs(Float64Array, ${n})`);
      assert.deepEqual(a.posixMemalign(16, n), { error: ENOMEM, pointer: 0 }, `posixMemalign(16, ${n})`);
    }
    assertUnchanged(a, before, blocks, 'huge requests');
  });

  it('a limit below the size of a given fixed memory: no block reaches past limit, the rest is untouched', () => {
    const memory = new SharedArrayBuffer(24 * MiB);
    const limit = 8 * MiB;
    new Uint8Array(memory).fill(0x3c, limit);
    const a = createAllocator({ memory, limit });
    const ps: number[] = [];
    for (;;) {
      const p = a.malloc(100 * KiB);
      if (p === 0) break;
      assert.ok(p + a.usableSize(p) <= limit, `block ${p}+${a.usableSize(p)} reaches past limit ${limit}`);
      ps.push(p);
      assert.ok(ps.length < 1000, 'malloc never returned 0 below the limit');
    }
    assert.ok(ps.length * 100 * KiB >= limit / 2, `only ${ps.length} blocks of 100 KiB fit below the limit`);
    assert.equal(a.malloc(3 * MiB), 0);
    const above = new Uint8Array(memory, limit);
    assert.ok(above.every((x) => x === 0x3c), 'bytes at or above limit were modified');
    assertCheckOk(a);
    assertBalanced(a.stats());
    for (const p of ps) a.free(p);
    assertCheckOk(a);
  });

  it('requests larger than `limit` return 0, smaller ones still succeed, memory never exceeds limit', () => {
    const limit = 32 * MiB;
    const a = createAllocator({ limit });
    const blocks = [allocFilled(a, 1000)];
    const before = snapshot(a);
    for (const n of [limit, limit + 1, limit - 16, 40 * MiB, 2 ** 32 - 16]) {
      assert.equal(a.malloc(n), 0, `malloc(${n}) with limit ${limit}`);
      assert.equal(a.calloc(n, 1), 0, `calloc(${n}, 1) with limit ${limit}`);
      assert.equal(a.alignedAlloc(64 * KiB, n), 0, `alignedAlloc(64 KiB, ${n}) with limit ${limit}`);
    }
    assertUnchanged(a, before, blocks, 'requests over limit');
    const big = allocFilled(a, 20 * MiB);
    assert.ok(a.stats().memorySize <= limit, 'memory grew past limit');
    assert.ok(byteLengthOf(a.memory) <= limit, 'memory grew past limit');
    assertPattern(a.u8, big.p, big.size, big.seed);
    a.free(big.p);
    assertCheckOk(a);
  });
});

describe('calloc and reallocArray overflow', () => {
  const overflowing: [number, number][] = [
    [2 ** 16, 2 ** 16], // exactly 4 GiB
    [2 ** 16 + 1, 2 ** 16],
    [2 ** 31, 2],
    [2, 2 ** 31],
    [2 ** 30, 16],
    [2 ** 26, 2 ** 26], // 2^52
    [2 ** 30, 2 ** 30], // 2^60
    [0xffffffff, 0xffffffff], // product not exact in a double
    [0x10001, 0xffff], // 4 GiB + 0xffff - 1... > 2^32
    [Number.MAX_SAFE_INTEGER, 2],
  ];

  it('calloc(n, size) with n*size beyond 4 GiB returns 0 and changes nothing', () => {
    const a = createAllocator();
    const blocks = [allocFilled(a, 24), allocFilled(a, 300 * KiB)];
    const before = snapshot(a);
    for (const [n, s] of overflowing) {
      assert.equal(a.calloc(n, s), 0, `calloc(${n}, ${s})`);
      assert.equal(a.callocAs(Uint8Array, n * s), undefined, `callocAs(Uint8Array, ${n * s})`);
    }
    assertUnchanged(a, before, blocks, 'calloc overflow');
  });

  it('reallocArray(p, n, size) with overflow returns 0 and leaves p untouched', () => {
    const a = createAllocator();
    const b = allocFilled(a, 333);
    const other = allocFilled(a, 77);
    const us = a.usableSize(b.p);
    const before = snapshot(a);
    for (const [n, s] of overflowing) {
      assert.equal(a.reallocArray(b.p, n, s), 0, `reallocArray(p, ${n}, ${s})`);
      assert.equal(a.reallocArray(0, n, s), 0, `reallocArray(0, ${n}, ${s})`);
    }
    assertUnchanged(a, before, [b, other], 'reallocArray overflow');
    assert.equal(a.usableSize(b.p), us);
    // a fitting reallocArray still works and keeps the contents
    const q = a.reallocArray(b.p, 100, 40);
    assert.notEqual(q, 0);
    assert.ok(a.usableSize(q) >= 4000);
    assertPattern(a.u8, q, b.size, b.seed, 'reallocArray grown block');
    const r = a.reallocArray(0, 7, 9);
    assert.notEqual(r, 0, 'reallocArray(0, n, size) acts as malloc');
    assert.ok(a.usableSize(r) >= 63);
    a.free(q);
    a.free(r);
    a.free(other.p);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });
});

describe('alignment', () => {
  // Dense size sample for the larger alignments: all of 1..64, then a spread up to 2048 with power-of-two edges.
  const sample = new Set<number>();
  for (let s = 1; s <= 64; s++) sample.add(s);
  for (let s = 65; s <= 2048; s += 13) sample.add(s);
  for (let k = 6; k <= 11; k++) for (const d of [-1, 0, 1]) sample.add(2 ** k + d);
  sample.add(2048);
  const denseSizes = [...sample].filter((s) => s >= 1 && s <= 2048).sort((x, y) => x - y);
  const sparseSizes = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 511, 512,
    513, 1000, 1023, 1024, 1025, 2047, 2048];
  const allSizes = Array.from({ length: 2048 }, (_, i) => i + 1);

  function alignedBatch(a: Allocator, align: number, sizes: number[], maxLive: number, useMemalign = false): void {
    const live: Block[] = [];
    const need = (size: number) => Math.max(align, naturalAlignment(size));
    const release = (b: Block) => {
      assertPattern(a.u8, b.p, b.size, b.seed, `aligned(${align}) block`);
      a.free(b.p);
    };
    for (const size of sizes) {
      const p = useMemalign ? a.memalign(align, size) : a.alignedAlloc(align, size);
      assert.notEqual(p, 0, `alignedAlloc(${align}, ${size}) failed`);
      assert.equal(p % need(size), 0, `alignedAlloc(${align}, ${size}) = ${p} is not ${need(size)}-aligned`);
      assert.ok(a.usableSize(p) >= size, `usableSize(alignedAlloc(${align}, ${size})) = ${a.usableSize(p)} < ${size}`);
      const b = { p, size, seed: seedCounter++ };
      fillPattern(a.u8, p, size, b.seed);
      live.push(b);
      if (live.length > maxLive) release(live.shift()!);
    }
    assertNoOverlap(live.map((b) => ({ p: b.p, len: b.size })), `aligned(${align}) blocks`);
    for (const b of live) release(b);
  }

  it('every power-of-two alignment 1..256 with every size 1..2048', () => {
    const a = createAllocator();
    for (let align = 1; align <= 256; align *= 2) alignedBatch(a, align, allSizes, 4096);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('every power-of-two alignment 512..4096 with a dense sample of sizes 1..2048', () => {
    const a = createAllocator();
    for (let align = 512; align <= 4096; align *= 2) alignedBatch(a, align, denseSizes, 4096);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('every power-of-two alignment 8 KiB..1 MiB with a sample of sizes 1..2048', () => {
    const a = createAllocator();
    for (let align = 8 * KiB; align <= MiB; align *= 2) alignedBatch(a, align, sparseSizes, align <= 64 * KiB ? 64 : 6);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('power-of-two alignments with sizes larger than the alignment (medium, large, huge)', () => {
    const a = createAllocator();
    const sizes = [4097, 64 * KiB - 1, 64 * KiB + 1, 300 * KiB, MiB - 16, 1.5 * MiB];
    for (let align = 1; align <= MiB; align *= 2) alignedBatch(a, align, sizes, 3);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('2 MiB and 4 MiB alignment', () => {
    const a = createAllocator();
    for (const align of [2 * MiB, 4 * MiB]) alignedBatch(a, align, [1, 100, 4096, 2 * MiB, 5 * MiB], 2);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
    assertBalanced(a.stats());
  });

  it('alignment is absolute (not relative to the heap base) when start is not 1 MiB aligned', () => {
    for (const start of [100_003, 3 * 64 * KiB, 5 * MiB + 7]) {
      const a = createAllocator({ start });
      for (let align = 64; align <= 8 * MiB; align *= 2) {
        for (const size of [1, 100, 5000, 70 * KiB, 1.5 * MiB]) {
          const p = a.alignedAlloc(align, size);
          assert.notEqual(p, 0, `alignedAlloc(${align}, ${size}) with start ${start}`);
          assert.equal(p % align, 0, `alignedAlloc(${align}, ${size}) = ${p} with start ${start}`);
          assert.ok(p >= start, `block ${p} below start ${start}`);
          assert.ok(a.usableSize(p) >= size);
          a.free(p);
        }
      }
      assertCheckOk(a, `check() with start ${start}`);
    }
  });

  it('memalign behaves like alignedAlloc', () => {
    const a = createAllocator();
    for (let align = 1; align <= MiB; align *= 2) alignedBatch(a, align, [1, 16, 24, 1000, 5000], 5, true);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('plain malloc returns 16-byte aligned blocks for sizes >= 16 and 8-byte aligned ones below', () => {
    const a = createAllocator();
    const live: number[] = [];
    for (let size = 0; size <= 4096; size++) {
      const p = a.malloc(size);
      assert.notEqual(p, 0);
      assert.equal(p % naturalAlignment(size), 0, `malloc(${size}) = ${p}`);
      live.push(p);
    }
    for (const size of [5000, 10000, 70 * KiB, 333 * KiB, 1.25 * MiB]) {
      const p = a.malloc(size);
      assert.equal(p % 16, 0, `malloc(${size}) = ${p}`);
      live.push(p);
    }
    for (const p of live) a.free(p);
    assertCheckOk(a);
  });

  it('an alignment that is not a power of two (or not a non-negative integer) is a RangeError and changes nothing', () => {
    const a = createAllocator();
    const blocks = [allocFilled(a, 48)];
    const before = snapshot(a);
    const bad: unknown[] = [0, 3, 5, 6, 7, 12, 24, 48, 100, 1000, 3 * 4096, MiB - 1, MiB + 1, 3 * MiB, -1, -8, -16, 1.5,
      16.5, NaN, Infinity, -Infinity, '8', '16'];
    for (const al of bad) {
      assertRangeError(() => a.alignedAlloc(al as number, 16), `alignedAlloc(${String(al)}, 16)`);
      assertRangeError(() => a.memalign(al as number, 16), `memalign(${String(al)}, 16)`);
    }
    assertUnchanged(a, before, blocks, 'bad alignments');
  });

  it('posixMemalign: 0 with an aligned pointer, EINVAL for bad alignments, ENOMEM when the size cannot be met', () => {
    assert.equal(EINVAL, 22);
    assert.equal(ENOMEM, 12);
    const a = createAllocator();
    const blocks = [allocFilled(a, 64)];
    for (let align = 4; align <= MiB; align *= 2) {
      for (const size of [0, 1, 24, 3000]) {
        const r = a.posixMemalign(align, size);
        assert.equal(r.error, 0, `posixMemalign(${align}, ${size}).error`);
        assert.notEqual(r.pointer, 0, `posixMemalign(${align}, ${size}).pointer`);
        assert.equal(r.pointer % align, 0, `posixMemalign(${align}, ${size}) = ${r.pointer}`);
        assert.ok(a.usableSize(r.pointer) >= size);
        a.free(r.pointer);
      }
    }
    const before = snapshot(a);
    for (const al of [0, 1, 2, 3, 6, 12, 24, 100, 4096 + 4, MiB + 4]) {
      assert.deepEqual(a.posixMemalign(al, 16), { error: EINVAL, pointer: 0 }, `posixMemalign(${al}, 16)`);
    }
    for (const n of [2 ** 32, 2 ** 40]) {
      assert.deepEqual(a.posixMemalign(64, n), { error: ENOMEM, pointer: 0 }, `posixMemalign(64, ${n})`);
    }
    assertUnchanged(a, before, blocks, 'posixMemalign errors');
  });
});

describe('realloc', () => {
  it('realloc(0, n) acts as malloc(n)', () => {
    const a = createAllocator();
    for (const n of [0, 1, 24, 1000, 100 * KiB, 2 * MiB]) {
      const p = a.realloc(0, n);
      assert.notEqual(p, 0, `realloc(0, ${n})`);
      assert.equal(p % naturalAlignment(n), 0);
      assert.ok(a.usableSize(p) >= n);
      fillPattern(a.u8, p, n, n);
      assertPattern(a.u8, p, n, n);
      assert.equal(a.stats().liveBlocks, 1);
      a.free(p);
    }
    assertCheckOk(a);
  });

  it('keeps the pointer when the new size fits the block (shrink, same size, up to usableSize)', () => {
    const a = createAllocator();
    const neighbours: Block[] = [];
    for (const size of [1, 8, 16, 100, 1000, 5000, 20 * KiB, 70 * KiB, 300 * KiB, 1.5 * MiB]) {
      const b = allocFilled(a, size);
      neighbours.push(allocFilled(a, 32));
      const us = a.usableSize(b.p);
      assert.ok(us >= size);
      fillPattern(a.u8, b.p, us, b.seed);
      for (const n of [us, size, Math.max(1, Math.floor(size / 2)), 1]) {
        const q = a.realloc(b.p, n);
        assert.equal(q, b.p, `realloc(p, ${n}) of a block of ${size} (usable ${us}) should keep p`);
        assertPattern(a.u8, q, Math.min(n, size), b.seed, `realloc(p, ${n}) in place`);
        assert.ok(a.usableSize(q) >= n);
      }
      a.free(b.p);
    }
    for (const n of neighbours) assertPattern(a.u8, n.p, n.size, n.seed, 'neighbour');
    for (const n of neighbours) a.free(n.p);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('realloc(p, 0) keeps p: size 0 fits every block', () => {
    const a = createAllocator();
    for (const size of [1, 100, 100 * KiB]) {
      const b = allocFilled(a, size);
      const q = a.realloc(b.p, 0);
      assert.equal(q, b.p, `realloc(p, 0) of a ${size}-byte block`);
      assert.equal(a.stats().liveBlocks, 1);
      a.free(q);
    }
    assertCheckOk(a);
  });

  it('grows through every size class (moving when needed) and shrinks back, keeping contents', () => {
    const a = createAllocator();
    const r = rng(42);
    let p = a.malloc(1);
    let size = 1;
    const seed = 77;
    fillPattern(a.u8, p, size, seed);
    const sizes: number[] = [];
    for (let n = 2; n < 6 * MiB; n = Math.ceil(n * 1.37) + randInt(r, 0, 7)) sizes.push(n);
    const down = [...sizes].reverse().concat([1]);
    let moves = 0;
    const fences: Block[] = [];
    for (const n of [...sizes, ...down]) {
      const usBefore = a.usableSize(p);
      const q = a.realloc(p, n);
      assert.notEqual(q, 0, `realloc(p, ${n})`);
      assert.equal(q % naturalAlignment(n), 0, `realloc(p, ${n}) = ${q} misaligned`);
      if (n <= usBefore) assert.equal(q, p, `realloc(p, ${n}) with usableSize ${usBefore} should stay in place`);
      if (q !== p) moves++;
      assertPattern(a.u8, q, Math.min(size, n), seed, `realloc ${size} -> ${n}`);
      assert.ok(a.usableSize(q) >= n);
      fillPattern(a.u8, q, n, seed);
      p = q;
      size = n;
      // keep some neighbours alive so that growing in place is not always possible
      if (fences.length < 40) fences.push(allocFilled(a, randInt(r, 1, 2000)));
    }
    assert.ok(moves > 0, 'realloc never moved a block while growing from 1 byte to 6 MiB');
    for (const f of fences) assertPattern(a.u8, f.p, f.size, f.seed, 'fence block');
    for (const f of fences) a.free(f.p);
    a.free(p);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('a buffer grown in small steps moves O(log n) times, not once per size class', () => {
    const a = createAllocator();
    const seed = 5;
    let p = a.malloc(16);
    let size = 16;
    fillPattern(a.u8, p, size, seed);
    let moves = 0;
    for (let n = 32; n <= 64 * KiB; n += 16) {
      const q = a.realloc(p, n);
      assert.notEqual(q, 0);
      if (q !== p) {
        moves++;
        assertPattern(a.u8, q, size, seed, `realloc ${size} -> ${n} moved`);
      }
      fillPattern(a.u8, q, n, seed);
      p = q;
      size = n;
    }
    // 16 B to 64 KiB: 12 doublings; with 1.5x of room per move 18 moves here (the size classes alone,
    // 1.125 apart above 128 B, took 79).
    assert.ok(moves <= 24, `${moves} moves`);
    const us = a.usableSize(p);
    assert.ok(us >= size && us <= 64 * KiB, `usable ${us}`);
    a.free(p);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('moves between small and large blocks in both directions with random sizes, keeping contents', () => {
    const a = createAllocator();
    const r = rng(7);
    const live: Block[] = [];
    for (let i = 0; i < 40; i++) live.push(allocFilled(a, randInt(r, 1, 3000)));
    for (let step = 0; step < 600; step++) {
      const i = randInt(r, 0, live.length - 1);
      const b = live[i]!;
      const kind = r();
      const n = kind < 0.6 ? randInt(r, 1, 2048) : kind < 0.9 ? randInt(r, 2049, 200 * KiB) : randInt(r, 200 * KiB, 2 * MiB);
      assertPattern(a.u8, b.p, b.size, b.seed);
      const us = a.usableSize(b.p);
      const q = a.realloc(b.p, n);
      assert.notEqual(q, 0);
      if (n <= us) assert.equal(q, b.p, `realloc(p, ${n}) within usable ${us} moved`);
      assertPattern(a.u8, q, Math.min(b.size, n), b.seed, `realloc ${b.size} -> ${n}`);
      const nb = { p: q, size: n, seed: seedCounter++ };
      fillPattern(a.u8, q, n, nb.seed);
      live[i] = nb;
    }
    assertNoOverlap(live.map((b) => ({ p: b.p, len: b.size })));
    for (const b of live) assertPattern(a.u8, b.p, b.size, b.seed);
    for (const b of live) a.free(b.p);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
    assertBalanced(a.stats());
  });

  it('on failure returns 0 and leaves p untouched (huge size and a fixed memory that cannot grow)', () => {
    const a = createAllocator();
    const b = allocFilled(a, 1000);
    const us = a.usableSize(b.p);
    const before = snapshot(a);
    for (const n of [2 ** 32, 2 ** 40]) assert.equal(a.realloc(b.p, n), 0, `realloc(p, ${n})`);
    assertUnchanged(a, before, [b], 'failed realloc');
    assert.equal(a.usableSize(b.p), us);
    a.free(b.p);
    assertCheckOk(a);

    const f = createAllocator({ memory: new SharedArrayBuffer(8 * MiB) });
    const blocks = [allocFilled(f, 100), allocFilled(f, 200 * KiB), allocFilled(f, MiB)];
    const before2 = snapshot(f);
    for (const blk of blocks) {
      assert.equal(f.realloc(blk.p, 16 * MiB), 0, 'realloc past a fixed memory');
      assert.equal(f.reallocArray(blk.p, 16, MiB), 0, 'reallocArray past a fixed memory');
    }
    assertUnchanged(f, before2, blocks, 'failed realloc on fixed memory');
    for (const blk of blocks) f.free(blk.p);
    assertCheckOk(f);
  });
});

describe('usableSize', () => {
  it('is >= the requested size for every size 0..4096, and the whole usable area of each block is its own', () => {
    const a = createAllocator();
    assertUsableAreasOwn(a, Array.from({ length: 4097 }, (_, size) => size));
    assertCheckOk(a);
  });

  it('is >= the requested size for medium, large and huge sizes', () => {
    const a = createAllocator();
    const sizes = [5000, 8191, 8192, 8193, 16 * KiB, 32 * KiB - 1, 32 * KiB + 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1,
      128 * KiB, 256 * KiB, 512 * KiB - 1, 512 * KiB, MiB - 1, MiB, MiB + 1, 2 * MiB, 4 * MiB];
    assertUsableAreasOwn(a, sizes);
    assertCheckOk(a);
    assertBalanced(a.stats());
  });
});

describe('zero-filled allocation', () => {
  const sizes = [1, 7, 8, 16, 24, 100, 512, 1000, 4096, 10000, 64 * KiB, 200 * KiB, 1.5 * MiB];

  /**
   * Dirty blocks of each size and free them, then allocate zeroed blocks of the same size: each reads zero
   * over its size, and a dirtied block handed out again keeps its dirt past the size rounded up to 8 (a
   * short block is cleared a double at a time; nothing beyond that granule is written). Returns, per size,
   * how many dirtied blocks came back.
   */
  function dirtyThenCalloc(a: Allocator, how: 'calloc' | 'calloc-n' | 'zalloc' | 'callocAs', sizeList = sizes): number[] {
    const reuses: number[] = [];
    for (const size of sizeList) {
      // Enough blocks that the calls get past the never-used blocks a page carves ahead (4 KiB at a time).
      const count = size < 64 * KiB ? Math.max(40, Math.ceil((16 * KiB) / size)) : 3;
      const dirty = new Set<number>();
      for (let i = 0; i < count; i++) {
        const p = a.malloc(size);
        assert.notEqual(p, 0);
        a.u8.fill(0xff, p, p + a.usableSize(p));
        dirty.add(p);
      }
      for (const p of [...dirty].reverse()) a.free(p);
      const got: number[] = [];
      let reused = 0;
      for (let i = 0; i < count; i++) {
        let p: number;
        if (how === 'calloc') p = a.calloc(1, size);
        else if (how === 'calloc-n') p = a.calloc(size, 1);
        else if (how === 'zalloc') p = a.zalloc(size);
        else {
          const v = a.callocAs(Uint8Array, size);
          assert.ok(v !== undefined);
          assert.equal(v.length, size);
          assert.ok(v.every((x) => x === 0), `callocAs(Uint8Array, ${size}) view is not zero`);
          p = v.byteOffset;
        }
        assert.notEqual(p, 0, `${how}(${size})`);
        assertZero(a.u8, p, size, `${how}(${size}) #${i}`);
        if (dirty.has(p)) {
          reused++;
          // Past the size's 8-byte granule, the block still holds the dirt.
          const after = a.u8.subarray(p + Math.ceil(size / 8) * 8, p + a.usableSize(p));
          assert.ok(after.every((x) => x === 0xff), `${how}(${size}) at ${p} wrote past its size`);
        }
        got.push(p);
      }
      reuses.push(reused);
      for (const p of got) a.free(p);
    }
    assertCheckOk(a);
    return reuses;
  }

  it('calloc(1, n) reads zero after the memory was dirtied and freed', () => {
    dirtyThenCalloc(createAllocator(), 'calloc');
  });
  it('calloc(n, 1) reads zero after the memory was dirtied and freed', () => {
    dirtyThenCalloc(createAllocator(), 'calloc-n');
  });
  it('zalloc reads zero after the memory was dirtied and freed', () => {
    dirtyThenCalloc(createAllocator(), 'zalloc');
  });
  it('callocAs reads zero after the memory was dirtied and freed', () => {
    dirtyThenCalloc(createAllocator(), 'callocAs');
  });
  it('calloc reads zero on a checked heap too', () => {
    dirtyThenCalloc(createAllocator({ checked: true }), 'calloc');
  });

  it('calloc clears the bytes asked for and nothing past their 8-byte granule: odd sizes, on both sides of the short/long clearing paths', () => {
    const odd = [1, 3, 9, 100, 255, 257, 300, 1001, 4095, 10001, 70001, 1.5 * MiB + 3];
    for (const a of [createAllocator(), createAllocator({ memory: new ArrayBuffer(16 * MiB) })]) {
      const reuses = dirtyThenCalloc(a, 'calloc', odd);
      // Each size must have been cleared over dirt, so that the check past the size ran.
      odd.forEach((size, i) => assert.ok(reuses[i]! > 0, `calloc(1, ${size}) reused none of the dirtied blocks`));
    }
  });

  it('calloc of many small blocks reads zero after a dirtied large block was freed (pages recycled across classes)', () => {
    const a = createAllocator();
    for (const big of [200 * KiB, 900 * KiB, 3 * MiB]) {
      const ps: number[] = [];
      for (let i = 0; i < 4; i++) {
        const p = a.malloc(big);
        a.u8.fill(0xff, p, p + a.usableSize(p));
        ps.push(p);
      }
      for (const p of ps) a.free(p);
      const small: number[] = [];
      for (let i = 0; i < 20000; i++) {
        const size = 16 + (i % 7) * 24;
        const p = a.calloc(size, 1);
        assertZero(a.u8, p, size, `calloc(${size}) after freeing ${big}-byte blocks`);
        small.push(p);
      }
      for (const p of small) a.free(p);
    }
    assertCheckOk(a);
  });

  it('a given memory full of garbage (zeroed: false by default) still gives zeroed calloc blocks', () => {
    for (const memory of [new SharedArrayBuffer(16 * MiB), new ArrayBuffer(16 * MiB)] as Memory[]) {
      new Uint8Array(bufferOf(memory)).fill(0xa5);
      const a = createAllocator({ memory });
      assertCheckOk(a, 'check() on a heap made in a garbage-filled memory');
      const ps: number[] = [];
      for (const size of [...sizes, 3 * MiB]) {
        for (let i = 0; i < (size < 64 * KiB ? 50 : 2); i++) {
          const p = a.calloc(1, size);
          assert.notEqual(p, 0, `calloc(1, ${size})`);
          assertZero(a.u8, p, size, `calloc(1, ${size}) in a garbage-filled memory`);
          ps.push(p);
        }
      }
      for (const p of ps) a.free(p);
      assertCheckOk(a);
      assertBalanced(a.stats());
    }
  });
});

describe('valloc and pvalloc', () => {
  it('valloc(n) is 4096-aligned with usableSize >= n; pvalloc(n) rounds the size up to 4096', () => {
    const a = createAllocator();
    const live: { p: number; us: number; seed: number }[] = [];
    for (const n of [1, 100, 4095, 4096, 4097, 10000, 100 * KiB, 2 * MiB]) {
      const v = a.valloc(n);
      assert.notEqual(v, 0, `valloc(${n})`);
      assert.equal(v % 4096, 0, `valloc(${n}) = ${v}`);
      assert.ok(a.usableSize(v) >= n, `usableSize(valloc(${n}))`);
      const pv = a.pvalloc(n);
      assert.notEqual(pv, 0, `pvalloc(${n})`);
      assert.equal(pv % 4096, 0, `pvalloc(${n}) = ${pv}`);
      assert.ok(a.usableSize(pv) >= roundUp(n, 4096), `usableSize(pvalloc(${n})) = ${a.usableSize(pv)}`);
      for (const p of [v, pv]) {
        const us = a.usableSize(p);
        const seed = seedCounter++;
        fillPattern(a.u8, p, us, seed);
        live.push({ p, us, seed });
      }
    }
    assertNoOverlap(live.map((b) => ({ p: b.p, len: b.us })));
    for (const b of live) assertPattern(a.u8, b.p, b.us, b.seed, 'valloc/pvalloc block');
    for (const b of live) a.free(b.p);
    assertCheckOk(a);
  });
});

describe('invalid arguments', () => {
  const badSizes: unknown[] = [-1, -4096, 1.5, 0.5, NaN, Infinity, -Infinity, '8', '0'];

  it('a size that is not a non-negative integer is a RangeError and changes nothing', () => {
    const a = createAllocator();
    const b = allocFilled(a, 500);
    const before = snapshot(a);
    for (const v of badSizes) {
      const s = v as number;
      const tag = typeof v === 'string' ? `'${v}'` : String(v);
      assertRangeError(() => a.malloc(s), `malloc(${tag})`);
      assertRangeError(() => a.zalloc(s), `zalloc(${tag})`);
      assertRangeError(() => a.calloc(s, 8), `calloc(${tag}, 8)`);
      assertRangeError(() => a.calloc(8, s), `calloc(8, ${tag})`);
      assertRangeError(() => a.realloc(b.p, s), `realloc(p, ${tag})`);
      assertRangeError(() => a.realloc(0, s), `realloc(0, ${tag})`);
      assertRangeError(() => a.reallocArray(b.p, s, 8), `reallocArray(p, ${tag}, 8)`);
      assertRangeError(() => a.reallocArray(b.p, 8, s), `reallocArray(p, 8, ${tag})`);
      assertRangeError(() => a.alignedAlloc(16, s), `alignedAlloc(16, ${tag})`);
      assertRangeError(() => a.memalign(16, s), `memalign(16, ${tag})`);
      assertRangeError(() => a.valloc(s), `valloc(${tag})`);
      assertRangeError(() => a.pvalloc(s), `pvalloc(${tag})`);
      assertRangeError(() => a.posixMemalign(16, s), `posixMemalign(16, ${tag})`);
    }
    assertUnchanged(a, before, [b], 'bad sizes');
    a.free(b.p);
    assertCheckOk(a);
  });
});

describe('invalid pointers', () => {
  // A heap with a spread of live blocks: small, medium, large, huge and over-aligned; each holds a pattern. Over
  // a SharedArrayBuffer (free's JS path) or a shared WebAssembly.Memory (where the free of a small block runs
  // in wasm, checked or not: wasmops.ts's freeBlock and freeCheckedBlock).
  function setup(checked: boolean, wasm: boolean, start = 0) {
    const memory = wasm
      ? new WebAssembly.Memory({ initial: 384, maximum: 4096, shared: true })
      : new SharedArrayBuffer(24 * MiB, { maxByteLength: 256 * MiB });
    const a = createAllocator({ memory, start, checked });
    const blocks: Block[] = [];
    for (const size of [24, 100, 3000, 40 * KiB, 300 * KiB, 2 * MiB]) blocks.push(allocFilled(a, size));
    const al = a.alignedAlloc(64 * KiB, 5000);
    blocks.push({ p: al, size: 5000, seed: seedCounter++ });
    fillPattern(a.u8, al, 5000, blocks[blocks.length - 1]!.seed);
    return { a, blocks };
  }

  /** free/usableSize/realloc/reallocArray of p must throw a WebmallocError naming p, and change nothing. */
  function assertRejected(a: Allocator, blocks: Block[], p: number, what: string, code?: string): void {
    const before = snapshot(a);
    assertPointerError(() => a.free(p), p, `free(${what} = ${p})`, code);
    assertUnchanged(a, before, blocks, `after free(${what})`);
    assertPointerError(() => a.usableSize(p), p, `usableSize(${what} = ${p})`);
    assertUnchanged(a, before, blocks, `after usableSize(${what})`);
    assertPointerError(() => a.realloc(p, 64), p, `realloc(${what} = ${p}, 64)`);
    assertUnchanged(a, before, blocks, `after realloc(${what}, 64)`);
    assertPointerError(() => a.realloc(p, 400 * KiB), p, `realloc(${what} = ${p}, 400 KiB)`);
    assertUnchanged(a, before, blocks, `after realloc(${what}, 400 KiB)`);
    assertPointerError(() => a.reallocArray(p, 4, 8), p, `reallocArray(${what} = ${p}, 4, 8)`);
    assertUnchanged(a, before, blocks, `after reallocArray(${what})`);
  }

  function interiorPointers(a: Allocator, blocks: Block[]): [number, string][] {
    const out: [number, string][] = [];
    for (const b of blocks) {
      const us = a.usableSize(b.p);
      for (const d of [1, 4, 8, 12, 16, 32, 4096, 64 * KiB, 128 * KiB, MiB])
        if (d < us) out.push([b.p + d, `interior +${d} of a ${b.size}-byte block`]);
      const mid = Math.floor(us / 2 / 16) * 16;
      if (mid > 0) out.push([b.p + mid, `middle of a ${b.size}-byte block`]);
    }
    return out;
  }

  for (const [checked, wasm] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    const tag = `${checked ? 'checked heap' : 'unchecked heap'} over ${wasm ? 'a WebAssembly.Memory' : 'a SharedArrayBuffer'}`;

    it(`${tag}: pointers outside the heap or past the memory throw and change nothing`, () => {
      const { a, blocks } = setup(checked, wasm);
      const len = a.u8.length;
      for (const p of [len, len + 16, len + 4096, 0x7ffffff0, 0xfffffff0, 0xfffffff8, 0xffffffff])
        assertRejected(a, blocks, p, 'past the memory');
      // the heap header region at the very start of the heap (start = 0)
      for (const p of [8, 16, 64, 1024]) assertRejected(a, blocks, p, 'heap metadata');
    });

    it(`${tag}: pointers below start throw and change nothing`, () => {
      const { a, blocks } = setup(checked, wasm, 100_000);
      for (const p of [16, 64, 4096, 65536, 99_984]) assertRejected(a, blocks, p, 'below start');
    });

    it(`${tag}: pointers into a never-used region throw and change nothing`, () => {
      const { a, blocks } = setup(checked, wasm);
      const s = a.stats();
      assert.ok(s.unclaimed >= 256 * KiB, `test needs unclaimed memory above the heap (unclaimed = ${s.unclaimed})`);
      const top = s.memorySize - s.unclaimed; // the unclaimed region is [top, memorySize)
      for (const d of [0, 16, 4096, 64 * KiB, s.unclaimed - 64 * KiB])
        assertRejected(a, blocks, top + d, 'never-used region');
    });

    it(`${tag}: interior and misaligned pointers of live blocks throw and change nothing`, () => {
      const { a, blocks } = setup(checked, wasm);
      for (const [p, what] of interiorPointers(a, blocks)) assertRejected(a, blocks, p, what);
    });

    it(`${tag}: blocks in a later slice of a medium page: realloc keeps them, their interior is refused, any thread frees them`, () => {
      // 20 KiB blocks: a page of 3 slices, 4 of its 8 blocks starting in the first. free and realloc find the
      // page of a block that starts in a later slice by its head (spanHeadOf) on their fast paths.
      const { a, blocks } = setup(checked, wasm);
      const page: Block[] = [];
      for (let i = 0; i < 8; i++) page.push(allocFilled(a, 20 * KiB));
      const sliceOf = (p: number) => Math.floor((p - a.heapBase) / (64 * KiB));
      const later = page.filter((b) => sliceOf(b.p) !== sliceOf(page[0]!.p));
      assert.ok(later.length >= 4, `blocks in later slices: ${later.length}`);
      const all = [...blocks, ...page];
      for (const b of later) {
        assert.equal(a.realloc(b.p, 20 * KiB - 100), b.p, 'realloc to a smaller size keeps the block');
        assert.equal(a.realloc(b.p, a.usableSize(b.p)), b.p, 'realloc to its usable size keeps the block');
        for (const d of [8, 16, 4096]) assertRejected(a, all, b.p + d, `interior +${d} of a block in a later slice`);
      }
      for (const b of all) assertPattern(a.u8, b.p, b.size, b.seed);
      // Another thread frees two of them (its thread-free list), this one the rest.
      const other = attach(a.memory);
      other.free(later[0]!.p);
      other.free(later[1]!.p);
      other.detach();
      for (const b of page) if (b !== later[0] && b !== later[1]) a.free(b.p);
      for (const b of blocks) assertPattern(a.u8, b.p, b.size, b.seed);
      assertCheckOk(a);
      const again = a.malloc(20 * KiB);
      assert.notEqual(again, 0);
      a.free(again);
      assertCheckOk(a);
    });

    it(`${tag}: pointers into the region of a freed huge block throw and change nothing`, () => {
      const { a, blocks } = setup(checked, wasm);
      const h = a.malloc(3 * MiB);
      assert.notEqual(h, 0);
      a.free(h);
      for (const d of [16, 4096, 64 * KiB, MiB, 2 * MiB + 64 * KiB]) assertRejected(a, blocks, h + d, 'freed huge region');
    });
  }

  it('checked heap: double free of small, medium, large and huge blocks throws DOUBLE_FREE and changes nothing', () => {
    const { a, blocks } = setup(true, false);
    for (const size of [8, 24, 100, 3000, 40 * KiB, 300 * KiB, 2 * MiB]) {
      const p = a.malloc(size);
      assert.notEqual(p, 0);
      a.free(p);
      assertRejected(a, blocks, p, `freed ${size}-byte block`, undefined);
      const before = snapshot(a);
      // a freed small/medium block is still a block of its page: DOUBLE_FREE; a freed large block's span
      // went back to free memory, where any code naming the pointer is right
      // (a freed huge block's segments are cached, and its descriptor still tells the double free)
      assertPointerError(() => a.free(p), p, `double free of a ${size}-byte block`, size <= 64 * KiB || size > MiB ? 'DOUBLE_FREE' : undefined);
      assertUnchanged(a, before, blocks, 'after double free');
    }
    // a freed block whose neighbours in the same page are still live
    const ring = Array.from({ length: 10 }, () => allocFilled(a, 48));
    const victim = ring[5]!;
    a.free(victim.p);
    ring.splice(5, 1);
    assertRejected(a, [...blocks, ...ring], victim.p, 'freed block among live ones');
    for (const b of ring) a.free(b.p);
    for (const b of blocks) a.free(b.p);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('WebmallocError is exported and is an Error subclass', () => {
    const a = createAllocator();
    const p = a.malloc(64);
    let err: unknown;
    try {
      a.free(p + 16);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof WebmallocError);
    assert.ok(err instanceof Error);
    assert.equal((err as WebmallocError).pointer, p + 16);
    assert.equal(typeof (err as WebmallocError).name, 'string');
    a.free(p);
    assertCheckOk(a);
  });
});

describe('out of memory', () => {
  function exhaust(a: Allocator, size: number, cap: number): number[] {
    const ps: number[] = [];
    for (let i = 0; i < cap; i++) {
      const p = a.malloc(size);
      if (p === 0) return ps;
      ps.push(p);
    }
    assert.fail(`malloc(${size}) never returned 0 after ${cap} allocations`);
  }

  function oomScenario(make: () => Memory | undefined, limitBytes: number, opts: { limit?: number } = {}): void {
    const memory = make();
    const a = createAllocator({ memory, ...opts });
    // 64 KiB blocks until exhausted
    const big = exhaust(a, 64 * KiB, 4096);
    assert.ok(big.length * 64 * KiB >= limitBytes / 2,
      `only ${big.length} blocks of 64 KiB fit into ${limitBytes} bytes`);
    assert.ok(byteLengthOf(a.memory) <= limitBytes, 'memory grew past its limit');
    assertCheckOk(a, 'check() when exhausted');
    assertBalanced(a.stats(), 'stats when exhausted');
    assert.equal(a.malloc(64 * KiB), 0, 'still exhausted');
    for (const p of big) a.free(p);
    assert.equal(a.stats().liveBlocks, 0);
    // after freeing, allocation succeeds again, just as much
    const again = exhaust(a, 64 * KiB, 4096);
    assert.ok(again.length >= big.length, `after freeing, only ${again.length} of ${big.length} blocks fit again`);
    for (const p of again) a.free(p);
    // small blocks until exhausted
    const smallSize = limitBytes <= 8 * MiB ? 16 : 64;
    const small = exhaust(a, smallSize, 2_000_000);
    assert.ok(small.length * smallSize >= limitBytes / 4, `only ${small.length} blocks of ${smallSize} bytes fit`);
    assertCheckOk(a, 'check() when exhausted by small blocks');
    for (const p of small) a.free(p);
    assert.equal(a.stats().liveBlocks, 0);
    // the pages of the small blocks are available again for a large block, and for small ones
    const l = a.malloc(512 * KiB);
    assert.notEqual(l, 0, 'a 512 KiB block after freeing all small blocks');
    a.free(l);
    const small2 = exhaust(a, smallSize, 2_000_000);
    assert.ok(small2.length >= small.length * 0.95, `small blocks after freeing: ${small2.length} < ${small.length}`);
    for (const p of small2) a.free(p);
    assertCheckOk(a);
    assertBalanced(a.stats());
  }

  it('fixed 8 MiB SharedArrayBuffer', () => oomScenario(() => new SharedArrayBuffer(8 * MiB), 8 * MiB));
  it('fixed 8 MiB ArrayBuffer', () => oomScenario(() => new ArrayBuffer(8 * MiB), 8 * MiB));
  it('default memory with limit 16 MiB', () => oomScenario(() => undefined, 16 * MiB, { limit: 16 * MiB }));
  it('growable SharedArrayBuffer with maxByteLength 16 MiB', () =>
    oomScenario(() => new SharedArrayBuffer(4 * MiB, { maxByteLength: 16 * MiB }), 16 * MiB));
  it('resizable ArrayBuffer with maxByteLength 16 MiB', () =>
    oomScenario(() => new ArrayBuffer(4 * MiB, { maxByteLength: 16 * MiB }), 16 * MiB));
  it('WebAssembly.Memory with maximum 16 MiB', () =>
    oomScenario(() => new WebAssembly.Memory({ initial: 64, maximum: 256 }), 16 * MiB));

  // The views of a memory of exactly 2^32 bytes once had 0 words (2^32 >>> 2 wraps to 0): the first call
  // after the growth that reached 4 GiB threw a RangeError.
  for (const [kind, make] of [
    ['the default memory', () => undefined],
    ['a WebAssembly.Memory without maximum', () => new WebAssembly.Memory({ initial: 1 })],
  ] as const) {
    it(`${kind}, grown to the full 4 GiB: blocks up to its last byte work, and all come back`, () => {
      const a = createAllocator({ memory: make() });
      const blocks: number[] = [];
      for (const size of [48 * MiB, MiB - 4 * KiB, 60 * KiB, 100]) blocks.push(...exhaust(a, size, 100_000));
      assert.equal(byteLengthOf(a.memory), 2 ** 32, 'the memory reached 4 GiB');
      const last = Math.max(...blocks);
      const u8 = a.u8;
      u8[last + a.usableSize(last) - 1] = 7;
      assert.equal(u8[last + a.usableSize(last) - 1], 7);
      assertCheckOk(a, 'check() at 4 GiB');
      assertBalanced(a.stats(), 'stats at 4 GiB');
      for (const p of blocks) a.free(p);
      assert.equal(a.stats().liveBlocks, 0);
      // A block of 2 GiB or more: its usable size does not fit an Int32 (it read negative, and a shrinking
      // realloc then moved the block and copied nothing).
      const big = a.malloc(2 ** 31 + MiB);
      assert.notEqual(big, 0, 'a block over 2 GiB after freeing everything');
      assert.ok(a.usableSize(big) >= 2 ** 31 + MiB, `usableSize ${a.usableSize(big)}`);
      a.u8[big] = 9;
      a.u8[big + 2 ** 31 + MiB - 1] = 8;
      assertCheckOk(a, 'check() with a block over 2 GiB');
      assert.ok(a.stats().liveBytes >= 2 ** 31 + MiB, 'stats count it whole');
      const r = a.realloc(big, 1000);
      assert.equal(r, big, 'shrinking keeps the block');
      assert.equal(a.u8[r], 9, 'and its bytes');
      a.free(r);
      assertCheckOk(a);
      assert.equal(a.stats().liveBlocks, 0);
    });
  }
});

describe('memory kinds and start', () => {
  interface Kind {
    name: string;
    make: () => Memory | undefined;
    growable: boolean;
  }
  const kinds: Kind[] = [
    { name: 'default (own shared WebAssembly.Memory)', make: () => undefined, growable: true },
    { name: 'given growable SharedArrayBuffer', make: () => new SharedArrayBuffer(4 * MiB, { maxByteLength: 128 * MiB }), growable: true },
    { name: 'given fixed 8 MiB SharedArrayBuffer', make: () => new SharedArrayBuffer(8 * MiB), growable: false },
    { name: 'resizable ArrayBuffer', make: () => new ArrayBuffer(4 * MiB, { maxByteLength: 128 * MiB }), growable: true },
    { name: 'fixed 8 MiB ArrayBuffer', make: () => new ArrayBuffer(8 * MiB), growable: false },
    { name: 'shared WebAssembly.Memory', make: () => new WebAssembly.Memory({ initial: 64, maximum: 2048, shared: true }), growable: true },
    { name: 'non-shared WebAssembly.Memory', make: () => new WebAssembly.Memory({ initial: 64, maximum: 2048 }), growable: true },
    { name: 'non-shared WebAssembly.Memory without maximum', make: () => new WebAssembly.Memory({ initial: 64 }), growable: true },
  ];

  let belowPattern = (i: number) => (i * 13 + 7) & 255;

  function scenario(kind: Kind, start: number): void {
    const memory = kind.make();
    belowPattern = memory === undefined ? () => 0 : (i: number) => (i * 13 + 7) & 255; // own memory starts zeroed
    if (memory !== undefined) {
      // bytes below start carry a pattern that must never change; the rest is garbage the heap must not trust
      const u = new Uint8Array(bufferOf(memory));
      for (let i = 0; i < start; i++) u[i] = belowPattern(i);
      u.fill(0xc3, start);
    }
    const initial = memory === undefined ? undefined : byteLengthOf(memory);
    const a = createAllocator(memory === undefined ? { start } : { memory, start });
    if (memory !== undefined) assert.equal(a.memory, memory, 'allocator.memory is the given memory');
    else assert.ok(a.memory instanceof WebAssembly.Memory && bufferOf(a.memory) instanceof SharedArrayBuffer, 'default memory is a shared WebAssembly.Memory');
    const size0 = byteLengthOf(a.memory);
    assert.equal(a.u8.length, size0);
    assert.equal(a.u8.buffer, bufferOf(a.memory), 'u8 views the memory');
    let s = a.stats();
    assert.ok(s.belowHeap >= start, `belowHeap ${s.belowHeap} < start ${start}`);
    assertBalanced(s, 'fresh heap');
    assertCheckOk(a, 'fresh heap');

    // allocate: beyond the initial size when the memory can grow; ~2 MiB of 8 MiB otherwise (a page of each
    // of the ~80 size classes reserves 64..512 KiB, so a random mix cannot fill a small fixed memory)
    const target = kind.growable ? 3 * size0 + 2 * MiB : 2 * MiB;
    const r = rng(start + 1);
    const blocks: Block[] = [];
    let total = 0;
    const zeroed: Block[] = [];
    while (total < target) {
      const x = r();
      const size = x < 0.85 ? randInt(r, 1, 512) : x < 0.99 || !kind.growable ? randInt(r, 513, 200 * KiB) : randInt(r, MiB, 3 * MiB);
      if (!kind.growable && total + size > target) {
        if (size <= 512) break;
        continue;
      }
      if (x < 0.1) {
        const p = a.calloc(1, size);
        assert.notEqual(p, 0, `calloc(1, ${size})`);
        assertZero(a.u8, p, size, `calloc(1, ${size}) in ${kind.name}`);
        zeroed.push({ p, size, seed: 0 });
      } else {
        blocks.push(allocFilled(a, size));
      }
      total += size;
    }
    if (kind.growable) {
      assert.ok(byteLengthOf(a.memory) > (initial ?? size0), 'the memory should have grown');
      assert.equal(a.u8.length, byteLengthOf(a.memory), 'u8 is renewed after growth');
    } else {
      assert.equal(byteLengthOf(a.memory), size0, 'a fixed memory keeps its size');
    }
    // realloc moves blocks (wasm's memory.copy over a WebAssembly.Memory, copyWithin over the others), and calloc
    // clears memory that held blocks before (memory.fill, or typed arrays; above 256 bytes, not a word loop)
    for (let i = 0; i < blocks.length; i += 7) {
      const b = blocks[i]!;
      const n = 2 * b.size + 100;
      const q = a.realloc(b.p, n);
      if (q === 0) continue; // a fixed memory may have no room for it
      assertPattern(a.u8, q, b.size, b.seed, `realloc(p, ${n}) of ${b.size} bytes in ${kind.name}`);
      b.p = q;
    }
    const reused = blocks.filter((b) => b.size > 256 && b.size <= 200 * KiB).slice(0, 30);
    for (const b of reused) {
      a.free(b.p);
      blocks.splice(blocks.indexOf(b), 1);
    }
    let cleared = 0;
    for (const b of reused) {
      const p = a.calloc(1, b.size);
      if (p === 0 && !kind.growable) continue; // a span freed here may have gone to another class meanwhile
      assert.notEqual(p, 0, `calloc(1, ${b.size}) after frees`);
      cleared++;
      assertZero(a.u8, p, b.size, `calloc(1, ${b.size}) of reused memory in ${kind.name}`);
      zeroed.push({ p, size: b.size, seed: 0 });
    }
    assert.ok(cleared >= reused.length / 2, `calloc after frees: ${cleared} of ${reused.length} met`);
    assertNoOverlap([...blocks, ...zeroed].map((b) => ({ p: b.p, len: b.size })));
    for (const b of blocks) assertPattern(a.u8, b.p, b.size, b.seed);
    for (const z of zeroed) assertZero(a.u8, z.p, z.size);
    for (const b of [...blocks, ...zeroed]) assert.ok(b.p >= start, `block ${b.p} below start ${start}`);
    assertCheckOk(a);
    s = a.stats();
    assertBalanced(s, 'loaded heap');
    assert.equal(s.memorySize, byteLengthOf(a.memory));
    assert.equal(s.liveBlocks, blocks.length + zeroed.length);

    // a second instance on the same thread joins the heap and frees half of the blocks
    const b2 = attach(a.memory, { start });
    assert.notEqual(b2.threadId, a.threadId);
    assert.equal(a.stats().threadsAttached, 2);
    const half = blocks.splice(0, blocks.length >> 1);
    for (const b of half) {
      assertPattern(b2.u8, b.p, b.size, b.seed);
      b2.free(b.p);
    }
    const mine = allocFilled(b2, 1000);
    b2.detach();
    assert.equal(a.stats().threadsAttached, 1);
    blocks.push(mine);
    for (const b of blocks) assertPattern(a.u8, b.p, b.size, b.seed);
    for (const b of [...blocks, ...zeroed]) a.free(b.p);
    s = a.stats();
    assert.equal(s.liveBlocks, 0);
    assert.equal(s.liveBytes, 0);
    assertBalanced(s, 'emptied heap');
    assertCheckOk(a);

    // bytes below start are untouched
    const u = new Uint8Array(bufferOf(a.memory));
    for (let i = 0; i < start; i++) {
      if (u[i] !== belowPattern(i)) assert.fail(`byte ${i} below start ${start} was modified (${u[i]})`);
    }
  }

  for (const kind of kinds) {
    for (const start of [0, 100_003]) {
      it(`${kind.name}, start ${start}`, () => scenario(kind, start));
    }
  }
  it('given growable SharedArrayBuffer, start 65536 (already 64 KiB aligned)', () => scenario(kinds[1]!, 65536));

  it('non-shared WebAssembly.Memory: a huge block that makes the memory grow (the old buffer is detached)', () => {
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 2048 });
    const a = createAllocator({ memory });
    const p = a.malloc(6 * MiB);
    assert.notEqual(p, 0);
    assert.ok(memory.buffer.byteLength >= p + 6 * MiB);
    a.u8.fill(0x11, p, p + 6 * MiB);
    assertCheckOk(a);
    a.free(p);
    assertCheckOk(a);
  });
  it('fixed 8 MiB SharedArrayBuffer, start 1 MiB + 1', () => scenario(kinds[2]!, MiB + 1));

  it('non-shared WebAssembly.Memory, two instances in one thread: after one grows the memory (detaching the buffer), the other works on', () => {
    // The other's views are then over the detached buffer, where every read gives undefined: its malloc
    // once returned NaN and its free, usableSize, collect and detach threw a TypeError.
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 4096 });
    const a = createAllocator({ memory });
    const others = [0, 1, 2, 3, 4, 5].map(() => attach(memory));
    const old = others.map((o) => allocFilled(o, 100));
    const grow = () => {
      const buffer = memory.buffer;
      const p = a.malloc(8 * MiB);
      assert.notEqual(memory.buffer, buffer, 'the memory grew: its old buffer is detached');
      return p;
    };
    const huge = [grow()];
    const q = others[0]!.malloc(100);
    assert.ok(Number.isInteger(q) && q > 0, `malloc after the growth: ${q}`);
    others[0]!.free(q);
    huge.push(grow());
    others[1]!.free(old[1]!.p);
    huge.push(grow());
    assert.ok(others[2]!.usableSize(old[2]!.p) >= 100);
    huge.push(grow());
    const r = others[3]!.realloc(old[3]!.p, 5000);
    assert.notEqual(r, 0);
    assertPattern(a.u8, r, 100, old[3]!.seed);
    others[3]!.free(r);
    huge.push(grow());
    others[4]!.collect();
    others[4]!.free(old[4]!.p);
    huge.push(grow());
    huge.push(others[5]!.malloc(3 * MiB));
    assert.notEqual(huge[huge.length - 1], 0, 'a huge block after the growth');
    for (const o of others) o.detach();
    for (const x of [old[0]!, old[2]!, old[5]!]) {
      assertPattern(a.u8, x.p, 100, x.seed);
      a.free(x.p);
    }
    for (const p of huge) a.free(p);
    assertCheckOk(a);
    assert.equal(a.stats().liveBlocks, 0);
  });
});

describe('threads on one thread (attach / detach)', () => {
  it('collect() takes a remote free whose thread died before flagging the page (its bit set, TF_PENDING not)', () => {
    const a = createAllocator();
    const blocks = Array.from({ length: 40 }, () => a.malloc(48));
    const p = blocks[9]!;
    // What a freer leaves when it dies between its OR and its CAS: the bit in the remote bitmap, the page's
    // flags untouched.
    const { at, bit } = remoteBitOf(a, p);
    const m = new Int32Array(bufferOf(a.memory));
    m[at / 4]! |= bit;
    assertCheckOk(a, 'check() with the bit waiting');
    const before = a.stats().liveBlocks;
    a.collect();
    assert.equal(a.stats().liveBlocks, before, 'the block counted as waiting before, free after: not live either way');
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(a.malloc(48));
    assert.ok(seen.has(p), 'p is handed out again');
    assertCheckOk(a);
  });

  it("another thread's second free of a block its owner has not taken back yet throws DOUBLE_FREE and changes nothing", () => {
    for (const options of [{}, { memory: new SharedArrayBuffer(16 * MiB) }]) {
      const a = createAllocator(options);
      const b = attach(a.memory);
      const blocks = Array.from({ length: 40 }, () => a.malloc(48));
      const p = blocks[7]!;
      b.free(p); // its bit in the remote bitmap: a waits to take it until its free list runs dry
      const before = a.stats();
      assertPointerError(() => b.free(p), p, 'b.free(p) again', 'DOUBLE_FREE');
      assert.deepEqual(a.stats(), before, 'nothing changed');
      assertCheckOk(a, 'check() after the refused free');
      // The block comes back once: allocating the page's every block hands p out one time only.
      const seen = new Map<number, number>();
      for (let i = 0; i < 2000; i++) {
        const q = a.malloc(48);
        seen.set(q, (seen.get(q) ?? 0) + 1);
      }
      assert.equal(seen.get(p), 1, 'p handed out again exactly once');
      assert.ok([...seen.values()].every((n) => n === 1), 'no block handed out twice');
      assertCheckOk(a);
      b.detach();
    }
  });

  it("another thread's free of a block whose page its owner parked as full reaches the owner (its delayed list), checked or not, over each memory", () => {
    for (const checked of [false, true]) {
      for (const memory of [undefined, new SharedArrayBuffer(16 * MiB)]) {
        const a = createAllocator(memory === undefined ? { checked } : { memory, checked });
        const b = attach(a.memory);
        // More 48-byte blocks than a page holds (1,365): the first page runs full and is parked on a's full list.
        const blocks = Array.from({ length: 3000 }, () => a.malloc(48));
        const p = blocks[0]!;
        b.free(p);
        assertCheckOk(a, 'check() after the free');
        const seen = new Map<number, number>();
        for (let i = 0; i < 3000 && !seen.has(p); i++) {
          const q = a.malloc(48);
          seen.set(q, (seen.get(q) ?? 0) + 1);
        }
        assert.equal(seen.get(p), 1, `p handed out again (checked: ${checked}, ${memory === undefined ? 'default memory' : 'SharedArrayBuffer'})`);
        assert.ok([...seen.keys()].every((q) => q === p || !blocks.includes(q)), 'no live block handed out');
        assertCheckOk(a);
        b.detach();
      }
    }
  });

  it("a page its owner's free brought back from the full list, filled and parked again, still tells its owner of another thread's free", () => {
    for (const checked of [false, true]) {
      for (const memory of [undefined, new SharedArrayBuffer(16 * MiB)]) {
        const what = `checked: ${checked}, ${memory === undefined ? 'default memory' : 'SharedArrayBuffer'}`;
        const a = createAllocator(memory === undefined ? { checked } : { memory, checked });
        const b = attach(a.memory);
        // The first page of 48-byte blocks (1,365) runs full and is parked; a second page is begun.
        const blocks = Array.from({ length: 3000 }, () => a.malloc(48));
        const live = new Set(blocks);
        // The owner's own free brings the first page back to its queue (its flag left set: localFreeSlow).
        a.free(blocks[1]!);
        live.delete(blocks[1]!);
        // Its one free block is handed out again, and the page, full again, is parked again.
        const handed: number[] = [];
        for (let i = 0; i < 3000 && !handed.includes(blocks[1]!); i++) handed.push(a.malloc(48));
        assert.ok(handed.includes(blocks[1]!), `the owner's freed block handed out again (${what})`);
        for (const q of handed) live.add(q);
        for (let i = 0; i < 1500; i++) live.add(a.malloc(48));
        // Another thread's free into the parked page.
        const p = blocks[2]!;
        b.free(p);
        live.delete(p);
        assertCheckOk(a, `check() after the remote free (${what})`);
        const seen = new Map<number, number>();
        for (let i = 0; i < 4000 && !seen.has(p); i++) {
          const q = a.malloc(48);
          seen.set(q, (seen.get(q) ?? 0) + 1);
        }
        assert.equal(seen.get(p), 1, `the remotely freed block handed out again, once (${what})`);
        assert.ok([...seen.keys()].every((q) => !live.has(q)), `no live block handed out (${what})`);
        assertCheckOk(a);
        b.detach();
      }
    }
  });

  it('blocks move freely between instances; detach keeps blocks valid and freeable by others', () => {
    const a = createAllocator();
    const b = attach(a.memory);
    const c = attach(a.memory);
    assert.equal(new Set([a.threadId, b.threadId, c.threadId]).size, 3, 'distinct thread ids');
    assert.equal(a.stats().threadsAttached, 3);
    const r = rng(3);
    const insts = [a, b, c];
    let live: Block[] = [];
    for (let i = 0; i < 3000; i++) {
      const who = insts[randInt(r, 0, 2)]!;
      if (live.length > 0 && r() < 0.45) {
        const k = randInt(r, 0, live.length - 1);
        const blk = live[k]!;
        assertPattern(who.u8, blk.p, blk.size, blk.seed);
        if (r() < 0.3) {
          const n = randInt(r, 1, 5000);
          const q = who.realloc(blk.p, n);
          assert.notEqual(q, 0);
          assertPattern(who.u8, q, Math.min(n, blk.size), blk.seed, 'cross-instance realloc');
          live[k] = { p: q, size: n, seed: seedCounter++ };
          fillPattern(who.u8, q, n, live[k]!.seed);
        } else {
          who.free(blk.p);
          live.splice(k, 1);
        }
      } else {
        const x = r();
        live.push(allocFilled(who, x < 0.9 ? randInt(r, 1, 1024) : randInt(r, 1025, 300 * KiB)));
      }
    }
    assertCheckOk(a);
    c.detach();
    assert.equal(a.stats().threadsAttached, 2);
    assertCheckOk(a, 'after detach');
    for (const blk of live) assertPattern(a.u8, blk.p, blk.size, blk.seed, 'block after detach');
    // free everything from b, including blocks c allocated before it left
    for (const blk of live) b.free(blk.p);
    live = [];
    let s = a.stats();
    assert.equal(s.liveBlocks, 0);
    assert.equal(s.liveBytes, 0);
    assertBalanced(s);
    b.detach();
    s = a.stats();
    assert.equal(s.threadsAttached, 1);
    assertCheckOk(a);
  });

  it('pages of a detached instance, emptied by frees from another instance, are reusable for any size', () => {
    const memory = new SharedArrayBuffer(16 * MiB);
    const a = createAllocator({ memory });
    const b = attach(memory);
    const ps: number[] = [];
    for (let i = 0; i < 40000; i++) {
      const p = b.malloc(256);
      assert.notEqual(p, 0);
      ps.push(p);
    }
    b.detach(); // b's pages (full of live blocks) are abandoned
    for (const p of ps) a.free(p); // ... and then emptied by a
    const s = a.stats();
    assert.equal(s.liveBlocks, 0);
    assertBalanced(s);
    assertCheckOk(a);
    const big = a.malloc(8 * MiB);
    assert.notEqual(big, 0, `malloc(8 MiB) in an empty 16 MiB heap: ${JSON.stringify({ ...s, bins: undefined })}`);
    a.free(big);
  });

  it('maxThreads bounds the number of attached instances; a detached slot can be reused', () => {
    const a = createAllocator({ maxThreads: 2 });
    const b = attach(a.memory);
    assert.throws(() => attach(a.memory), 'a third instance with maxThreads 2');
    assert.equal(a.stats().threadsAttached, 2);
    const p = b.malloc(100);
    b.detach();
    const c = attach(a.memory);
    assert.equal(a.stats().threadsAttached, 2);
    assert.ok(c.usableSize(p) >= 100, 'a block of a detached instance stays valid');
    c.free(p);
    assertCheckOk(a);
  });
});

describe('typed views', () => {
  it('mallocAs / callocAs / view give typed arrays over the heap memory', () => {
    const a = createAllocator();
    const f = a.mallocAs(Float64Array, 100);
    assert.ok(f instanceof Float64Array);
    assert.equal(f.length, 100);
    assert.equal(f.buffer, bufferOf(a.memory));
    assert.equal(f.byteOffset % 16, 0);
    assert.ok(a.usableSize(f.byteOffset) >= 800);
    for (let i = 0; i < 100; i++) f[i] = i * 1.5;
    const again = a.view(Float64Array, f.byteOffset, 100);
    assert.ok(again instanceof Float64Array);
    assert.equal(again.byteOffset, f.byteOffset);
    assert.equal(again[99], 99 * 1.5);
    const dv = new DataView(bufferOf(a.memory), f.byteOffset + 8 * 7, 8);
    assert.equal(dv.getFloat64(0, true), 7 * 1.5, 'view writes land in the memory (little endian)');

    // dirty then callocAs: zero-filled
    const d = a.mallocAs(Int32Array, 5000)!;
    d.fill(-1);
    a.free(d.byteOffset);
    const z = a.callocAs(Int32Array, 5000);
    assert.ok(z instanceof Int32Array);
    assert.equal(z.length, 5000);
    assert.ok(z.every((x) => x === 0));

    const big = a.mallocAs(BigUint64Array, 3)!;
    assert.ok(big instanceof BigUint64Array);
    big[2] = 0x1122334455667788n;
    assert.equal(a.view(BigUint64Array, big.byteOffset, 3)[2], 0x1122334455667788n);

    const u = a.view(Uint8Array, f.byteOffset, 16);
    assert.deepEqual([...u], [...a.u8.subarray(f.byteOffset, f.byteOffset + 16)]);

    for (const v of [f, z, big]) a.free(v.byteOffset);
    assert.equal(a.stats().liveBlocks, 0);
    assertCheckOk(a);
  });

  it('mallocAs / callocAs return undefined when out of memory', () => {
    const a = createAllocator({ memory: new SharedArrayBuffer(4 * MiB) });
    const before = snapshot(a);
    assert.equal(a.mallocAs(Float64Array, MiB), undefined, '8 MiB in a 4 MiB memory');
    assert.equal(a.callocAs(Uint32Array, 2 * MiB), undefined, '8 MiB in a 4 MiB memory');
    assert.deepEqual(snapshot(a), before);
    const ok = a.mallocAs(Uint16Array, 1000);
    assert.ok(ok instanceof Uint16Array);
    a.free(ok.byteOffset);
    assertCheckOk(a);
  });
});

/**
 * Replays a free that stops right after locating its block: `meanwhile` runs at that point (other threads'
 * work, done here by other instances), then the free goes on. It must be refused as a double free.
 */
function assertStalledFreeRefused(a: Allocator, p: number, what: string, meanwhile: () => void): void {
  // Every path to a descriptor (locate, and free's own with the slice it found) goes through locateFrom.
  const stalled = a as unknown as { locateFrom(p: number, slice: number): number };
  const locateFrom = stalled.locateFrom;
  stalled.locateFrom = function (q: number, slice: number): number {
    const dw = locateFrom.call(this, q, slice);
    meanwhile();
    return dw;
  };
  try {
    assertPointerError(() => a.free(p), p, what, 'DOUBLE_FREE');
  } finally {
    delete (stalled as { locateFrom?: unknown }).locateFrom;
  }
}

describe("large blocks: a freed block's span is held for the thread's next one", () => {
  /**
   * Words of the descriptor of the slice holding `q` (see descriptorWordOf): P_KIND (FREE 0, LARGE 2), P_SPAN,
   * P_OWNER (LIVE_BLOCK 1, LARGE_HELD | slot = 0x10000 | slot).
   */
  function descriptor(a: Allocator, q: number) {
    const m = new Int32Array(bufferOf(a.memory));
    const w = descriptorWordOf(a, q);
    return { kind: m[w]!, span: m[w + 1]!, owner: m[w + 10]! };
  }
  const heldBy = (a: Allocator) => 0x10000 | a.threadId % 1024;

  it('reused in place, split for a smaller block (the rest held), joined again, grown, and given back on collect()', () => {
    const a = createAllocator();
    const p = a.malloc(200 * KiB);
    const slices = descriptor(a, p).span;
    assert.ok(slices >= 4, `a span of its own (${slices} slices)`);
    a.free(p);
    assert.deepEqual(descriptor(a, p), { kind: 2, span: slices, owner: heldBy(a) }, 'held by the thread that freed it');
    assertPointerError(() => a.free(p), p, "a second free of a held span's block", 'DOUBLE_FREE');
    assertPointerError(() => a.usableSize(p), p, "usableSize of a held span's block");
    assertCheckOk(a, 'check() with a held span');
    let s = a.stats();
    assertBalanced(s, 'a held span');
    assert.equal(s.largeBlocks, 0, 'no large block is live');
    assert.ok(s.freeSlices >= slices * 64 * KiB, `the held span counts as free (${s.freeSlices})`);
    const size = s.memorySize;
    const q = a.malloc(200 * KiB - 100);
    assert.equal(q, p, 'the held span serves the next large block');
    assert.deepEqual(descriptor(a, q), { kind: 2, span: slices, owner: 1 }, 'live again, the whole span');
    fillPattern(a.u8, q, 200 * KiB - 100, 7);
    assertCheckOk(a, 'check() with the block live again');
    a.free(q);
    const r = a.malloc(100 * KiB); // 2 slices: the rest of the held span stays held, a span of its own
    assert.equal(r, p, "a smaller block at the held span's start");
    assert.equal(descriptor(a, r).span, 2);
    const rest = r + 2 * 64 * KiB;
    assert.deepEqual(descriptor(a, rest), { kind: 2, span: slices - 2, owner: heldBy(a) }, 'the slices it does not need are held');
    assertPointerError(() => a.free(rest), rest, 'a free of the held rest', 'DOUBLE_FREE');
    assert.ok(a.usableSize(r) >= 100 * KiB && a.usableSize(r) <= 2 * 64 * KiB);
    assertCheckOk(a, 'check() after a split');
    assertBalanced(a.stats(), 'after a split');
    fillPattern(a.u8, r, 100 * KiB, 5);
    assert.equal(a.realloc(r, 150 * KiB), r, 'realloc grows it in place, into the held rest');
    assert.equal(descriptor(a, r).span, 3);
    assert.deepEqual(descriptor(a, r + 3 * 64 * KiB), { kind: 2, span: slices - 3, owner: heldBy(a) }, 'what is left stays held');
    assert.ok(a.usableSize(r) >= 150 * KiB);
    assertPattern(a.u8, r, 100 * KiB, 5, 'the contents');
    assertCheckOk(a, 'check() after realloc grew into the held rest');
    a.free(r);
    assert.deepEqual(descriptor(a, r), { kind: 2, span: slices, owner: heldBy(a) }, 'joined again with the rest');
    assert.deepEqual(descriptor(a, rest), { kind: 4, span: 2, owner: 0 }, "the rest's first slice is a tail of the joined span");
    assertCheckOk(a, 'check() after a join');
    const t = a.malloc(300 * KiB); // 5 slices, more than the held span: it grows into the free slices after it
    assert.equal(t, p, 'the held span grew in place');
    assert.equal(descriptor(a, t).owner, 1, 'live, nothing held any more');
    assert.equal(a.stats().memorySize, size, 'no growth');
    a.free(t);
    assert.equal(descriptor(a, t).owner, heldBy(a));
    a.collect();
    assert.deepEqual(descriptor(a, t), { kind: 0, span: 0, owner: 0 }, 'collect(): back to the pool');
    s = a.stats();
    assertBalanced(s, 'after collect()');
    assertCheckOk(a);
  });

  it('a held span grows into the free slices after it for a larger block; realloc grows a live large block in place', () => {
    const a = createAllocator();
    const p = a.malloc(100 * KiB); // 2 slices
    a.free(p);
    const size = a.stats().memorySize;
    const q = a.malloc(300 * KiB); // 5: the held span grows
    assert.equal(q, p, 'the held span grew in place');
    assert.equal(descriptor(a, q).span, 5);
    assert.equal(a.stats().memorySize, size, 'no growth');
    assertCheckOk(a, 'check() after a held span grew');
    fillPattern(a.u8, q, 300 * KiB, 9);
    const r = a.realloc(q, 700 * KiB); // 11 slices: the free ones after it
    assert.equal(r, q, 'realloc grew the block in place');
    assert.equal(descriptor(a, r).span, 11);
    assert.ok(a.usableSize(r) >= 700 * KiB, `usable ${a.usableSize(r)}`);
    assertPattern(a.u8, r, 300 * KiB, 9, 'the contents');
    assertCheckOk(a, 'check() after realloc grew a block in place');
    const next = a.malloc(100 * KiB); // right after r
    assert.equal(next, r + 11 * 64 * KiB, 'the next span starts where r ends');
    const moved = a.realloc(r, 900 * KiB); // no room after it: moved
    assert.notEqual(moved, r, 'no free slices after it: moved');
    assertPattern(a.u8, moved, 300 * KiB, 9, 'the moved contents');
    assert.equal(descriptor(a, r).owner, heldBy(a), "the old block's span is held");
    const big = a.malloc(950 * KiB); // 15 slices: r's 11 neither fit nor can grow (next is after them)
    assert.notEqual(big, r);
    assert.equal(descriptor(a, r).kind, 0, 'so the held span went back to the pool');
    assertCheckOk(a, 'check() after a held span that could not serve went back');
    a.free(big);
    a.free(moved);
    a.free(next);
    assertCheckOk(a);
  });

  it('freed neighbours join into one held span, which serves a larger block whole', () => {
    const a = createAllocator();
    const [p, q, r, guard] = [a.malloc(100 * KiB), a.malloc(100 * KiB), a.malloc(100 * KiB), a.malloc(100 * KiB)];
    assert.deepEqual([q, r, guard], [p + 2 * 64 * KiB, p + 4 * 64 * KiB, p + 6 * 64 * KiB], 'four spans of 2 slices, one after another');
    a.free(p);
    a.free(r);
    assert.deepEqual(descriptor(a, p), { kind: 2, span: 2, owner: heldBy(a) });
    assert.deepEqual(descriptor(a, r), { kind: 2, span: 2, owner: heldBy(a) }, 'not next to p: held apart');
    a.free(q); // joins both: the span after it, then the one before it
    assert.deepEqual(descriptor(a, p), { kind: 2, span: 6, owner: heldBy(a) }, 'one held span of 6 slices');
    for (const x of [q, r]) assert.equal(descriptor(a, x).kind, 4, 'the others are its tails');
    assertCheckOk(a, 'check() after the joins');
    const size = a.stats().memorySize;
    const big = a.malloc(350 * KiB); // 6 slices
    assert.equal(big, p, 'the joined span serves it');
    assert.equal(descriptor(a, big).span, 6);
    assert.equal(a.stats().memorySize, size, 'no growth');
    fillPattern(a.u8, big, 350 * KiB, 3);
    assertCheckOk(a, 'check() with the block in the joined span');
    a.free(big);
    a.free(guard); // joins the span before it too
    assert.deepEqual(descriptor(a, p), { kind: 2, span: 8, owner: heldBy(a) });
    assertBalanced(a.stats(), 'after all the frees');
    assertCheckOk(a);
  });

  it('at most 8 spans, the oldest given back first; detach() gives them all back', () => {
    const a = createAllocator();
    // Every other block stays live, so that the freed ones are not neighbours (neighbours join).
    const blocks = Array.from({ length: 18 }, () => a.malloc(100 * KiB));
    const freed = blocks.filter((_, i) => i % 2 === 0);
    for (const q of freed) a.free(q);
    assert.equal(descriptor(a, freed[0]!).kind, 0, 'the oldest went back to the pool');
    for (const q of freed.slice(1)) assert.equal(descriptor(a, q).owner, heldBy(a), 'the 8 others are held');
    assertCheckOk(a, 'check() with 8 held spans');
    for (const q of blocks.filter((_, i) => i % 2 === 1)) a.free(q);
    assertCheckOk(a, 'check() after the live ones were freed too');
    a.detach();
    const b = attach(a.memory);
    for (const q of blocks) assert.equal(descriptor(b, q).kind, 0, 'detach(): all back to the pool');
    assertCheckOk(b, 'check() after detach()');
  });

  it('with others attached, a thread holds up to 16 slices (one span); alone, up to 1/8 of the heap', () => {
    // A heap of 64 MiB: 1,024 slices, 16 of them holdable with others attached, 128 alone.
    const a = createAllocator({ limit: 64 * MiB });
    const other = attach(a.memory);
    const p = a.malloc(900 * KiB); // 15 slices
    const q = a.malloc(900 * KiB);
    a.free(p);
    assert.equal(descriptor(a, p).owner, heldBy(a), '15 slices: held');
    a.free(q);
    assert.equal(descriptor(a, q).kind, 0, '30 slices would be more than 16: back to the pool');
    other.detach();
    // Whether others are attached is looked up again after 64 frees that need the larger share.
    let y = 0;
    for (let i = 0; i < 64; i++) {
      const x = a.malloc(900 * KiB);
      y = a.malloc(900 * KiB);
      a.free(x);
      a.free(y);
    }
    assert.equal(descriptor(a, y).owner, heldBy(a), 'alone: 30 slices held');
    assertCheckOk(a);
  });
});

describe("the pool's search for free slices", () => {
  it('takes the lowest segment in use that has room, and an entirely free segment only when none has', () => {
    const a = createAllocator();
    const segmentOf = (p: number) => Math.floor((p - a.heapBase) / MiB);
    // Fill segment 0 (the heap's header takes its first slices): blocks of two slices until one lands beyond it.
    const filler: number[] = [];
    for (;;) {
      const p = a.malloc(64 * KiB + 1);
      assert.notEqual(p, 0);
      if (segmentOf(p) !== 0) {
        a.free(p);
        break;
      }
      filler.push(p);
    }
    a.collect(); // (a freed large block's span is held for the thread's next one: collect() gives it back)
    // Forty segments, each taken whole by a block of 15 slices.
    const whole = Array.from({ length: 40 }, () => a.malloc(960 * KiB));
    assert.deepEqual(whole.map(segmentOf), Array.from({ length: 40 }, (_, i) => i + 1));
    const memorySize = a.stats().memorySize;
    const freeSegment = (i: number) => {
      a.free(whole[i - 1]!);
      a.collect();
    };
    // Segment 5 in use with 6 slices free; then segment 35, in the summary's second word, freed and half used.
    freeSegment(5);
    const low = a.malloc(600 * KiB);
    assert.equal(segmentOf(low), 5);
    freeSegment(35);
    const high = a.malloc(600 * KiB); // does not fit segment 5's 6 slices: the free segment 35
    assert.equal(segmentOf(high), 35);
    // Both have 6 slices free now: the lower one, although the last search found room in the higher one.
    assert.equal(segmentOf(a.malloc(300 * KiB)), 5);
    // Segment 3 entirely free, segment 35 in use with room: segment 35.
    freeSegment(3);
    assert.equal(segmentOf(a.malloc(300 * KiB)), 35);
    // No segment in use has room for 10 slices: the lowest free one.
    assert.equal(segmentOf(a.malloc(600 * KiB)), 3);
    assert.equal(a.stats().memorySize, memorySize, 'the memory did not grow');
    assertCheckOk(a);
  });
});

describe('huge blocks: freed segments are kept whole for the next one', () => {
  it('a cached run that the limit cuts short serves a block up to the limit, and nothing past it', () => {
    const limit = 8 * MiB + 512 * KiB; // the heap's last segment is half a segment
    const a = createAllocator({ limit });
    const room = limit - (a.heapBase + MiB + heapHeaderWord(a, 3)); // from the first huge block's start (segment 1, after its header) to the limit
    const h = a.malloc(room);
    assert.notEqual(h, 0, 'a block reaching the limit');
    a.free(h);
    assert.equal(a.malloc(room + 16), 0, 'a block 16 bytes past the limit is refused, cached run or not');
    assert.equal(a.malloc(room), h, 'the segments serve the block that reaches the limit again');
    a.free(h);
    assertCheckOk(a);
  });

  it('serve the next huge blocks, split and joined again, without growing the memory', () => {
    const a = createAllocator();
    const h = a.malloc(15.5 * MiB); // 16 segments
    assert.notEqual(h, 0);
    fillPattern(a.u8, h, 15.5 * MiB, 1);
    a.free(h);
    a.collect(); // the run this thread held goes to the cache, which any thread's huge blocks use
    const size = a.stats().memorySize;
    const p = a.malloc(4 * MiB);
    assert.equal(p, h, 'the freed segments are reused from their start');
    const q = a.malloc(6 * MiB);
    assert.ok(q > p + 4 * MiB && q + 6 * MiB <= h + 16 * MiB, `the rest of the freed segments serve the next block (q = ${q})`);
    fillPattern(a.u8, p, 4 * MiB, 2);
    fillPattern(a.u8, q, 6 * MiB, 3);
    assertPattern(a.u8, p, 4 * MiB, 2);
    assertCheckOk(a, 'check() with a split run');
    const s = a.stats();
    assertBalanced(s, 'split run');
    assert.equal(s.hugeBlocks, 2);
    // p takes 5 segments and q 7: the other 4, less their headers, are free
    assert.ok(s.freeSlices >= 4 * (MiB - heapHeaderWord(a, 3)), `the cached rest counts as free (${s.freeSlices})`);
    a.free(p);
    a.free(q); // held, joined with p's run: 12 segments; the other 4 are cached
    const r = a.malloc(15 * MiB); // the held and the cached run, none large enough alone
    assert.equal(r, h, 'neighbouring cached runs are joined');
    assert.equal(a.stats().memorySize, size, 'no growth');
    a.free(r);
    assertCheckOk(a);
  });

  /** The kind (low byte) of segment `index`'s table word, from the documented layout (see heapHeaderWord). */
  function segmentKind(a: Allocator, index: number): number {
    return new Int32Array(bufferOf(a.memory))[heapHeaderWord(a, 10) / 4 + 2 * index]! & 0xff;
  }
  const [TAIL, CACHED, HELD] = [3, 4, 6];

  it("a thread holds a huge block's freed run for its next one: set up at the run's end, freed back into it", () => {
    const a = createAllocator();
    const h = a.malloc(15.5 * MiB); // 16 segments
    const first = Math.floor((h - a.heapBase) / MiB);
    a.free(h);
    assert.equal(segmentKind(a, first), HELD, 'held by the thread that freed it');
    assertCheckOk(a, 'check() with a held run');
    const size = a.stats().memorySize;
    const p = a.malloc(4 * MiB); // 5 segments: the last 5 of the run
    assert.equal(p, h + 11 * MiB, 'set up at the end of the held run');
    const q = a.malloc(6 * MiB); // 7 segments: before p
    assert.equal(q, h + 4 * MiB, 'the next one at the end of what stays held');
    fillPattern(a.u8, p, 4 * MiB, 2);
    fillPattern(a.u8, q, 6 * MiB, 3);
    assertCheckOk(a, 'check() with two blocks in the held run');
    const s = a.stats();
    assertBalanced(s, 'held run split');
    assert.ok(s.freeSlices >= 4 * (MiB - heapHeaderWord(a, 3)), `the held rest counts as free (${s.freeSlices})`);
    assertPattern(a.u8, p, 4 * MiB, 2);
    a.free(p); // a held run of its own: it does not start where a held run ends
    assert.equal(segmentKind(a, first + 11), HELD, "p's run is held");
    assertPointerError(() => a.free(p), p, 'a second free of a held block', 'DOUBLE_FREE');
    a.free(q); // joins the held run before it
    assert.equal(segmentKind(a, first + 4), TAIL, "q's head is a tail of the held run now");
    assertPointerError(() => a.free(q), q, 'a second free of a block freed into a held run');
    assertCheckOk(a, 'check() with two held runs');
    const r = a.malloc(15.5 * MiB); // no held run fits: both go to the cache, where they are joined
    assert.equal(r, h, 'the held runs serve a larger block, joined');
    assert.equal(a.stats().memorySize, size, 'no growth');
    a.free(r);
    a.free(a.malloc(5 * MiB)); // set up at the end of the held run, and freed back into it: whole again
    assert.equal(a.malloc(15.5 * MiB), h, 'the whole run serves a block again');
    assert.equal(a.stats().memorySize, size, 'no growth');
    assertCheckOk(a);
  });

  // A thread's views cover the memory as it last saw it; another thread may have grown it since, and a write
  // through a view that does not reach that far is lost without a word. A split writes the rest's descriptor.
  const growable: [string, () => SharedArrayBuffer | WebAssembly.Memory][] = [
    ['growable SharedArrayBuffer', () => new SharedArrayBuffer(2 * MiB, { maxByteLength: 64 * MiB })],
    ['shared WebAssembly.Memory', () => new WebAssembly.Memory({ initial: 32, maximum: 1024, shared: true })],
  ];
  for (const [kind, make] of growable) {
    it(`${kind}: a thread that has not seen the memory grow splits a cached run past its views as any thread would`, () => {
      const memory = make();
      const a = createAllocator({ memory });
      const b = attach(memory);
      b.free(b.malloc(16)); // b's views: the memory as it is now
      const h = a.malloc(2.5 * MiB); // 3 segments: the memory grows past b's views
      const first = Math.floor((h - a.heapBase) / MiB);
      a.u8.fill(0xff, h, h + 2.5 * MiB); // the rest's descriptor will lie in this data
      a.free(h);
      a.collect(); // what a holds goes to the cache
      assert.equal(segmentKind(a, first), CACHED, 'cached');
      const p = b.malloc(MiB - 64 * KiB + 16); // a huge block of one segment: the run is split
      assert.equal(p, h, 'set up at the start of the cached run');
      assert.equal(segmentKind(a, first + 1), CACHED, 'the rest is a cached run of its own');
      const dw = descriptorWordOf(a, a.heapBase + (first + 1) * MiB);
      const m = new Int32Array(bufferOf(memory));
      assert.deepEqual([m[dw], m[dw + 10]], [0, 0], "the rest's descriptor names no block (kind FREE, owner 0), not old data");
      b.free(p);
      assertCheckOk(a);
      b.detach();
    });
  }

  it('whether another thread is attached is seen at the next free: a slot taken, handed back by detach() or by reclaim()', () => {
    // H_SLOT_CHANGES (heap header word 15, docs/design.md) counts every slot taken and handed back; a thread
    // reads the thread table again only when it changed.
    // A heap of 256 segments: a thread holds runs of up to 32 segments alone (1/8), 4 with others attached (1/64).
    const a = createAllocator({ limit: 256 * MiB });
    const changes = () => heapHeaderWord(a, 15);
    const heldAfterFree = () => {
      const h = a.malloc(7.5 * MiB); // 8 segments
      a.free(h);
      const kind = segmentKind(a, Math.floor((h - a.heapBase) / MiB));
      a.collect(); // the run goes to the cache: the next block finds no held run
      return kind === HELD;
    };
    const c0 = changes();
    assert.equal(heldAfterFree(), true, 'alone: held');
    const b = attach(a.memory);
    assert.equal(changes(), c0 + 1, 'attach counts');
    assert.equal(heldAfterFree(), false, 'another thread attached: 8 segments, beyond its 4, cached');
    b.detach();
    assert.equal(changes(), c0 + 2, 'detach counts');
    assert.equal(heldAfterFree(), true, 'alone again: held');
    const dying = attach(a.memory);
    assert.equal(heldAfterFree(), false, 'a third thread: cached');
    assert.equal(a.reclaim(dying.threadId), true); // as for a worker that died without detaching
    assert.equal(changes(), c0 + 4, 'reclaim counts');
    assert.equal(heldAfterFree(), true, 'its slot handed back by reclaim(): held');
    assertCheckOk(a);
  });

  it('a thread holds runs of up to 1/8 of the heap alone and 1/64 with others attached, and they stay with it until collect(), detach() or the memory would grow', () => {
    // A heap of 256 segments: a thread alone holds up to 32 of them (1/8); with another thread attached, 4.
    const a = createAllocator({ limit: 256 * MiB });
    const h = a.malloc(7.5 * MiB); // 8 segments
    const first = Math.floor((h - a.heapBase) / MiB);
    a.free(h);
    assert.equal(segmentKind(a, first), HELD, 'alone: held');
    const other = attach(a.memory);
    const size = a.stats().memorySize;
    const o = other.malloc(7.5 * MiB);
    assert.ok(o !== 0 && o !== h, "another thread's huge block does not take the held run");
    assert.ok(a.stats().memorySize > size, 'the memory grew for it');
    a.collect();
    assert.equal(segmentKind(a, first), CACHED, 'collect(): to the cache');
    assert.equal(other.malloc(7.5 * MiB), h, 'which serves the other thread');
    other.free(h);
    assert.equal(segmentKind(a, first), CACHED, 'with another thread attached, a freed run is cached');
    other.free(o);
    const again = a.malloc(7.5 * MiB);
    // `a` sees at its first free since that another thread is attached (a slot changed hands): it holds up to
    // 4 segments, no more.
    const q = a.malloc(7.5 * MiB);
    const qFirst = Math.floor((q - a.heapBase) / MiB);
    a.free(q);
    assert.equal(segmentKind(a, qFirst), CACHED, 'with another thread attached, 8 segments: cached, not held');
    const r = a.malloc(2.5 * MiB);
    const rFirst = Math.floor((r - a.heapBase) / MiB);
    a.free(r);
    assert.equal(segmentKind(a, rFirst), HELD, 'with another thread attached, 3 segments: held');
    other.detach();
    a.free(a.malloc(3.5 * MiB));
    let held = 0;
    for (let i = 1; i < 256 && segmentKind(a, i) !== 0; i++) if (segmentKind(a, i) === HELD) held++;
    assert.equal(held, 1, 'alone again: held');
    a.detach(); // what it held goes to the cache
    const b0 = attach(a.memory);
    for (let i = 1; i < 256 && segmentKind(b0, i) !== 0; i++) assert.notEqual(segmentKind(b0, i), HELD, `segment ${i} after detach()`);
    b0.free(again);
    assertCheckOk(b0);
    // A held run goes back for a block that needs its segments: a heap of 40 segments, 4 of them holdable.
    const b = createAllocator({ limit: 40 * MiB });
    const big = b.malloc(30.5 * MiB); // segments 1..31
    const small = b.malloc(2 * MiB); // 32..34
    b.free(small);
    assert.equal(segmentKind(b, 32), HELD, 'the small run is held');
    b.free(big); // 31 segments: more than the thread may hold, cached
    const size2 = b.stats().memorySize;
    const whole = b.malloc(33.5 * MiB); // segments 1..34: the held run included
    assert.notEqual(whole, 0, 'the held run went back for a block that needs it');
    assert.equal(b.stats().memorySize, size2, 'without growing the memory');
    b.free(whole);
    assertCheckOk(b);
  });

  it('a 4 MiB-aligned block whose start lies in a later segment of a split and joined run: found, freed once, its interior refused', () => {
    const a = createAllocator();
    const h = a.malloc(15.5 * MiB); // 16 segments
    a.free(h);
    a.free(a.malloc(3.5 * MiB)); // split: runs of 4 and 12 segments, then joined again below
    const size = a.stats().memorySize;
    const p = a.alignedAlloc(4 * MiB, 6 * MiB);
    assert.notEqual(p, 0);
    assert.equal(p % (4 * MiB), 0);
    assert.ok(p > h + MiB && p + 6 * MiB <= h + 16 * MiB, `served from the cached run, past its first segment (p - h = ${p - h})`);
    assert.equal(a.stats().memorySize, size, 'no growth');
    fillPattern(a.u8, p, 6 * MiB, 5);
    assert.ok(a.usableSize(p) >= 6 * MiB);
    assertCheckOk(a, 'check() with the aligned block live');
    for (const d of [16, 4096, MiB, 5 * MiB]) assertPointerError(() => a.free(p + d), p + d, `interior +${d}`);
    assertPointerError(() => a.free(h + 2 * MiB - 4096), h + 2 * MiB - 4096, 'before the block, in a segment of its run');
    assertPattern(a.u8, p, 6 * MiB, 5);
    a.free(p);
    assertPointerError(() => a.free(p), p, 'double free of the aligned huge block', 'DOUBLE_FREE');
    assertCheckOk(a);
    assert.equal(a.malloc(15.5 * MiB), h, 'the whole run serves a block again');
  });

  it('calloc clears a huge block on reused segments', () => {
    const a = createAllocator();
    const h = a.malloc(3 * MiB);
    a.u8.fill(0xff, h, h + 3 * MiB);
    a.free(h);
    const z = a.calloc(1, 2.5 * MiB);
    assert.equal(z, h + MiB, "set up at the end of the run this thread held: h's 4 segments, less the first");
    assertZero(a.u8, z, 2.5 * MiB, 'calloc on reused segments');
    a.free(z);
  });

  it('pointers into cached segments are refused and change nothing; double frees are caught', () => {
    const a = createAllocator({ checked: true });
    const keep = a.malloc(100);
    const h = a.malloc(7.5 * MiB); // 8 segments
    a.free(h);
    assertPointerError(() => a.free(h), h, 'double free of a held huge block', 'DOUBLE_FREE');
    a.collect(); // held: to the cache
    assertPointerError(() => a.free(h), h, 'double free of a cached huge block', 'DOUBLE_FREE');
    const p = a.malloc(2 * MiB); // takes 3 segments; 5 stay cached
    assert.equal(p, h);
    const segment = h - (h % MiB);
    const rest = segment + 3 * MiB + (h - segment); // where a huge block would start in the cached rest
    for (const x of [rest, rest + 16, segment + 4 * MiB, segment + 7 * MiB + 64]) {
      assertPointerError(() => a.free(x), x, `free inside cached segments (${x})`);
      assertPointerError(() => a.usableSize(x), x, `usableSize inside cached segments (${x})`);
    }
    assertCheckOk(a, 'check() after the refused frees');
    const q = a.malloc(4 * MiB);
    assert.equal(q, rest, 'the cached rest still serves a block');
    for (const x of [p, q, keep]) a.free(x);
    assertCheckOk(a);
    assert.equal(a.stats().liveBlocks, 0);
  });

  it('a second free that stalls while the block is freed and its segments reused fails on the table and writes nothing', () => {
    // Two frees of one huge block racing, replayed in one thread. The second free stops after reading the
    // block's descriptor (locate) and before its CAS. Meanwhile the first free caches the segments, and a
    // larger block takes them joined with the cached run before them: the larger block's data now lies
    // where the freed block's descriptor was, and here it reads exactly like that descriptor.
    const a = createAllocator();
    const other = attach(a.memory);
    const before = a.malloc(1.5 * MiB); // 2 segments
    const h = a.malloc(1.5 * MiB); // the next 2
    const segment = h - ((h - a.heapBase) % MiB);
    assert.equal(segment - (before - ((before - a.heapBase) % MiB)), 2 * MiB, 'the two blocks are neighbours');
    const m = new Int32Array(bufferOf(a.memory));
    const descW = segment / 4; // the first segment's descriptor 0, at the segment's start (docs/design.md)
    const forged = Array.from(m.subarray(descW, descW + 16)); // h's descriptor while h is live
    other.free(before);
    let y = 0;
    assertStalledFreeRefused(a, h, 'the stalled second free', () => {
      other.free(h); // the first free
      y = other.malloc(3.5 * MiB); // 4 segments: the two cached runs, joined
      m.set(forged, descW); // y's data, where h's descriptor was
    });
    assert.equal(y, before, 'the joined runs serve the larger block');
    assert.deepEqual(Array.from(m.subarray(descW, descW + 16)), forged, "the larger block's data is untouched");
    assertCheckOk(a, 'check() after the refused free');
    assert.equal(a.stats().hugeBlocks, 1);
    other.free(y);
    assertCheckOk(a);
    assert.equal(a.stats().liveBlocks, 0);
  });

  it('a second free of a large block that stalls while its whole segment becomes part of a huge block fails and writes nothing', () => {
    // The race of two frees of one large block, replayed in one thread (as for huge blocks above). While the
    // second free is stopped after locate, the first frees the block, its segment (all free then) becomes
    // a later segment of a huge block, and the huge block's data there reads exactly like the large
    // block's descriptor did.
    // Over the default memory the free's atomics are wasm's (beginLargeFree), over a SharedArrayBuffer JS's.
    const memories = [() => undefined, () => new SharedArrayBuffer(8 * MiB, { maxByteLength: 64 * MiB })];
    for (const [checked, makeMemory] of [false, true].flatMap((c) => memories.map((mm) => [c, mm] as const))) {
      const memory = makeMemory();
      const a = createAllocator(memory === undefined ? { checked } : { checked, memory });
      const other = attach(a.memory);
      const h = a.malloc(1.5 * MiB); // segments 1 and 2
      const l = a.malloc(900 * KiB); // 15 slices: a new segment 3 of its own
      const segment = l - ((l - a.heapBase) % MiB);
      assert.equal(segment - a.heapBase, 3 * MiB, 'the large block has segment 3 to itself');
      a.free(h);
      a.collect(); // not held: cached, where `other` finds it
      const m = new Int32Array(bufferOf(a.memory));
      const descW = descriptorWordOf(a, l);
      const forged = Array.from(m.subarray(descW, descW + 16)); // its descriptor while it is live
      let y = 0;
      const what = `checked: ${checked}, ${memory === undefined ? 'default memory' : 'SharedArrayBuffer'}`;
      assertStalledFreeRefused(a, l, `the stalled second free (${what})`, () => {
        other.free(l); // the first free
        y = other.malloc(3.5 * MiB); // segments 1..4: the free segments below the top, and one more
        m.set(forged, descW); // y's data, where the large block's descriptor was
      });
      assert.equal(y - ((y - a.heapBase) % MiB) - a.heapBase, MiB, 'the huge block covers segment 3');
      assert.deepEqual(Array.from(m.subarray(descW, descW + 16)), forged, "the huge block's data is untouched");
      assertCheckOk(a, `check() after the refused free (${what})`);
      other.free(y);
      assertCheckOk(a);
      assert.equal(a.stats().liveBlocks, 0);
    }
  });

  it('a free segment that another thread is about to write into (guarded) is left out of a huge block, without retrying it forever', { timeout: 20_000 }, () => {
    // From the documented layout (docs/design.md): the heap header's word 11 holds the thread table's byte
    // offset, 1 KiB per slot (slot = thread id % 1024), and a thread's T_RELEASING is word 8 of its record.
    const a = createAllocator();
    const other = attach(a.memory);
    const h = a.malloc(1.5 * MiB); // segments 1 and 2
    const l = a.malloc(900 * KiB); // segment 3
    const descW = descriptorWordOf(a, l);
    a.free(h);
    a.free(l); // segments 1..3 free now (l's span is held by `a`, and goes back before the memory would grow)
    const m = new Int32Array(bufferOf(a.memory));
    const threadsW = heapHeaderWord(a, 11) / 4;
    const releasingW = threadsW + (other.threadId % 1024) * 256 + 8;
    m[releasingW] = descW; // as if `other` were freeing the large block in segment 3 right now
    const y = a.malloc(3.5 * MiB);
    assert.notEqual(y, 0);
    assert.ok(y - a.heapBase > 3 * MiB, `the huge block leaves segment 3 alone (at ${y})`);
    assertCheckOk(a, 'check() with the guarded segment left out');
    m[releasingW] = 0;
    a.free(y);
    const size = a.stats().memorySize;
    const z = a.malloc(6.5 * MiB); // segments 1..7
    assert.equal(z, h, 'once the record is gone, segment 3 serves a huge block again');
    assert.equal(a.stats().memorySize, size, 'without growing the memory');
    a.free(z);
    assertCheckOk(a);
  });

  it('free segments at the end of the heap: a huge block takes them and grows the memory by what is missing only', () => {
    const a = createAllocator();
    const h = a.malloc(10 * MiB);
    a.free(h);
    const size = a.stats().memorySize;
    const q = a.malloc(20 * MiB);
    assert.equal(q, h, 'the block starts in the free segments');
    assert.ok(a.stats().memorySize - size <= 11 * MiB, `the memory grew from ${size} to ${a.stats().memorySize} for 10 missing MiB`);
    assertCheckOk(a);
    a.free(q);
    // At the limit this decides whether the block fits at all: 40 MiB, freed, then 60 MiB of a 64 MiB heap.
    const b = createAllocator({ limit: 64 * MiB });
    const x = b.malloc(40 * MiB);
    b.free(x);
    const y = b.malloc(60 * MiB);
    assert.equal(y, x, 'the free end of a heap at its limit serves a block larger than any freed one');
    b.u8[y + 60 * MiB - 1] = 1;
    assertCheckOk(b);
    b.free(y);
    assertCheckOk(b);
  });

  it('go to the pool for pages before the memory grows', () => {
    const a = createAllocator();
    const h = a.malloc(32 * MiB);
    a.free(h);
    const size = a.stats().memorySize;
    const small = [];
    for (let i = 0; i < (30 * MiB) / 4096; i++) small.push(a.malloc(4096));
    assert.ok(a.stats().memorySize <= size + MiB, `pages grew the memory from ${size} to ${a.stats().memorySize}`);
    assertCheckOk(a);
    for (const x of small) a.free(x);
    assert.notEqual(a.malloc(32 * MiB), 0, 'the segments serve a huge block again');
    assertCheckOk(a);
  });
});

describe('emptied pages are kept for their class a while', () => {
  const SIZE = 32 * KiB; // 8 blocks on a page of 4 slices
  const PAGE_SLICES = 4;
  const numeric = (xs: number[]) => [...xs].sort((x, y) => x - y);
  const classPages = (a: Allocator) => a.stats().bins.find((b) => b.blockSize === SIZE)!.pages;

  /** Three pages of the class; the first one's blocks are freed (it does not head the queue). */
  function keptPage(a: Allocator): { first: number[]; rest: number[]; before: ReturnType<Allocator['stats']> } {
    const first = Array.from({ length: 8 }, () => a.malloc(SIZE));
    const rest = Array.from({ length: 16 }, () => a.malloc(SIZE));
    const before = a.stats();
    for (const p of first) a.free(p);
    return { first, rest, before };
  }

  it('a page that empties serves its class again, without a span claimed or released', () => {
    const a = createAllocator();
    const { first, rest, before } = keptPage(a);
    const kept = a.stats();
    assertBalanced(kept, 'kept');
    assert.equal(kept.pages, before.pages, 'the emptied page is kept');
    assert.equal(kept.freeSlices, before.freeSlices, 'no slices went back');
    assertCheckOk(a, 'check() with a kept page');
    const again = Array.from({ length: 8 }, () => a.malloc(SIZE));
    assert.deepEqual(numeric(again), numeric(first), 'its blocks serve the class again');
    assert.equal(a.stats().freeSlices, before.freeSlices, 'no span was claimed');
    for (const p of [...again, ...rest]) a.free(p);
    a.collect();
    assert.equal(classPages(a), 0, 'collect() gives every empty page back');
    assertCheckOk(a);
  });

  it('a kept page goes back to the pool after 4096 slow-path calls of its owner', () => {
    const a = createAllocator();
    a.free(a.malloc(900 * KiB)); // free slices in the pool: the churn below must not make it run dry
    const { rest } = keptPage(a);
    assert.equal(classPages(a), 3);
    const free0 = a.stats().freeSlices;
    // Each round runs one page of 8 KiB blocks dry: one slow-path call (KEEP_TICKS = 4096 in src/kept.ts).
    for (let round = 0; round < 4200; round++) {
      const ps = Array.from({ length: 9 }, () => a.malloc(8 * KiB));
      for (const p of ps) a.free(p);
      if (round === 3900) assert.equal(classPages(a), 3, 'still kept before its time');
    }
    assert.equal(classPages(a), 2, 'the page went back');
    assert.ok(a.stats().freeSlices >= free0 + PAGE_SLICES * 64 * KiB - 2 * 64 * KiB, 'its slices are in the pool');
    for (const p of rest) a.free(p);
    assertCheckOk(a);
  });

  it('kept pages never cost memory: they go back before the memory grows, or leave when they pass 1/64 of the heap (1/8 while no other thread is attached)', () => {
    const fill = (a: Allocator, size: number) => {
      const ps: number[] = [];
      for (let p = a.malloc(size); p !== 0; p = a.malloc(size)) ps.push(p);
      return ps;
    };
    const expected = fill(createAllocator({ memory: new SharedArrayBuffer(8 * MiB) }), KiB).length;
    for (const others of [false, true]) {
      for (const size of [2 * KiB, 8 * KiB, SIZE]) {
        const what = `${size}-byte blocks, ${others ? 'another thread attached' : 'alone'}`;
        const a = createAllocator({ memory: new SharedArrayBuffer(8 * MiB) });
        const other = others ? attach(a.memory) : undefined;
        const ps = fill(a, size);
        for (const p of ps) a.free(p);
        const s = a.stats();
        assertBalanced(s, what);
        // 8 MiB / 64 = 2 slices kept at most (8 MiB / 8 = 16 alone), plus the page that heads the queue; the
        // rest is abandoned for any thread (this one included), and given back to the pool before the memory
        // would grow
        const kept = s.pages - s.abandonedPages;
        if (others) assert.ok(kept <= 3, `${what}: ${kept} pages kept of ${s.pages}`);
        else assert.ok(kept > 3 && kept <= 17, `${what}: ${kept} pages kept of ${s.pages}`);
        assert.equal(fill(a, KiB).length, expected, `${what}: then 1 KiB blocks fill the memory as in a fresh heap`);
        other?.detach();
        assertCheckOk(a);
      }
    }
  });

  it('what one thread empties serves another thread without growing the memory (beyond 1/64 of the heap kept)', () => {
    const limit = 256 * MiB; // a thread keeps at most 4 MiB of empty pages for itself
    const a = createAllocator({ limit });
    const b = attach(a.memory);
    for (const [size, other] of [[4 * KiB, 8 * KiB], [4 * KiB, 4 * KiB]] as const) {
      const ps = Array.from({ length: (96 * MiB) / size }, () => a.malloc(size));
      for (const p of ps) a.free(p);
      const after = a.stats().memorySize;
      const qs = Array.from({ length: (96 * MiB) / other }, () => b.malloc(other));
      assert.ok(!qs.includes(0));
      const grown = a.stats().memorySize - after;
      assert.ok(grown <= 4 * MiB + 2 * MiB, `${size}-byte then ${other}-byte blocks: the memory grew by ${grown / MiB} MiB`);
      for (const q of qs) b.free(q);
      assertCheckOk(a);
      b.collect();
      a.collect();
    }
    b.detach();
  });

  /** A heap of `limit` bytes with a second thread attached (so each keeps at most 1/64 of it), and `n` blocks of
   *  SIZE that `a` allocated and freed again: most of their pages offered, abandoned for any thread. */
  function offeredPages(limit: number, n: number) {
    const a = createAllocator({ limit });
    const b = attach(a.memory);
    const first = Array.from({ length: n }, () => a.malloc(SIZE));
    for (const p of first) a.free(p);
    const offered = a.stats();
    assert.ok(offered.abandonedPages > n / 8 / 2, `most pages offered (${offered.abandonedPages} of ${n / 8})`);
    return { a, b, first, offered };
  }

  it('pages a thread offered (beyond its share) come back to it when its class needs pages again, without the memory growing', () => {
    const { a, b, first, offered } = offeredPages(256 * MiB, 8 * 256); // 64 MiB of blocks; 4 MiB may stay kept
    const again = Array.from({ length: first.length }, () => a.malloc(SIZE));
    const before = new Set(first);
    const elsewhere = again.filter((p) => !before.has(p)).length;
    assert.ok(elsewhere <= 8, `the same pages serve the class again (${elsewhere} blocks elsewhere)`);
    const s = a.stats();
    assert.equal(s.memorySize, offered.memorySize, 'the memory did not grow');
    assert.equal(s.abandonedPages, 0, 'every offered page was taken back');
    for (const p of again) a.free(p);
    assertCheckOk(a);
    b.detach();
  });

  it('an offered page that another thread adopted meanwhile is not taken back: both threads keep blocks of their own', () => {
    const { a, b, first } = offeredPages(256 * MiB, 8 * 128);
    const theirs = Array.from({ length: first.length / 2 }, (_, i) => {
      const p = b.malloc(SIZE);
      fillPattern(b.u8, p, SIZE, 1000 + i);
      return p;
    });
    const mine = Array.from({ length: first.length }, (_, i) => {
      const p = a.malloc(SIZE);
      fillPattern(a.u8, p, SIZE, 5000 + i);
      return p;
    });
    assert.equal(new Set([...theirs, ...mine]).size, theirs.length + mine.length, 'no block handed out twice');
    theirs.forEach((p, i) => assertPattern(b.u8, p, SIZE, 1000 + i, "the other thread's block"));
    mine.forEach((p, i) => assertPattern(a.u8, p, SIZE, 5000 + i, "this thread's block"));
    assertCheckOk(a);
    for (const p of theirs) b.free(p);
    for (const p of mine) a.free(p);
    assertBalanced(a.stats());
    assertCheckOk(a);
    b.detach();
  });

  it("an offered page's slice that heads another class's abandoned page since: taken, and served in that class", () => {
    // a offers its pages; b adopts them all, frees and gives them back to the pool, fills their slices with
    // pages of 2 KiB blocks (one slice each: every slice a page head) and leaves with those blocks live, so the
    // slices a remembers as offered now head abandoned pages of another class.
    const { a, b, first } = offeredPages(64 * MiB, 8 * 64); // 1 MiB may stay kept
    const adopted = Array.from({ length: first.length }, () => b.malloc(SIZE));
    for (const p of adopted) b.free(p);
    b.collect();
    const small: number[] = [];
    for (let i = 0; i < (8 * MiB) / (2 * KiB); i++) {
      const p = b.malloc(2 * KiB);
      fillPattern(b.u8, p, 2 * KiB, i);
      small.push(p);
    }
    b.detach();
    const mine = Array.from({ length: first.length }, (_, i) => {
      const p = a.malloc(SIZE);
      assert.notEqual(p, 0);
      fillPattern(a.u8, p, SIZE, 9000 + i);
      return p;
    });
    small.forEach((p, i) => assertPattern(a.u8, p, 2 * KiB, i, 'a block of the pages left behind'));
    mine.forEach((p, i) => assertPattern(a.u8, p, SIZE, 9000 + i));
    assertCheckOk(a);
    for (const p of [...small, ...mine]) a.free(p);
    assertBalanced(a.stats());
    assertCheckOk(a);
  });

  it('a page reused and emptied again stays kept: a cycle of the same blocks takes no new memory', () => {
    const a = createAllocator();
    const r = rng(5);
    const sizes = Array.from({ length: 3000 }, () => randInt(r, 8, 64 * KiB));
    let size = 0;
    for (let round = 0; round < 12; round++) {
      const ps = sizes.map((n) => a.malloc(n));
      if (round === 1) size = a.stats().memorySize;
      for (let i = ps.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [ps[i], ps[j]] = [ps[j]!, ps[i]!];
      }
      for (const p of ps) a.free(p);
    }
    assert.equal(a.stats().memorySize, size, 'the memory did not grow after the second round');
    assertCheckOk(a);
  });
});

describe('stats', () => {
  it('counts live blocks exactly and balances at every quiescent point', () => {
    const a = createAllocator();
    const r = rng(11);
    assertBalanced(a.stats(), 'fresh');
    assert.equal(a.stats().liveBlocks, 0);
    const live: number[] = [];
    let requested = 0;
    for (let i = 0; i < 2000; i++) {
      const size = r() < 0.95 ? randInt(r, 1, 2000) : randInt(r, 2001, 1.5 * MiB);
      live.push(a.malloc(size));
      requested += size;
    }
    let s = a.stats();
    assertBalanced(s, 'loaded');
    assert.equal(s.liveBlocks, live.length);
    assert.ok(s.liveBytes >= requested, `liveBytes ${s.liveBytes} < requested ${requested}`);
    assert.ok(s.segments >= 1);
    assert.ok(s.memorySize >= s.segments * MiB);
    const binLive = s.bins.reduce((t, b) => t + b.liveBlocks, 0);
    assert.ok(binLive <= s.liveBlocks, 'bins count more live blocks than the heap has');
    for (const b of s.bins) assert.ok(b.blockSize > 0 && b.pages >= 0 && b.liveBlocks >= 0 && b.freeBlocks >= 0);
    for (let i = 0; i < live.length; i += 2) a.free(live[i]!);
    s = a.stats();
    assertBalanced(s, 'half freed');
    assert.equal(s.liveBlocks, live.length >> 1);
    for (let i = 1; i < live.length; i += 2) a.free(live[i]!);
    s = a.stats();
    assertBalanced(s, 'emptied');
    assert.equal(s.liveBlocks, 0);
    assert.equal(s.liveBytes, 0);
    assert.equal(s.threadsAttached, 1);
    assertCheckOk(a);
  });
});
