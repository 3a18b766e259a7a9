// The size classes and the division-free block-start test that free, realloc and usableSize rely on to refuse
// interior pointers (sizeclass.ts, isBlockStart). These are internals: they are loaded from the build (dist/),
// not through the package's exports.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

interface SizeClasses {
  BIN_SIZE: readonly number[];
  BIN_SLICES: Uint8Array;
  BLOCK_INVERSE: Int32Array;
  isBlockStart(rel: number, words: number, inverse: number, carved: number): boolean;
}
const sc = (await import(new URL('../../dist/sizeclass.js', import.meta.url).href)) as SizeClasses;

const SEGMENT_WORDS = (1024 * 1024) / 4;
const SLICE_WORDS = (64 * 1024) / 4;

describe('size classes: telling a block start without a divide', () => {
  it('isBlockStart agrees with division for every class, every word offset within a segment, and several carved counts', () => {
    for (let bin = 0; bin < sc.BIN_SIZE.length; bin++) {
      const words = sc.BIN_SIZE[bin]! / 4;
      const inverse = sc.BLOCK_INVERSE[bin]!;
      const capacity = Math.floor((sc.BIN_SLICES[bin]! * SLICE_WORDS) / words);
      for (const carved of [0, 1, Math.ceil(capacity / 3), capacity]) {
        let starts = 0;
        // A page and its pointers lie in one segment: offsets from its first block are within +-2^18 words.
        for (let rel = -SEGMENT_WORDS + 1; rel < SEGMENT_WORDS; rel++) {
          const expected = rel >= 0 && rel % words === 0 && rel / words < carved;
          if (sc.isBlockStart(rel, words, inverse, carved) !== expected) {
            assert.fail(`class ${words * 4} bytes, ${carved} carved: offset ${rel} words judged ${String(!expected)}`);
          }
          if (expected) starts++;
        }
        assert.equal(starts, carved);
      }
    }
  });
});
