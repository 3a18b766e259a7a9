// What wasm does faster than JS over a WebAssembly.Memory, in one small module that imports the memory (its
// text: wasmops-source.ts; the shipped binary: wasmops-binary.ts). Measured here:
//
// - Copies and clears. Over a SharedArrayBuffer, V8's typed-array copyWithin and fill move words one relaxed
//   atomic access at a time (copyWithin 13 bytes per ns, a Float64Array fill about 8), while wasm's
//   memory.copy and memory.fill run as memmove and memset over the same shared bytes (about 130 bytes per ns
//   for a copy, 40 for a fill). realloc's copies and calloc's clears (memory.ts) run here.
// - Another thread's free. Every JS Atomics call is a builtin call that V8 does not inline (about 130
//   instructions), where wasm's compare-and-swap is one locked instruction: the thread_free push
//   (threadfree.ts) runs here, and the producer/consumer benchmark with 4 workers went from 11.8-12.2 to
//   9.0-9.5 ns per call (four alternated processes each). The owner's own malloc and free stay in JS: they
//   use no atomics, and a call into wasm costs more than their typed-array accesses do (pairs of malloc(16)
//   and free took 5.3-5.5 ns per call in JS and 5.6-5.7 with both paths in wasm).
//
// Over any other memory, or where the engine refuses the module, the JS code does the same work.

import { WASM_OPS_SHARED, WASM_OPS_UNSHARED } from './wasmops-binary.js';

/** dst, src, byte count: wasm's memory.copy (memmove: the ranges may overlap). */
export type CopyBytes = (to: number, from: number, n: number) => void;
/** dst, byte value, byte count: wasm's memory.fill. */
export type FillBytes = (to: number, value: number, n: number) => void;
/** Page descriptor, block (word indexes): the thread_free push; 0 done, 1 the JS path's (see the source). */
export type PushThreadFree = (dw: number, w: number) => number;

export interface WasmOps {
  copy: CopyBytes;
  fill: FillBytes;
  pushThreadFree: PushThreadFree;
}

/** The compiled modules (for a shared memory, and for one that is not), compiled once per thread. */
const modules = new Map<boolean, WebAssembly.Module>();

function compiled(shared: boolean): WebAssembly.Module {
  let module = modules.get(shared);
  if (module === undefined) {
    const hex = shared ? WASM_OPS_SHARED : WASM_OPS_UNSHARED;
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    // Synchronous: the module is about 200 bytes, far below what browsers allow to compile on the main thread.
    module = new WebAssembly.Module(bytes);
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
    const { copy, fill, pushThreadFree } = instance.exports as unknown as WasmOps;
    return { copy, fill, pushThreadFree };
  } catch {
    return undefined; // no bulk memory or atomics in this engine, or a content security policy without wasm
  }
}
