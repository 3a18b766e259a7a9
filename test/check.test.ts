// Tests of check() itself. A heap with live and freed blocks is built, its whole memory is copied into a new
// SharedArrayBuffer, and a worker attaches to the copy, corrupts it on purpose and runs check() (in a worker,
// so that a check() that loops forever on a corrupted free list is stopped and reported). check() must report
// every corruption below (ok false, errors non-empty) and pass on an untouched copy. The original heap is
// never corrupted and keeps checking ok.
//
// None of the corruptions needs internal offsets beyond these documented facts: a freed block's first 4 bytes
// are its free-list link (the link of a block freed after block A refers to A; how a link encodes an address,
// as the byte offset or as the 32-bit word index, is learnt from two such frees); segments are 1 MiB and start
// at the heap base (`start` rounded up to 64 KiB); segment 0 begins with a ~2 KiB segment header followed by
// the heap header.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAllocator } from 'webmalloc';
import { type Allocator, KiB, MiB, assertCheckOk, bufferOf, fillPattern, descriptorWordOf, heapHeaderWord, remoteBitOf, rng, runWorker } from './helpers.js';
import type { CheckWorkerData, CheckWorkerResult } from './workers/check-worker.js';

const workerUrl = new URL('./workers/check-worker.js', import.meta.url);

interface Heap {
  a: Allocator;
  start: number;
  base: number;
  /** 300 blocks of 64 bytes (one size class, consecutive in their pages). */
  s64: number[];
  /** 60 blocks of 1000 bytes. */
  s1000: number[];
  /** 1200 blocks of 2 KiB: they fill segment 0 and spill into later segments. */
  s2048: number[];
  large: number;
  huge: number;
}

interface Write {
  offset: number;
  bytes: Uint8Array;
}

function build(checked: boolean, start = 0): Heap {
  const a = createAllocator({ checked, start });
  const base = Math.ceil(start / (64 * KiB)) * (64 * KiB);
  let seed = 1;
  const alloc = (n: number) => {
    const p = a.malloc(n);
    assert.notEqual(p, 0);
    fillPattern(a.u8, p, n, seed++);
    return p;
  };
  const s64 = Array.from({ length: 300 }, () => alloc(64));
  const s1000 = Array.from({ length: 60 }, () => alloc(1000));
  const large = alloc(200 * KiB);
  const huge = alloc(1.5 * MiB);
  const s2048 = Array.from({ length: 1200 }, () => alloc(2048));
  assertCheckOk(a, 'check() of the freshly built heap');
  assert.ok(a.stats().segments >= 3, 'the test heap should span several segments');
  return { a, start, base, s64, s1000, s2048, large, huge };
}

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  return b;
}

/** The write that sets the remote-bitmap bit of byte `q`. */
function remoteBit(h: Heap, q: number): Write[] {
  const { at, bit } = remoteBitOf(h.a, q);
  return [{ offset: at, bytes: u32(word(h.a, at) | bit) }];
}

function word(a: Allocator, p: number): number {
  const u = a.u8;
  return (u[p]! | (u[p + 1]! << 8) | (u[p + 2]! << 16) | (u[p + 3]! << 24)) >>> 0;
}

/**
 * How a free-list link encodes a block address: free two blocks of one page (in a page the corruptions do not
 * touch); the link of the second refers to the first. Returns enc(address).
 */
function linkEncoding(h: Heap): (addr: number) => number {
  const A = h.s1000[30]!;
  const B = h.s1000[31]!;
  h.a.free(A);
  h.a.free(B);
  const link = word(h.a, B);
  const f = link / A; // 1: byte offsets; 1/4: word indexes
  assert.ok(f === 1 || f === 1 / 4 || f === 1 / 8, `unexpected free-list link encoding: block ${A} is linked as ${link}`);
  return (addr: number) => addr * f;
}

/** Frees the heap's huge block, which its thread then holds; returns the byte offset of the run's segment-table
 *  word (documented layout: see heapHeaderWord). */
