// Copying and clearing ranges of the memory at the machine's speed. Over a SharedArrayBuffer, V8's typed-array
// copyWithin and fill move words one relaxed atomic access at a time (measured here: copyWithin 13 bytes per
// ns, a Float64Array fill about 8), while wasm's bulk-memory instructions (memory.copy, memory.fill) run as
// memmove and memset over the same shared bytes (about 130 bytes per ns for a copy, 40 for a fill). So when
// the memory is a WebAssembly.Memory, a tiny wasm module that imports it does the bulk work; over any other
// memory (a wasm engine that is missing or refuses the module included) the typed arrays do it.

/**
 * The module, in the text format (assembled with wabt's wat2wasm --enable-threads; the binary is below):
 *
 *   (module
 *     (import "e" "m" (memory 0 65536 shared))
 *     (func (export "copy") (param i32 i32 i32)
 *       local.get 0 local.get 1 local.get 2 memory.copy)
 *     (func (export "fill") (param i32 i32 i32)
 *       local.get 0 local.get 1 local.get 2 memory.fill))
 *
 * The memory's import type must say whether it is shared, and a shared one must declare a maximum: the import
 * section is written for the memory at hand (IMPORT_SHARED below; a memory that is not shared gets limits
 * with neither flag nor maximum, which any such memory meets).
 */
const HEAD = '0061736d01000000' + '01070160037f7f7f00'; // magic, version; one type: (i32 i32 i32) -> ()
const IMPORT_SHARED = '020b010165016d020300808004'; // "e" "m": memory, flags 3, min 0, max 65536
const IMPORT_UNSHARED = '0208010165016d020000'; // flags 0, min 0
const TAIL =
  '0303020000' + // two functions of type 0
  '070f0204636f707900000466696c6c0001' + // exports "copy" (func 0), "fill" (func 1)
  '0a1a020c00200020012002fc0a00000b0b00200020012002fc0b000b'; // their bodies

/** dst, src, byte count: wasm's memory.copy (memmove: the ranges may overlap). */
export type CopyBytes = (to: number, from: number, n: number) => void;
/** dst, byte value, byte count: wasm's memory.fill. */
export type FillBytes = (to: number, value: number, n: number) => void;

/** The compiled modules (for a shared memory, and for one that is not), compiled once per thread. */
const modules = new Map<boolean, WebAssembly.Module>();

function compiled(shared: boolean): WebAssembly.Module {
  let module = modules.get(shared);
  if (module === undefined) {
    const hex = HEAD + (shared ? IMPORT_SHARED : IMPORT_UNSHARED) + TAIL;
    const bytes = new Uint8Array(hex.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    // Synchronous: the module is 80 bytes, far below what browsers allow to compile on the main thread.
    module = new WebAssembly.Module(bytes);
    modules.set(shared, module);
  }
  return module;
}

/** Bulk copy and fill over `memory` in wasm, or undefined when it is not a WebAssembly.Memory or wasm refuses. */
export function wasmBulk(memory: unknown): { copy: CopyBytes; fill: FillBytes } | undefined {
  if (typeof WebAssembly === 'undefined' || !(memory instanceof WebAssembly.Memory)) return undefined;
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  try {
    const instance = new WebAssembly.Instance(compiled(shared), { e: { m: memory } });
    const { copy, fill } = instance.exports as { copy: CopyBytes; fill: FillBytes };
    return { copy, fill };
  } catch {
    return undefined; // no bulk memory in this engine, or a content security policy without wasm
  }
}
