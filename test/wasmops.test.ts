// The wasm module of wasmops.ts: that the shipped binary is what its source assembles to, that it links to each
// kind of WebAssembly.Memory (and that any other memory gets none: the JS code does the work there), that it
// moves bytes as memmove does in both directions of overlap and fills, that its remote free's bit keeps the
// protocol of threadfree.ts, that checked mode's live bits keep heap.ts's, and that the atomics of large and
// huge blocks keep spanblocks.ts's; its bits land where pages.ts puts them. Internals: loaded from the build (dist/) and the assembling script.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

type Ops = {
  copy: (to: number, from: number, n: number) => void;
  fill: (to: number, value: number, n: number) => void;
  setRemoteBit: (rw: number, w: number, baseW: number) => number;
  setLiveBit: (w: number, baseW: number) => void;
  beginCheckedFree: (recordW: number, w: number, baseW: number, segW: number) => number;
  atomicStore: (w: number, value: number) => void;
  atomicCompareExchange: (w: number, expected: number, value: number) => number;
  atomicOr: (w: number, bits: number) => number;
  beginLargeFree: (recordW: number, dw: number, segW: number, owner: number) => number;
};
const { bitmapWordOf, bitOf } = (await import(new URL('../../dist/pages.js', import.meta.url).href)) as {
  bitmapWordOf: (baseW: number, w: number, offset: number) => number;
  bitOf: (w: number) => number;
};
const { wasmOps } = (await import(new URL('../../dist/wasmops.js', import.meta.url).href)) as {
  wasmOps: (memory: unknown) => Ops | undefined;
};
const binary = (await import(new URL('../../dist/wasmops-binary.js', import.meta.url).href)) as {
  WASM_OPS_SHARED: string;
  WASM_OPS_UNSHARED: string;
};
const { assembleWasmOps } = (await import(new URL('../../scripts/assemble-wasmops.mjs', import.meta.url).href)) as {
  assembleWasmOps: (shared: boolean) => Promise<string>;
};

/** TF_DELAYED and TF_PENDING, the two bitmaps' offsets in a segment's header, and SEG_NORMAL, as docs/design.md
 *  documents them (layout.ts is a const enum, not in the build). */
const TF_DELAYED = 1;
const TF_PENDING = 2;
const REMOTE_BITMAP_OFFSET = 3072;
const LIVE_BITMAP_OFFSET = REMOTE_BITMAP_OFFSET + 16384;
const SEG_NORMAL = 1;
/** A large block's owner word (descriptor word 10) while it is live. */
const P_OWNER = 10;
const LIVE_BLOCK = 1;

/** Bytes i at offset i, mod 251 (a prime: no period of a power of two). */
function pattern(u8: Uint8Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) u8[from + i] = (from + i) % 251;
}

function checkCopies(memory: WebAssembly.Memory): void {
  const ops = wasmOps(memory);
  assert.ok(ops, 'the module links');
  const u8 = () => new Uint8Array(memory.buffer);
  for (const [to, from, n] of [
    [4096, 0, 1000], // apart
    [1000, 900, 3000], // overlapping, forward
    [900, 1000, 3000], // overlapping, backward
    [70_000, 1, 65_537], // across a wasm page, unaligned
  ] as const) {
    pattern(u8(), 0, 140_000);
    const expected = u8().slice(from, from + n);
    ops.copy(to, from, n);
    assert.deepEqual(u8().subarray(to, to + n), expected, `copy(${to}, ${from}, ${n})`);
    assert.equal(u8()[to + n], (to + n) % 251, 'the byte after the copy is untouched');
    if (to > 0) assert.equal(u8()[to - 1], (to - 1) % 251, 'the byte before the copy is untouched');
  }
  pattern(u8(), 0, 140_000);
  ops.fill(12_345, 0, 66_000);
  const after = u8();
  assert.equal(after[12_344], 12_344 % 251);
  assert.ok(after.subarray(12_345, 12_345 + 66_000).every((b) => b === 0), 'fill clears the range');
  assert.equal(after[12_345 + 66_000], (12_345 + 66_000) % 251);
  // After the memory grows the module sees the new pages.
  const pages = memory.buffer.byteLength / 65536;
  memory.grow(2);
  ops.fill(pages * 65536 + 10, 7, 100);
  assert.equal(new Uint8Array(memory.buffer)[pages * 65536 + 109], 7, 'fill reaches grown pages');
}

