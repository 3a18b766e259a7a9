// What wasm does faster than JS over a WebAssembly.Memory, in one small module that imports the memory (its
// text: wasmops-source.ts; the shipped binary: wasmops-binary.ts). Measured here:
//
// - Copies and clears. Over a SharedArrayBuffer, V8's typed-array copyWithin and fill move words one relaxed
//   atomic access at a time (copyWithin 13 bytes per ns, a Float64Array fill about 8), while wasm's
//   memory.copy and memory.fill run as memmove and memset over the same shared bytes (about 130 bytes per ns
//   for a copy, 40 for a fill). realloc's copies and calloc's clears (memory.ts) run here.
// - Another thread's free. Every JS Atomics call is a builtin call that V8 does not inline (about 130
//   instructions), where wasm's atomics are single locked instructions: a remote free's bit (threadfree.ts)
//   and the owner's taking of those bits (pages.ts's collect) run here. (With the thread_free list that came
//   before the bitmap, the push in wasm took the producer/consumer benchmark with 4 workers from 11.8-12.2
//   to 9.0-9.5 ns per call; with the bitmap, taking the bits in wasm took it from 10.0-10.5 to 9.2-9.6, three
//   alternated processes each.)
// - The free of a small block, whole (heap.ts's free): the pointer's validation, then the owner's push or
//   another thread's bit, in one call where the JS path makes a dozen typed-array accesses, each with its
//   bounds check. pairs-16 took 3.62-3.68 ns per call instead of 4.11-4.23, batch-64 4.60-4.77 instead of
//   5.04-5.50, the producer/consumer benchmark with 2 workers 13.0-13.1 instead of 15.4-16.4 (three alternated
//   processes each; docs/performance.md, "free in wasm"). malloc stays in JS: with its pop in wasm as
//   well, pairs-16 took 4.2 ns per call, its six accesses cheaper than one call more.
// - Checked mode's live bits (heap.ts): malloc sets one (an atomic or), and a free stores its record, reads its
//   segment's state and clears the bit, three atomics in one call. Checked malloc(64)/free pairs took 16.7 ns
//   per call instead of 26.6 with the Atomics calls (medians of four alternated processes). The checked free
//   of a small block now runs whole, as the unchecked one does (freeCheckedBlock): checked pairs-64 took
//   13.7-13.9 ns per call instead of 16.4-17.2, random-512 42-51 instead of 70-78, the producer/consumer
//   benchmark with 2 workers 19.1-20.3 instead of 26.8-33.5 (three alternated processes each). Its malloc's
//   pop in wasm as well did not gain (13.0-14.0 against 13.1-13.7).
// - Large and huge blocks (spanblocks.ts): the publish and the record's clearing (an atomic store), a huge
//   free's CAS, and a large free's record, segment check and CAS in one call. Blocks of 1 to 64 MiB took 28.7
//   ns per call instead of 33.2, of 64 KiB to 1 MiB 57 instead of 80 (medians of ten and five processes).
// - Every in-flight record (inflight.ts), through the same atomic store.
//
// Over any other memory, or where the engine refuses the module, the JS code does the same work.

import { WASM_OPS_SHARED, WASM_OPS_UNSHARED } from './wasmops-binary.js';

/** dst, src, byte count: wasm's memory.copy (memmove: the ranges may overlap). */
export type CopyBytes = (to: number, from: number, n: number) => void;
/** dst, byte value, byte count: wasm's memory.fill. */
export type FillBytes = (to: number, value: number, n: number) => void;
/** Page flags, block (word indexes), the heap's base in words: a remote free's bit (threadfree.ts's setBit). */
export type SetRemoteBit = (rw: number, w: number, baseW: number) => number;
/** Page descriptor, remote-bitmap words [from, to), block of bit 0 of word 0: pages.ts's collect; how many. */
export type CollectRemoteBits = (dw: number, from: number, to: number, k: number) => number;
/** Checked mode: block, the heap's base in words: the block's live bit set (heap.ts's markLive). */
export type SetLiveBit = (w: number, baseW: number) => void;
/**
 * Checked mode: the record's word, block, the heap's base, the block's segment-table word (word indexes): the
 * record names the block, then 1 if the segment is not normal, 2 if the live bit was clear, else 0 with the
 * bit cleared (heap.ts's freeChecked).
 */
