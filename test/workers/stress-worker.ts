// Worker for test/stress.test.ts: attaches to a shared heap and runs a random mix of allocations, frees,
// reallocs and hand-offs of blocks to other workers through a shared slot array.
//
// Every block of 8 bytes or more starts with a header naming its owner: word 0 = worker id << 24 | seed
// (24 bits), word 1 = requested size; the bytes after the header hold the pattern of `seed`. Whoever frees a
// block (its owner, or the worker that took it out of a slot) verifies header and pattern first.
//
// `node --test build/test/` also runs this file on the main thread as if it were a test file: it then does
// nothing.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { attach } from 'webmalloc';
import { fillPattern, findPatternMismatch, rng, randInt, KiB, MiB, type Allocator, type Memory } from '../helpers.js';

export interface StressWorkerData {
  memory: Memory;
  start: number;
  slots: SharedArrayBuffer;
  id: number; // 1..255
  seed: number;
  iterations: number;
  timeMs: number;
  /** The memory cannot grow: malloc/realloc may return 0. */
  tolerateOom: boolean;
  /** Probability that an allocation is big (up to 256 KiB). */
  bigBias: number;
  /** Probability that an allocation is huge (> 1 MiB). */
  hugeBias: number;
}

export interface HandedBack {
  p: number;
  size: number;
  seed: number;
}

export interface StressWorkerResult {
  id: number;
  threadId: number;
  ops: number;
  allocs: number;
  frees: number;
  reallocs: number;
  handOffs: number;
  takenFromSlots: number;
  oom: number;
  /** Blocks left live on purpose when the worker detached; main verifies and frees them. */
  handedBack: HandedBack[];
}

interface Block {
  p: number;
  size: number;
  seed: number;
  us: number;
}

function writeHeader(u8: Uint8Array, b: { p: number; size: number; seed: number }, id: number): void {
  if (b.size < 8) {
    fillPattern(u8, b.p, b.size, b.seed);
    return;
  }
  const w0 = ((id << 24) | (b.seed & 0xffffff)) >>> 0;
  const p = b.p;
  u8[p] = w0 & 255;
  u8[p + 1] = (w0 >>> 8) & 255;
  u8[p + 2] = (w0 >>> 16) & 255;
  u8[p + 3] = w0 >>> 24;
  u8[p + 4] = b.size & 255;
  u8[p + 5] = (b.size >>> 8) & 255;
  u8[p + 6] = (b.size >>> 16) & 255;
  u8[p + 7] = b.size >>> 24;
  fillPattern(u8, p + 8, b.size - 8, b.seed);
}

function readU32(u8: Uint8Array, p: number): number {
  return (u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24)) >>> 0;
}

/** Verifies a block against its header; returns a description of the damage or '' when intact. */
export function verifyBlock(a: Allocator, p: number, expect?: { size: number; seed: number; owner: number }): string {
  const u8 = a.u8;
  if (expect !== undefined && expect.size < 8) {
    if (p + expect.size > u8.length) return `block ${p} lies past this thread's view (${u8.length})`;
    const i = findPatternMismatch(u8, p, expect.size, expect.seed);
    return i < 0 ? '' : `tiny block ${p} (${expect.size} bytes): byte ${i} damaged`;
  }
  if (p + 8 > u8.length) return `block ${p} lies past this thread's view (${u8.length})`;
  const w0 = readU32(u8, p);
  const size = readU32(u8, p + 4);
  const owner = w0 >>> 24;
  const seed = w0 & 0xffffff;
  if (expect !== undefined) {
    if (owner !== expect.owner || size !== expect.size || seed !== (expect.seed & 0xffffff)) {
      return `block ${p}: header says owner ${owner} size ${size} seed ${seed}, expected owner ${expect.owner} size ${expect.size} seed ${expect.seed & 0xffffff}`;
    }
  }
  if (owner < 1 || owner > 255 || size < 8 || size > 64 * MiB) return `block ${p}: header damaged (owner ${owner}, size ${size})`;
  if (p + size > u8.length) return `block ${p} (${size} bytes) lies past this thread's view (${u8.length})`;
  const us = a.usableSize(p);
  if (us < size) return `block ${p}: usableSize ${us} < size ${size} (owner ${owner})`;
  const i = findPatternMismatch(u8, p + 8, size - 8, seed);
  return i < 0 ? '' : `block ${p} of owner ${owner} (${size} bytes): byte ${i + 8} damaged (is ${u8[p + 8 + i]})`;
}

