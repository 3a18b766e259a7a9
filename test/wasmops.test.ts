// The wasm module of wasmops.ts: that the shipped binary is what its source assembles to, that it links to each
// kind of WebAssembly.Memory (and that any other memory gets none: the JS code does the work there), that it
// moves bytes as memmove does in both directions of overlap and fills, and that its thread_free push keeps the
// protocol of threadfree.ts. Internals: loaded from the build (dist/) and the assembling script.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

type Ops = {
  copy: (to: number, from: number, n: number) => void;
  fill: (to: number, value: number, n: number) => void;
  pushThreadFree: (dw: number, w: number) => number;
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

/** P_THREAD_FREE and TF_DELAYED, as docs/design.md documents them (layout.ts is a const enum, not in the build). */
const P_THREAD_FREE = 9;
const TF_DELAYED = 1;

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

/** The thread_free push over `memory`: onto an empty list, onto a list, and refused for a flagged page. */
function checkPush(memory: WebAssembly.Memory): void {
  const ops = wasmOps(memory)!;
  const m = new Int32Array(memory.buffer);
  const dw = 1024; // a descriptor's word index
  const tfw = dw + P_THREAD_FREE;
  m[tfw] = 0;
  assert.equal(ops.pushThreadFree(dw, 5000), 0);
  assert.equal(m[tfw], 5000, 'the block heads the list');
  assert.equal(m[5000], 0, 'and ends it');
  assert.equal(ops.pushThreadFree(dw, 6000), 0);
  assert.equal(m[tfw], 6000);
  assert.equal(m[6000], 5000, 'the new head links to the old one');
  m[tfw] = 6000 | TF_DELAYED;
  m[7000] = 12345;
  assert.equal(ops.pushThreadFree(dw, 7000), 1, 'a flagged page is the JS path\'s');
  assert.equal(m[tfw], 6000 | TF_DELAYED, 'and its list is unchanged');
}

describe('wasm operations (wasmops.ts)', () => {
  it('ships exactly what its source assembles to (npm run build:wasmops after changing it)', async () => {
    assert.equal(binary.WASM_OPS_SHARED, await assembleWasmOps(true), 'the module for shared memories is stale');
    assert.equal(binary.WASM_OPS_UNSHARED, await assembleWasmOps(false), 'the module for other memories is stale');
  });
  it('pushes onto a page\'s thread_free list with a CAS, and leaves a flagged page to the JS path', () => {
    checkPush(new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true }));
    checkPush(new WebAssembly.Memory({ initial: 1 }));
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
