// The wasm module that copies and clears memory for realloc and calloc (bulk.ts): that it links to each kind of
// WebAssembly.Memory, moves bytes as memmove does in both directions of overlap, fills, and that any other
// memory gets none (the typed arrays do the work there). Internals: loaded from the build (dist/).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

type Bulk = { copy: (to: number, from: number, n: number) => void; fill: (to: number, value: number, n: number) => void };
const { wasmBulk } = (await import(new URL('../../dist/bulk.js', import.meta.url).href)) as {
  wasmBulk: (memory: unknown) => Bulk | undefined;
};

/** Bytes i at offset i, mod 251 (a prime: no period of a power of two). */
function pattern(u8: Uint8Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) u8[from + i] = (from + i) % 251;
}

function checkCopies(memory: WebAssembly.Memory): void {
  const bulk = wasmBulk(memory);
  assert.ok(bulk, 'the module links');
  const u8 = () => new Uint8Array(memory.buffer);
  for (const [to, from, n] of [
    [4096, 0, 1000], // apart
    [1000, 900, 3000], // overlapping, forward
    [900, 1000, 3000], // overlapping, backward
    [70_000, 1, 65_537], // across a wasm page, unaligned
  ] as const) {
    pattern(u8(), 0, 140_000);
    const expected = u8().slice(from, from + n);
    bulk.copy(to, from, n);
    assert.deepEqual(u8().subarray(to, to + n), expected, `copy(${to}, ${from}, ${n})`);
    assert.equal(u8()[to + n], (to + n) % 251, 'the byte after the copy is untouched');
    if (to > 0) assert.equal(u8()[to - 1], (to - 1) % 251, 'the byte before the copy is untouched');
  }
  pattern(u8(), 0, 140_000);
  bulk.fill(12_345, 0, 66_000);
  const after = u8();
  assert.equal(after[12_344], 12_344 % 251);
  assert.ok(after.subarray(12_345, 12_345 + 66_000).every((b) => b === 0), 'fill clears the range');
  assert.equal(after[12_345 + 66_000], (12_345 + 66_000) % 251);
  // After the memory grows the module sees the new pages.
  const pages = memory.buffer.byteLength / 65536;
  memory.grow(2);
  bulk.fill(pages * 65536 + 10, 7, 100);
  assert.equal(new Uint8Array(memory.buffer)[pages * 65536 + 109], 7, 'fill reaches grown pages');
}

describe('bulk memory (wasm memory.copy / memory.fill)', () => {
  it('links to a shared WebAssembly.Memory and copies and fills as memmove and memset do', () => {
    checkCopies(new WebAssembly.Memory({ initial: 3, maximum: 65536, shared: true }));
  });
  it('links to a non-shared WebAssembly.Memory, with or without a maximum', () => {
    checkCopies(new WebAssembly.Memory({ initial: 3, maximum: 100 }));
    checkCopies(new WebAssembly.Memory({ initial: 3 }));
  });
  it('gives nothing for a SharedArrayBuffer or an ArrayBuffer (the typed arrays copy there)', () => {
    assert.equal(wasmBulk(new SharedArrayBuffer(65536)), undefined);
    assert.equal(wasmBulk(new ArrayBuffer(65536)), undefined);
  });
});
