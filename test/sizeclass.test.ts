// The size classes and the division-free block-start test that free, realloc and usableSize rely on to refuse
// interior pointers (sizeclass.ts's BLOCK_INVERSE, heap.ts's isCarvedBlock). These are internals: they are
// loaded from the build (dist/), not through the package's exports.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

interface SizeClasses {
  BIN_SIZE: readonly number[];
  BIN_SLICES: Uint8Array;
  BLOCK_INVERSE: Int32Array;
  START_SHIFT: Uint8Array;
}
const sc = (await import(new URL('../../dist/sizeclass.js', import.meta.url).href)) as SizeClasses;
/** Heap.prototype.isCarvedBlock, which reads only the descriptor at `dw` in `m` (not `this`). */
type IsCarvedBlock = (m: Int32Array, w: number, dw: number) => boolean;
const heapModule = (await import(new URL('../../dist/heap.js', import.meta.url).href)) as {
  Heap: { prototype: { isCarvedBlock: IsCarvedBlock } };
};
const isCarvedBlock = heapModule.Heap.prototype.isCarvedBlock;
/** The descriptor words it reads (src/layout.ts). */
const P_AREA = 4;
const P_CARVED_BOUND = 7;
const P_DIVISOR = 14;

const SEGMENT_WORDS = (1024 * 1024) / 4;
const SLICE_WORDS = (64 * 1024) / 4;

describe('size classes: telling a block start without a divide', () => {
  it('isCarvedBlock agrees with division for every class, every word offset within a segment, and several carved counts', () => {
    // A descriptor at word 0 whose first block is at word `area`: only the descriptor is read, not the blocks.
    const m = new Int32Array(32);
    const area = SEGMENT_WORDS + 64;
    m[P_AREA] = area;
    for (let bin = 0; bin < sc.BIN_SIZE.length; bin++) {
      const words = sc.BIN_SIZE[bin]! / 4;
      assert.equal(1 << sc.START_SHIFT[bin]!, words & -words, `class ${words * 4}: its shift`);
      m[P_DIVISOR] = sc.BLOCK_INVERSE[bin]!;
      const capacity = Math.floor((sc.BIN_SLICES[bin]! * SLICE_WORDS) / words);
      for (const carved of [0, 1, Math.ceil(capacity / 3), capacity]) {
        m[P_CARVED_BOUND] = (carved << 5) | sc.START_SHIFT[bin]!; // as pages.ts's writeCarvedBound writes it
        let starts = 0;
        // A page and its pointers lie in one segment: offsets from its first block are within +-2^18 words.
        for (let rel = -SEGMENT_WORDS + 1; rel < SEGMENT_WORDS; rel++) {
          const expected = rel >= 0 && rel % words === 0 && rel / words < carved;
          if (isCarvedBlock(m, area + rel, 0) !== expected) {
            assert.fail(`class ${words * 4} bytes, ${carved} carved: offset ${rel} words judged ${String(!expected)}`);
          }
          if (expected) starts++;
        }
        assert.equal(starts, carved);
      }
    }
  });
});
