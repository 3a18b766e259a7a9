// Shared helpers for the webmalloc test suite (not a test file itself).
//
// Note: `node --test build/test/` treats every .js file below a folder named `test` as a test file, so this
// module is also run on its own by the runner; it only defines functions and has no side effects.

import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { createAllocator, WebmallocError } from 'webmalloc';

export type Allocator = ReturnType<typeof createAllocator>;
export type Stats = ReturnType<Allocator['stats']>;
export type Memory = SharedArrayBuffer | ArrayBuffer | WebAssembly.Memory;

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Deterministic 32-bit PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Integer in [lo, hi] from a PRNG. */
export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

// A long byte pattern with a prime period (251): a block with seed s holds PATTERN[s + i] at byte i, so a copy
// shifted by any amount that is not a multiple of 251 bytes, or a block filled for another seed, is detected.
const PERIOD = 251;
let PATTERN = new Uint8Array(0);
function pattern(len: number): Uint8Array {
  if (PATTERN.length < len + PERIOD) {
    const n = Math.max(len + PERIOD, 9 * MiB);
    PATTERN = new Uint8Array(n);
    for (let i = 0; i < n; i++) PATTERN[i] = (i % PERIOD) ^ 0x5a;
  }
  return PATTERN;
}

/**
 * A live block's tag (threads.test.ts's churn workers): `tag` in the first four bytes of the `n` bytes at p
 * and in the last four, and `n` in the four after the first (n >= 12).
 */
export function writeBlockTag(u8: Uint8Array, p: number, n: number, tag: number): void {
  for (const [at, v] of [[p, tag], [p + 4, n], [p + n - 4, tag]] as const) {
    for (let b = 0; b < 4; b++) u8[at + b] = (v >>> (8 * b)) & 255;
  }
}

/**
 * Whether the tag writeBlockTag wrote at block p (`usable`: its usable size) is still there: a size that fits
 * the block, the same tag at both ends, and that tag `tag` when given.
 */
export function blockTagHolds(u8: Uint8Array, p: number, usable: number, tag?: number): boolean {
  const read32 = (q: number) => u8[q]! | (u8[q + 1]! << 8) | (u8[q + 2]! << 16) | (u8[q + 3]! << 24);
  const n = read32(p + 4);
  return n >= 12 && n <= usable && read32(p) === read32(p + n - 4) && (tag === undefined || read32(p) === tag);
}

/** Fills n bytes at p with the pattern of `seed`. */
export function fillPattern(u8: Uint8Array, p: number, n: number, seed: number): void {
  if (n <= 0) return;
  const s = seed % PERIOD;
  u8.set(pattern(n).subarray(s, s + n), p);
}

/** Index of the first byte of [p, p+n) that differs from the pattern of `seed`, or -1. */
export function findPatternMismatch(u8: Uint8Array, p: number, n: number, seed: number): number {
  if (n <= 0) return -1;
  const s = seed % PERIOD;
  const want = pattern(n).subarray(s, s + n);
  const got = u8.subarray(p, p + n);
  if (got.length === n && Buffer.compare(got, want) === 0) return -1;
  for (let i = 0; i < n; i++) if (got[i] !== want[i]) return i;
  return got.length; // shorter than asked: past the memory
}

export function assertPattern(u8: Uint8Array, p: number, n: number, seed: number, what = 'block'): void {
  const i = findPatternMismatch(u8, p, n, seed);
  if (i >= 0) {
    const s = seed % PERIOD;
    assert.fail(
      `${what} at ${p} (${n} bytes, seed ${seed}): byte ${i} (address ${p + i}) is ${u8[p + i]}, ` +
        `expected ${pattern(n)[s + i]}`,
    );
  }
}

/** Checks bytes [off, off + n) of the block at p against the same bytes of the pattern of `seed`. */
export function assertPatternSlice(u8: Uint8Array, p: number, off: number, n: number, seed: number, what = 'block'): void {
  if (n <= 0) return;
  const s = seed % PERIOD;
  const want = pattern(off + n).subarray(s + off, s + off + n);
  const got = u8.subarray(p + off, p + off + n);
  if (got.length === n && Buffer.compare(got, want) === 0) return;
  for (let i = 0; i < n; i++) {
    if (got[i] !== want[i]) {
      assert.fail(`${what} at ${p} (seed ${seed}): byte ${off + i} (address ${p + off + i}) is ${got[i]}, expected ${want[i]}`);
    }
  }
}