/**
 * A remote free's bit over `memory` (threadfree.ts's setBit): the block's word and bit found as pages.ts finds
 * them, set with the page flagged pending, refused when set already, and for a page flagged delayed, left to
 * the JS path with the bit taken back (or, when the owner took it meanwhile, done).
 */
function checkSetBit(memory: WebAssembly.Memory): void {
  const ops = wasmOps(memory)!;
  const m = new Int32Array(memory.buffer);
  const rw = 1033; // a page's flags word
  // Blocks (word indexes) whose bits lie in one bitmap word, in a heap whose first segment starts at word
  // `baseW`: granules 2048-2079 of the segment (two words each), so word 2048 / 32 of its bitmap.
  const baseW = 1024;
  const block = (bit: number): number => baseW + 4096 + 2 * bit;
  const bw = bitmapWordOf(baseW, block(5), REMOTE_BITMAP_OFFSET);
  assert.equal(bw, baseW + REMOTE_BITMAP_OFFSET / 4 + 2048 / 32, 'the word pages.ts finds');
  for (const bit of [5, 7, 31]) {
    assert.equal(bitmapWordOf(baseW, block(bit), REMOTE_BITMAP_OFFSET), bw);
    assert.equal(bitOf(block(bit)), 1 << bit);
  }
  m[rw] = 0;
  m[bw] = 0;
  assert.equal(ops.setRemoteBit(rw, block(5), baseW), 0);
  assert.equal(m[bw], 1 << 5, 'the bit is set');
  assert.equal(m[rw], TF_PENDING, 'and the page flagged pending');
  assert.equal(ops.setRemoteBit(rw, block(31), baseW), 0, 'the top bit too');
  assert.equal(m[bw], (1 << 5) | (1 << 31));
  assert.equal(ops.setRemoteBit(rw, block(5), baseW), 2, 'a bit set already: freed twice');
  assert.equal(m[bw], (1 << 5) | (1 << 31), 'and nothing changed');
  assert.equal(m[rw], TF_PENDING);
  m[rw] = TF_DELAYED;
  assert.equal(ops.setRemoteBit(rw, block(7), baseW), 1, 'a page flagged delayed is the JS path\'s');
  assert.equal(m[bw], (1 << 5) | (1 << 31), 'with the bit taken back');
  assert.equal(m[rw], TF_DELAYED, 'and the flags unchanged');
}

/**
 * Checked mode's live bits over `memory` (heap.ts's markLive and freeChecked): set where pages.ts finds them;
 * a free names the block in the thread's record, then is refused with 1 when the segment is not normal (the
 * bit untouched), with 2 when the bit is clear, and otherwise clears the bit.
 */
function checkLiveBits(memory: WebAssembly.Memory): void {
  const ops = wasmOps(memory)!;
  const m = new Int32Array(memory.buffer);
  const baseW = 0;
  const recordW = 100;
  const segW = 101; // the segment's table word
  const w = 2048 + 2 * 9; // granule 1033 of the segment: bit 9 of word 32 of the live bitmap
  const lw = bitmapWordOf(baseW, w, LIVE_BITMAP_OFFSET);
  assert.equal(lw, LIVE_BITMAP_OFFSET / 4 + 32);
  assert.equal(bitOf(w), 1 << 9);
  m[lw] = 1 << 3; // another block's bit
  ops.setLiveBit(w, baseW);
  assert.equal(m[lw], (1 << 3) | (1 << 9), 'the live bit is set, the other kept');
  m[segW] = SEG_NORMAL + 1;
  assert.equal(ops.beginCheckedFree(recordW, w, baseW, segW), 1, 'a segment no longer normal');
  assert.equal(m[recordW], w, 'the record names the block first');
  assert.equal(m[lw], (1 << 3) | (1 << 9), 'and the bit is untouched');
  m[segW] = SEG_NORMAL;
  m[recordW] = 0;
  assert.equal(ops.beginCheckedFree(recordW, w, baseW, segW), 0, 'a live block');
  assert.equal(m[recordW], w);
  assert.equal(m[lw], 1 << 3, 'its bit cleared, the other kept');
  assert.equal(ops.beginCheckedFree(recordW, w, baseW, segW), 2, 'freed already');
  assert.equal(m[lw], 1 << 3, 'nothing changed');
}