function run(d: StressWorkerData): StressWorkerResult {
  const a = attach(d.memory, { start: d.start });
  const slots = new Int32Array(d.slots);
  const r = rng(d.seed);
  const local: Block[] = [];
  const res: StressWorkerResult = {
    id: d.id, threadId: a.threadId, ops: 0, allocs: 0, frees: 0, reallocs: 0, handOffs: 0, takenFromSlots: 0, oom: 0,
    handedBack: [],
  };
  let seed = (d.id * 1_000_003) & 0xffffff;
  const fail = (msg: string): never => {
    throw new Error(`worker ${d.id} (thread ${a.threadId}), op ${res.ops}: ${msg}`);
  };
  const pickSize = (): number => {
    const x = r();
    if (x < d.hugeBias) return randInt(r, MiB + 1, 4 * MiB); // runs of 2..5 segments: split and joined when cached
    if (x < d.hugeBias + d.bigBias) return randInt(r, 4 * KiB, 256 * KiB);
    if (x < 0.3) return randInt(r, 0, 16);
    if (x < 0.85) return randInt(r, 17, 256);
    return randInt(r, 257, 4 * KiB);
  };
  const check = (b: Block, what: string) => {
    const e = verifyBlock(a, b.p, { size: b.size, seed: b.seed, owner: d.id });
    if (e) fail(`${what}: ${e}`);
  };
  const freeLocal = (k: number) => {
    const b = local[k]!;
    check(b, 'before free');
    a.free(b.p);
    local[k] = local[local.length - 1]!;
    local.pop();
    res.frees++;
  };

  const deadline = Date.now() + d.timeMs;
  for (let it = 0; it < d.iterations; it++) {
    if ((it & 255) === 0 && Date.now() > deadline) break;
    res.ops++;
    const x = r();
    if (x < 0.45 || local.length === 0) {
      if (local.length >= 400) freeLocal(randInt(r, 0, local.length - 1));
      const size = pickSize();
      const p = a.malloc(size);
      if (p === 0) {
        if (!d.tolerateOom) fail(`malloc(${size}) returned 0`);
        res.oom++;
        // make room: free a few of ours
        for (let i = 0; i < 8 && local.length > 0; i++) freeLocal(randInt(r, 0, local.length - 1));
        continue;
      }
      if (p % (size >= 16 ? 16 : 8) !== 0) fail(`malloc(${size}) = ${p} is misaligned`);
      const us = a.usableSize(p);
      if (us < size) fail(`usableSize(malloc(${size})) = ${us}`);
      const b = { p, size, seed: seed++ & 0xffffff, us };
      writeHeader(a.u8, b, d.id);
      local.push(b);
      res.allocs++;
    } else if (x < 0.7) {
      freeLocal(randInt(r, 0, local.length - 1));
    } else if (x < 0.78) {
      const k = randInt(r, 0, local.length - 1);
      const b = local[k]!;
      check(b, 'before realloc');
      const n = r() < 0.5 ? randInt(r, 8, 512) : pickSize();
      const q = a.realloc(b.p, n);
      if (q === 0) {
        if (!d.tolerateOom) fail(`realloc(${b.p}, ${n}) returned 0`);
        if (n <= b.us) fail(`realloc(${b.p}, ${n}) failed although the block has ${b.us} usable bytes`);
        res.oom++;
        check(b, 'after failed realloc');
        continue;
      }
      if (n <= b.us && q !== b.p) fail(`realloc(p, ${n}) with usableSize ${b.us} moved the block`);
      // the kept prefix: header (still the old size) and pattern up to min(old, new)
      const keep = Math.min(n, b.size);
      const u8 = a.u8;
      if (b.size >= 8 && keep >= 8) {
        const w0 = readU32(u8, q);
        if (w0 !== (((d.id << 24) | b.seed) >>> 0) || readU32(u8, q + 4) !== b.size) fail(`realloc ${b.size} -> ${n}: header not kept`);
        const i = findPatternMismatch(u8, q + 8, keep - 8, b.seed);
        if (i >= 0) fail(`realloc ${b.size} -> ${n}: byte ${i + 8} not kept`);
      }
      const us = a.usableSize(q);
      if (us < n) fail(`usableSize after realloc = ${us} < ${n}`);
      const nb = { p: q, size: n, seed: seed++ & 0xffffff, us };
      writeHeader(u8, nb, d.id);
      local[k] = nb;
      res.reallocs++;
    } else if (x < 0.9) {
      // hand a block to whoever takes it out of a random slot; free what was there
      const k = randInt(r, 0, local.length - 1);
      const b = local[k]!;
      if (b.size < 8) continue;
      check(b, 'before hand-off');
      local[k] = local[local.length - 1]!;
      local.pop();
      const old = Atomics.exchange(slots, randInt(r, 0, slots.length - 1), b.p | 0) >>> 0;
      res.handOffs++;
      if (old !== 0) {
        const e = verifyBlock(a, old);
        if (e) fail(`block taken from a slot: ${e}`);
        a.free(old);
        res.takenFromSlots++;
      }
    } else {
      const b = local[randInt(r, 0, local.length - 1)]!;
      const us = a.usableSize(b.p);
      if (us !== b.us) fail(`usableSize(${b.p}) changed from ${b.us} to ${us}`);
    }
  }

  // leave: free half of what is left, hand the rest back to main, detach (the blocks stay valid)
  for (let k = local.length - 1; k >= 0; k--) {
    if (k % 2 === 0) freeLocal(k);
  }
  for (const b of local) {
    check(b, 'before detach');
    res.handedBack.push({ p: b.p, size: b.size, seed: b.seed });
  }
  a.detach();
  return res;
}

if (!isMainThread && parentPort !== null) {
  parentPort.postMessage(run(workerData as StressWorkerData));
}
