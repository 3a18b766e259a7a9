// Size classes ("bins"): which block size serves a request, and how many slices a page of each class spans.
//
//   8, then 16..128 in steps of 16, then 8 classes per doubling up to 64 KiB (spacing <= 12.5% from 128 on).
//
// Every class from 16 up is a multiple of 16, so blocks laid out from a 16-aligned area are 16-aligned;
// more generally a block's alignment is the lowest set bit of its class size (capped at 64 KiB), which
// aligned allocation uses. The 16-byte granularity is why 64..128 is spaced by 16 and not by 12.5%:
// a class of 72 bytes could not keep its blocks 16-aligned.

import { Layout as L } from './layout.js';

/**
 * Limits the fast paths test, as a const enum: compiled to literals. (An imported const is a module binding,
 * which V8 loads and checks for the temporal dead zone on every call.)
 */
export const enum Limit {
  /** Largest size served from size-classed pages; above it blocks get a span of their own. */
  MEDIUM_MAX = 64 * 1024,
}
export const MEDIUM_MAX: number = Limit.MEDIUM_MAX;
/** A page holds at least this many blocks (medium pages span several slices to get there). */
const MIN_BLOCKS_PER_PAGE = 8;
const MAX_PAGE_SLICES = 8;

function makeClassSizes(): number[] {
  const sizes = [8];
  for (let s = 16; s <= 128; s += 16) sizes.push(s);
  for (let p = 128; p < MEDIUM_MAX; p *= 2) {
    const step = p / 8;
    for (let j = 1; j <= 8; j++) sizes.push(p + j * step);
  }
  return sizes;
}

/** Block size of each class. */
export const BIN_SIZE: readonly number[] = makeClassSizes();
export const NBINS = BIN_SIZE.length; // 81

/** Class of a request: BIN_OF_GRANULE[(size + 7) >>> 3] for 0 <= size <= MEDIUM_MAX. */
export const BIN_OF_GRANULE = new Uint8Array((MEDIUM_MAX >>> 3) + 1);
{
  let bin = 0;
  for (let g = 0; g < BIN_OF_GRANULE.length; g++) {
    while (BIN_SIZE[bin] < g * 8) bin++;
    BIN_OF_GRANULE[g] = bin;
  }
}

/** Slices a page of each class spans: one for blocks up to 8 KiB, more so that a page holds >= 8 blocks. */
export const BIN_SLICES = new Uint8Array(NBINS);
/**
 * Per class, the inverse modulo 2^32 of the odd part of its size in words (words = 2^shift * odd): a page keeps
 * it in its descriptor (P_DIVISOR), and free tells a block start from any other address with it, without a
 * divide (see Heap.isCarvedBlock in heap.ts).
 */
export const BLOCK_INVERSE = new Int32Array(NBINS);
/** Per class, the shift of words = 2^shift * odd: in the descriptor's P_CARVED_BOUND too, for the same test. */
export const START_SHIFT = new Uint8Array(NBINS);
const MAX_ODD = 15;
for (let b = 0; b < NBINS; b++) {
  const size = BIN_SIZE[b];
  BIN_SLICES[b] = Math.min(MAX_PAGE_SLICES, Math.max(1, Math.ceil((size * MIN_BLOCKS_PER_PAGE) / L.SLICE_SIZE)));
  const words = size / 4;
  const odd = words / (words & -words);
  if (odd > MAX_ODD) throw new Error(`size class ${size}: Heap.isCarvedBlock needs an odd part <= ${MAX_ODD}`);
  BLOCK_INVERSE[b] = oddInverse(odd);
  START_SHIFT[b] = 31 - Math.clz32(words & -words);
}

/** x with odd * x = 1 modulo 2^32 (Newton's iteration; each step doubles the correct low bits). */
function oddInverse(odd: number): number {
  let x = odd;
  for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(odd, x));
  return x;
}

/** The class of a request of `size` bytes (0 <= size <= MEDIUM_MAX). */
export function binOf(size: number): number {
  return BIN_OF_GRANULE[(size + 7) >>> 3];
}

/** `x` rounded up to a multiple of `a` (no bitwise ops: addresses may exceed 2^31). */
export function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** The alignment every block of a class has (relative to a 64 KiB-aligned page start). */
export function blockAlignment(size: number): number {
  return Math.min(size & -size, L.SLICE_SIZE);
}