/** Index of the first non-zero byte in [p, p+n), or -1. */
const ZERO = new Uint8Array(256 * 1024);
export function findNonZero(u8: Uint8Array, p: number, n: number): number {
  const v = u8.subarray(p, p + n);
  for (let off = 0; off < v.length; off += ZERO.length) {
    const chunk = v.subarray(off, off + ZERO.length);
    if (Buffer.compare(chunk, ZERO.subarray(0, chunk.length)) !== 0) {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return off + i;
    }
  }
  return v.length === n ? -1 : v.length;
}

export function assertZero(u8: Uint8Array, p: number, n: number, what = 'block'): void {
  const i = findNonZero(u8, p, n);
  if (i >= 0) assert.fail(`${what} at ${p} (${n} bytes) should read zero: byte ${i} is ${u8[p + i]}`);
}

/** The ArrayBuffer or SharedArrayBuffer behind a memory (renewed after a WebAssembly.Memory grows). */
export function bufferOf(m: Memory): ArrayBufferLike {
  return m instanceof WebAssembly.Memory ? m.buffer : m;
}

/**
 * Word `i` of the heap header, read as the documented layout says (docs/design.md): the root record at
 * heapBase + 2048 holds the header's byte offset in its word 2. (Word 10: the segment table's byte offset,
 * two words per segment; 11: the thread table's, 1 KiB per slot; 12: the abandoned-page bitmap's; 3: the size of
 * each segment's header.)
 */
export function heapHeaderWord(a: { memory: Memory; heapBase: number }, i: number): number {
  const m = new Int32Array(bufferOf(a.memory));
  return m[m[(a.heapBase + 2048) / 4 + 2]! / 4 + i]!;
}

/**
 * Word index of the descriptor of the 64 KiB slice holding byte `q`, as the documented layout says
 * (docs/design.md): 1 MiB segments counted from heapBase, the descriptor of slice i at segment + 128 * i.
 * (Words: 0 P_KIND, 1 P_SPAN, 3 P_BLOCK_SIZE, 10 P_OWNER, 13 P_FLAGS.)
 */
export function descriptorWordOf(a: { heapBase: number }, q: number): number {
  const segment = a.heapBase + Math.floor((q - a.heapBase) / MiB) * MiB;
  return (segment + 128 * Math.floor((q - segment) / KiB / 64)) / 4;
}

/**
 * Where the remote-bitmap bit of byte `q` is, as the documented layout says (docs/design.md): in the header of
 * q's segment from byte 3072, one bit per 8-byte granule, bit g & 31 of 32-bit word g >>> 5. Returns the
 * word's byte offset and the bit.
 */
export function remoteBitOf(a: { heapBase: number }, q: number): { at: number; bit: number } {
  const segment = a.heapBase + Math.floor((q - a.heapBase) / MiB) * MiB;
  const granule = (q - segment) / 8;
  return { at: segment + 3072 + (granule >>> 5) * 4, bit: 1 << (granule & 31) };
}

export function byteLengthOf(m: Memory): number {
  return bufferOf(m).byteLength;
}

/** The byte-accounting invariant at quiescence. */
export function assertBalanced(s: Stats, what = 'stats'): void {
  const parts = {
    belowHeap: s.belowHeap,
    metadata: s.metadata,
    liveBytes: s.liveBytes,
    freeInPages: s.freeInPages,
    pageWaste: s.pageWaste,
    freeSlices: s.freeSlices,
    unclaimed: s.unclaimed,
  };
  for (const [k, v] of Object.entries(parts)) {
    assert.ok(Number.isInteger(v) && v >= 0, `${what}: ${k} = ${v} should be a non-negative integer`);
  }
  const sum = Object.values(parts).reduce((a, b) => a + b, 0);
  assert.equal(
    sum,
    s.memorySize,
    `${what}: memorySize ${s.memorySize} != sum of parts ${sum} (${JSON.stringify(parts)})`,
  );
}