function heldRunWord(h: Heap): number {
  h.a.free(h.huge);
  const at = heapHeaderWord(h.a, 10) + Math.floor((h.huge - h.base) / MiB) * 8;
  assert.equal(word(h.a, at) & 0xff, 6, 'the freed huge block is held by its thread');
  return at;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Copies the heap's memory (as the brief of check() suggests) and runs check() on the copy after `writes`. */
async function checkCopy(h: Heap, writes: Write[]): Promise<CheckWorkerResult> {
  const orig = bufferOf(h.a.memory);
  assert.ok(orig instanceof SharedArrayBuffer);
  const copy = new SharedArrayBuffer(orig.byteLength);
  new Uint8Array(copy).set(new Uint8Array(orig));
  const data: CheckWorkerData = { memory: copy, start: h.start, writes };
  let res: CheckWorkerResult;
  try {
    res = await runWorker<CheckWorkerResult>(workerUrl, data, 20_000);
  } catch (e) {
    assert.fail(`check() on the copy did not finish (hung or crashed): ${String(e)}`);
  }
  assert.equal(res.attachError, undefined, `attach() to the copy failed: ${res.attachError}`);
  assert.equal(res.threw, undefined, `check() threw instead of reporting: ${res.threw}`);
  // the original heap is untouched by whatever happened to the copy
  assertCheckOk(h.a, 'check() of the original heap');
  return res;
}

async function expectReported(h: Heap, writes: Write[], what: string): Promise<void> {
  const res = await checkCopy(h, writes);
  assert.equal(res.ok, false, `check() did not report ${what} (ok is true, errors ${JSON.stringify(res.errors)})`);
  assert.ok(Array.isArray(res.errors) && res.errors.length > 0, `check() reported ok false for ${what} but no errors`);
  for (const e of res.errors!) assert.equal(typeof e, 'string');
}

interface Corruption {
  name: string;
  /** May free blocks on the original (legitimately); returns the writes that corrupt the copy. */
  prepare: (h: Heap) => Write[];
}

const freeListCorruptions: Corruption[] = [
  {
    // A freed block's link is replaced by a value that is no block at all (not even inside the heap's blocks).
    name: 'a freed block whose free-list link is a wild value (0x12345678)',
    prepare: (h) => {
      const x = h.s64[100]!;
      h.a.free(x);
      return [{ offset: x, bytes: u32(0x12345678) }];
    },
  },
  {
    // The link points 8 bytes into another block: not on the page's block grid.
    name: 'a freed block whose link points into the interior of another block',
    prepare: (h) => {
      const enc = linkEncoding(h);
      const x = h.s64[100]!;
      h.a.free(x);
      return [{ offset: x, bytes: u32(enc(h.s64[150]! + 8)) }];
    },
  },
  {
    // The link points to a live block (whose first word we zero, ending the chain there): that block is then
    // both live and free; the page's free blocks plus its used count exceed what it holds.
    name: 'a freed block whose link points to a live block of the same page',
    prepare: (h) => {
      const enc = linkEncoding(h);
      const x = h.s64[100]!;
      h.a.free(x);
      return [
        { offset: h.s64[150]!, bytes: u32(0) },
        { offset: x, bytes: u32(enc(h.s64[150]!)) },
      ];
    },
  },
  {
    // The link points to a live block of another size class, in another page.
    name: 'a freed block whose link points into another page',
    prepare: (h) => {
      const enc = linkEncoding(h);
      const x = h.s64[100]!;
      h.a.free(x);
      return [{ offset: x, bytes: u32(enc(h.s1000[10]!)) }];
    },
  },
  {
    // Free A, then B: B's link refers to A. Writing that same link value into A makes A its own successor:
    // the same freed block is in the free list twice (a cycle A -> A).
    name: 'a free-list cycle of one block (A -> A)',
    prepare: (h) => {
      const A = h.s64[100]!;
      const B = h.s64[101]!;
      h.a.free(A);
      h.a.free(B);
      const linkToA = word(h.a, B);
      assert.notEqual(linkToA, 0, "the link of the block freed after A should refer to A");
      return [{ offset: A, bytes: u32(linkToA) }];
    },
  },
  {
    // Free A, B, C: C -> B -> A -> (rest). Make A's link refer to B: C -> B -> A -> B -> A ... (a cycle of two).
    name: 'a free-list cycle of two blocks (B -> A -> B)',
    prepare: (h) => {
      const [A, B, C] = [h.s64[100]!, h.s64[101]!, h.s64[102]!];
      h.a.free(A);
      h.a.free(B);
      h.a.free(C);
      const linkToB = word(h.a, C);
      assert.notEqual(linkToB, 0);
      return [{ offset: A, bytes: u32(linkToB) }];
    },
  },
];

const structureCorruptions: Corruption[] = [
  {
    // The root record and the heap header (segment 0, after its page descriptors) are wiped:
    // magic, configuration, segment count, thread registry are gone.
    name: 'the heap header zeroed',
    prepare: (h) => [{ offset: h.base + 2048, bytes: new Uint8Array(7 * KiB) }],
  },
  {
    // Random bytes over the first 4 KiB of segment 0: its page descriptors and the heap header are garbage.
    name: 'random bytes over the first 4 KiB of segment 0',
    prepare: (h) => [{ offset: h.base, bytes: randomBytes(4 * KiB, 1) }],
  },
  {
    // Random bytes over the first 4 KiB of a later segment that holds small pages (the one holding the last
    // 2 KiB block): its page descriptors are garbage.
    name: 'random bytes over the first 4 KiB of a later segment holding small pages',
    prepare: (h) => {
      const last = h.s2048[h.s2048.length - 1]!;
      const k = Math.floor((last - h.base) / MiB);
      assert.ok(k >= 1, `the last 2 KiB block (${last}) should lie beyond segment 0`);
      return [{ offset: h.base + k * MiB, bytes: randomBytes(4 * KiB, 2) }];
    },
  },
  {
    // The huge block freed: its thread holds the run (SEG_HUGE_HELD 6, count << 8, slot << 21). Its count
    // made one short leaves a tail after the run that it does not count.
    name: "a held huge run's count one short",
    prepare: (h) => {
      const at = heldRunWord(h);
      return [{ offset: at, bytes: u32(word(h.a, at) - (1 << 8)) }];
    },
  },
  {
    name: 'a held huge run naming a thread slot that is not attached',
    prepare: (h) => {
      const at = heldRunWord(h);
      return [{ offset: at, bytes: u32((word(h.a, at) & 0x1fffff) | (63 << 21)) }];
    },
  },
  {
    // The large block freed: its thread holds the span (P_OWNER, word 10 of the descriptor of the block's slice
    // at segment + 128 * slice, is LARGE_HELD 0x10000 | slot), here made to name a slot nobody attached.
    name: 'a held large span naming a thread slot that is not attached',
    prepare: (h) => {
      h.a.free(h.large);
      const at = descriptorWordOf(h.a, h.large) * 4 + 40;
      assert.equal(word(h.a, at) >>> 16, 1, 'the freed large block is held by its thread');
      return [{ offset: at, bytes: u32(0x10000 | 63) }];
    },
  },
  {
    // The owner's free takes a descriptor whose owner word (word 10) holds its thread's tag (slot + 1) for
    // the head of one of its small pages, without reading the kind: a tail must name no owner. Here the
    // second slice of the large block's span (200 KiB: four slices) is made to name slot 0.
    name: "a tail slice naming an owner (the owner's free would take it for a small page)",
    prepare: (h) => {
      const at = descriptorWordOf(h.a, h.large + 64 * KiB) * 4 + 40;
      assert.notEqual(descriptorWordOf(h.a, h.large + 64 * KiB), descriptorWordOf(h.a, h.large), 'a later slice of the span');
      assert.equal(word(h.a, at), 0, 'a tail names no owner');
      return [{ offset: at, bytes: u32(1) }];
    },
  },
  {
    // Another thread's free sets the block's bit in the remote bitmap (segment header, byte 3072: one bit per
    // 8-byte granule). A bit for the interior of a live block names no block.
    name: 'a remote-bitmap bit for the interior of a live block',
    prepare: (h) => remoteBit(h, h.s64[100]! + 16),
  },
  {
    // A block on the free list whose bit is set too would be handed out twice.
    name: 'a remote-bitmap bit for a block on the free list',
    prepare: (h) => {
      const A = h.s64[100]!;
      h.a.free(A);
      return remoteBit(h, A);
    },
  },
  {
    // free's block-start test reads the carved bound (P_CARVED_BOUND, word 7: P_RESERVED << 5 | s), not the
    // count carved: here it lets through the block just past those carved, which was never handed out.
    name: "a small page's carved bound beyond its count of blocks carved",
    prepare: (h) => {
      const at = descriptorWordOf(h.a, h.s64[0]!) * 4 + 28;
      assert.equal(word(h.a, at), (word(h.a, at - 4) << 5) | 4, 'the bound is the count carved (word 6) << 5 | 4 for 64-byte blocks (2^4 words)');
      return [{ offset: at, bytes: u32(word(h.a, at) + 32) }];
    },
  },
  {
    // Only the segment's first 64 bytes (the descriptor of its first page) are garbage.
    name: 'random bytes over the first 64 bytes of a later segment holding small pages',
    prepare: (h) => {
      const last = h.s2048[h.s2048.length - 1]!;
      const k = Math.floor((last - h.base) / MiB);
      assert.ok(k >= 1);
      return [{ offset: h.base + k * MiB, bytes: randomBytes(64, 3) }];
    },
  },
];

describe('check() reports corruption of a copied heap', () => {
  it('an untouched copy (with live and freed blocks) checks ok', async () => {
    const h = build(false);
    for (const i of [5, 7, 100, 101, 299]) h.a.free(h.s64[i]!);
    for (const i of [0, 59]) h.a.free(h.s1000[i]!);
    h.a.free(h.large);
    const res = await checkCopy(h, []);
    assert.deepEqual(res.errors, [], `an untouched copy reported errors`);
    assert.equal(res.ok, true);
  });

  it('an untouched copy of a checked heap with a start offset checks ok', async () => {
    const h = build(true, 100_003);
    for (const i of [5, 7, 100, 101]) h.a.free(h.s64[i]!);
    const res = await checkCopy(h, []);
    assert.deepEqual(res.errors, []);
    assert.equal(res.ok, true);
  });

  for (const c of [...freeListCorruptions, ...structureCorruptions]) {
    it(`reports ${c.name}`, async () => {
      const h = build(false);
      const writes = c.prepare(h);
      await expectReported(h, writes, c.name);
    });
  }

  for (const c of freeListCorruptions) {
    it(`checked heap: reports ${c.name}`, async () => {
      const h = build(true);
      await expectReported(h, c.prepare(h), c.name);
    });
  }

  it('start offset: reports random bytes over the first 4 KiB of segment 0 (heap base = start rounded up)', async () => {
    const h = build(false, 100_003);
    assert.equal(h.base, 131072);
    await expectReported(h, structureCorruptions[1]!.prepare(h), 'segment 0 scribbled with start 100003');
  });
});

describe('check() on a live heap', () => {
  it('passes at quiescence after a mix of operations on several instances', () => {
    const h = build(false);
    const r = rng(5);
    for (let i = 0; i < h.s2048.length; i += 2) h.a.free(h.s2048[i]!);
    for (let i = 0; i < 2000; i++) {
      const p = h.a.malloc(Math.floor(r() * 3000));
      if (r() < 0.5) h.a.free(p);
    }
    assertCheckOk(h.a);
    const res = h.a.check();
    assert.equal(res.ok, true);
    assert.deepEqual(res.errors, []);
  });
});