/**
 * The atomics of large and huge blocks, and of abandoning and adopting pages, over `memory` (memory.ts's store,
 * compareExchange and or, spanblocks.ts's beginLargeFree): a store and a compare-exchange of one word (the old
 * value back, the word changed only when it held the expected one), an or of bits into one word (the old value
 * back); a large free names the descriptor in the thread's record, then is refused with
 * 1 when the segment is not normal (the owner word untouched), with 2 when the owner word is not LIVE_BLOCK,
 * and otherwise swaps in the owner it is given.
 */
function checkLargeAtomics(memory: WebAssembly.Memory): void {
  const ops = wasmOps(memory)!;
  const m = new Int32Array(memory.buffer);
  ops.atomicStore(1000, -7);
  assert.equal(m[1000], -7, 'stored');
  assert.equal(m[999], 0, 'and nothing beside it');
  assert.equal(m[1001], 0);
  assert.equal(ops.atomicCompareExchange(1000, 5, 6), -7, 'not the expected value: the old one back');
  assert.equal(m[1000], -7, 'and the word unchanged');
  assert.equal(ops.atomicCompareExchange(1000, -7, 0x10003), -7);
  assert.equal(m[1000], 0x10003, 'swapped');
  assert.equal(ops.atomicOr(1000, 0x40000004), 0x10003, 'or: the old value back');
  assert.equal(m[1000], 0x40010007, 'the bits set, the others kept');
  assert.equal(m[1001], 0, 'and nothing beside it');
  ops.atomicStore(1000, 0x10003);
  const recordW = 100;
  const segW = 101;
  const dw = 2048;
  const held = 0x10000 | 3;
  m[dw + P_OWNER] = LIVE_BLOCK;
  m[segW] = SEG_NORMAL + 1;
  assert.equal(ops.beginLargeFree(recordW, dw, segW, held), 1, 'a segment no longer normal');
  assert.equal(m[recordW], dw, 'the record names the descriptor first');
  assert.equal(m[dw + P_OWNER], LIVE_BLOCK, 'and the owner word is untouched');
  m[segW] = SEG_NORMAL;
  m[recordW] = 0;
  assert.equal(ops.beginLargeFree(recordW, dw, segW, held), 0, 'a live block');
  assert.equal(m[recordW], dw);
  assert.equal(m[dw + P_OWNER], held, 'its owner word now the holder\'s');
  assert.equal(ops.beginLargeFree(recordW, dw, segW, 0), 2, 'freed already');
  assert.equal(m[dw + P_OWNER], held, 'nothing changed');
}

describe('wasm operations (wasmops.ts)', () => {
  it('ships exactly what its source assembles to (npm run build:wasmops after changing it)', async () => {
    assert.equal(binary.WASM_OPS_SHARED, await assembleWasmOps(true), 'the module for shared memories is stale');
    assert.equal(binary.WASM_OPS_UNSHARED, await assembleWasmOps(false), 'the module for other memories is stale');
  });
  it('sets a remote free\'s bit and flags its page, refuses a bit set already, and leaves a page flagged delayed to the JS path', () => {
    checkSetBit(new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true }));
    checkSetBit(new WebAssembly.Memory({ initial: 1 }));
  });
  it('sets and clears checked mode\'s live bits, refusing a free in a segment no longer normal or of a clear bit', () => {
    checkLiveBits(new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true }));
    checkLiveBits(new WebAssembly.Memory({ initial: 2 }));
  });
  it('stores, compare-exchanges and ors a word, and begins a large free: named, then refused (segment not normal, not live) or swapped', () => {
    checkLargeAtomics(new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true }));
    checkLargeAtomics(new WebAssembly.Memory({ initial: 1 }));
  });
  it('links to a shared WebAssembly.Memory and copies and fills as memmove and memset do', () => {
    checkCopies(new WebAssembly.Memory({ initial: 3, maximum: 65536, shared: true }));
  });
  it('links to a non-shared WebAssembly.Memory, with or without a maximum', () => {
    checkCopies(new WebAssembly.Memory({ initial: 3, maximum: 100 }));
    checkCopies(new WebAssembly.Memory({ initial: 3 }));
  });
  it('gives nothing for a SharedArrayBuffer or an ArrayBuffer (the typed arrays copy there)', () => {
    assert.equal(wasmOps(new SharedArrayBuffer(65536)), undefined);
    assert.equal(wasmOps(new ArrayBuffer(65536)), undefined);
  });
});