export function assertCheckOk(a: Allocator, what = 'check()'): void {
  const r = a.check();
  assert.deepEqual(r.errors, [], `${what} reported errors: ${r.errors.slice(0, 10).join(' | ')}`);
  assert.equal(r.ok, true, `${what}: ok should be true`);
}

/** True when `message` mentions pointer p in decimal or hexadecimal. */
export function mentionsPointer(message: string, p: number): boolean {
  const m = message.toLowerCase();
  if (new RegExp(`(^|[^0-9])${p}([^0-9]|$)`).test(m)) return true;
  return new RegExp(`0x0*${p.toString(16)}([^0-9a-f]|$)`).test(m);
}

/** What fn did: the value it threw (undefined if none), or the value it returned. */
function outcome(fn: () => unknown): { caught: unknown; result: unknown } {
  try {
    return { caught: undefined, result: fn() };
  } catch (e) {
    return { caught: e, result: undefined };
  }
}

/** Asserts that fn throws a WebmallocError naming pointer p. Returns the error. */
export function assertPointerError(fn: () => unknown, p: number, what: string, code?: string): WebmallocError {
  const { caught, result } = outcome(fn);
  if (caught === undefined) assert.fail(`${what}: expected a WebmallocError for pointer ${p}, got result ${String(result)}`);
  assert.ok(
    caught instanceof WebmallocError,
    `${what}: expected a WebmallocError for pointer ${p}, got ${String(caught)} (${(caught as Error)?.constructor?.name})`,
  );
  const err = caught as WebmallocError;
  assert.ok(err instanceof Error, `${what}: WebmallocError should extend Error`);
  assert.equal(err.pointer, p, `${what}: err.pointer should be ${p}`);
  assert.ok(mentionsPointer(err.message, p), `${what}: message "${err.message}" should contain pointer ${p}`);
  assert.equal(typeof err.code, 'string', `${what}: err.code should be a string`);
  assert.ok(err.code.length > 0, `${what}: err.code should be non-empty`);
  if (code !== undefined) assert.equal(err.code, code, `${what}: err.code`);
  return err;
}

export function assertRangeError(fn: () => unknown, what: string): void {
  const { caught, result } = outcome(fn);
  if (caught === undefined) assert.fail(`${what}: expected a RangeError, got result ${String(result)}`);
  assert.ok(caught instanceof RangeError, `${what}: expected a RangeError, got ${String(caught)}`);
}

/** Live-block bookkeeping used by several tests. */
export interface Block {
  p: number;
  size: number;
  seed: number;
}

/** Asserts that no two blocks overlap (using [p, p + max(len, 1))). */
export function assertNoOverlap(blocks: { p: number; len: number }[], what = 'blocks'): void {
  const s = [...blocks].sort((x, y) => x.p - y.p);
  for (let i = 1; i < s.length; i++) {
    const prev = s[i - 1]!;
    const cur = s[i]!;
    assert.ok(
      prev.p + Math.max(prev.len, 1) <= cur.p,
      `${what}: block at ${prev.p} (${prev.len} bytes) overlaps block at ${cur.p} (${cur.len} bytes)`,
    );
  }
}

/** Required alignment of a plain allocation of `size` bytes. */
export function naturalAlignment(size: number): number {
  return size >= 16 ? 16 : 8;
}

/** Runs a worker script and resolves with its one result message; rejects on error, non-zero exit or timeout. */
export function runWorker<T>(url: URL, workerData: unknown, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const w = new Worker(url, { workerData });
    let result: T | undefined;
    let got = false;
    const timer = setTimeout(() => {
      void w.terminate();
      reject(new Error(`worker ${url.pathname} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    w.on('message', (m: T) => {
      result = m;
      got = true;
    });
    w.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    w.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`worker exited with code ${code}`));
      else if (!got) reject(new Error('worker exited without a result'));
      else resolve(result as T);
    });
  });
}