export type BeginCheckedFree = (recordW: number, w: number, baseW: number, segW: number) => number;
/**
 * A large block's free: the record's word, the block's descriptor, its segment-table word (word indexes), the
 * owner word's value once freed: the record names the descriptor, then 1 if the segment is not normal, 2 if
 * the owner word did not say LIVE_BLOCK, else 0 with it swapped (spanblocks.ts's freeSpanBlock).
 */
export type BeginLargeFree = (recordW: number, dw: number, segW: number, owner: number) => number;
/** Word index, value: Atomics.store. */
export type AtomicStore = (w: number, value: number) => void;
/** Word index, expected, replacement: Atomics.compareExchange (the old value). */
export type AtomicCompareExchange = (w: number, expected: number, value: number) => number;
/** Word index, bits: Atomics.or (the old value). */
export type AtomicOr = (w: number, bits: number) => number;

/**
 * heap.ts's free of a small block: the address (a u32), the views' base, their words and the segment table's
 * word, the caller's owner tag. 0 when freed; a page descriptor that needs the owner's slow path; -2 for a
 * double free seen in the remote bitmap; -1 when the JS path decides; a checked heap's -4, -5, -6 (see
 * wasmops-source.ts).
 */
export type FreeBlock = (p: number, baseW: number, heapWords: number, segTableW: number, tag: number) => number;
/** A checked heap's FreeBlock, with the word of the thread's T_BLOCK record last. */
export type FreeCheckedBlock = (p: number, baseW: number, heapWords: number, segTableW: number, tag: number, recordW: number) => number;

export interface WasmOps {
  copy: CopyBytes;
  fill: FillBytes;
  setRemoteBit: SetRemoteBit;
  collectRemoteBits: CollectRemoteBits;
  setLiveBit: SetLiveBit;
  beginCheckedFree: BeginCheckedFree;
  atomicStore: AtomicStore;
  atomicCompareExchange: AtomicCompareExchange;
  atomicOr: AtomicOr;
  beginLargeFree: BeginLargeFree;
  freeBlock: FreeBlock;
  freeCheckedBlock: FreeCheckedBlock;
}

/** The compiled modules (for a shared memory, and for one that is not), compiled once per thread. */
const modules = new Map<boolean, WebAssembly.Module>();

/** The module's bytes, for a shared memory or for one that is not (decoded from wasmops-binary.ts's hex). */
export function wasmOpsBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  const hex = shared ? WASM_OPS_SHARED : WASM_OPS_UNSHARED;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function compiled(shared: boolean): WebAssembly.Module {
  let module = modules.get(shared);
  if (module === undefined) {
    // Synchronous: the module is about 1.5 KB, far below what browsers allow to compile on the main thread.
    module = new WebAssembly.Module(wasmOpsBytes(shared));
    modules.set(shared, module);
  }
  return module;
}

/** The operations over `memory` in wasm, or undefined when it is not a WebAssembly.Memory or wasm refuses. */
export function wasmOps(memory: unknown): WasmOps | undefined {
  if (typeof WebAssembly === 'undefined' || !(memory instanceof WebAssembly.Memory)) return undefined;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  try {
    const instance = new WebAssembly.Instance(compiled(shared), { e: { m: memory } });
    const e = instance.exports as unknown as WasmOps;
    return {
      copy: e.copy,
      fill: e.fill,
      setRemoteBit: e.setRemoteBit,
      collectRemoteBits: e.collectRemoteBits,
      setLiveBit: e.setLiveBit,
      beginCheckedFree: e.beginCheckedFree,
      atomicStore: e.atomicStore,
      atomicCompareExchange: e.atomicCompareExchange,
      atomicOr: e.atomicOr,
      beginLargeFree: e.beginLargeFree,
      freeBlock: e.freeBlock,
      freeCheckedBlock: e.freeCheckedBlock,
    };
  } catch {
    return undefined; // no bulk memory or atomics in this engine, or a content security policy without wasm
  }
}
