// Abandoned pages: pages whose owner left while they still held live blocks, waiting for a thread that needs
// their size class to adopt them (or for an emptied one to go back to the pool).
//
// An abandoned page's owner is ABANDONED. A thread adopts it with one compare-and-swap of the owner from
// ABANDONED to its own tag: the single atomic step that transfers the page also names its new owner, so a
// thread stopped at any point has either not taken the page or has its name on it (a worker can be
// terminated between any two atomic operations, as measured in this project). Finding abandoned pages
// fast is the job of two bitmaps, which are only an index:
// - one bit per slice marks abandoned page heads; it is set just before a page's owner becomes ABANDONED
//   and cleared by its adopter after the CAS. A bit may be stale for a moment (or, if its adopter died,
//   until reclaim() takes the page over), and a searcher simply fails the CAS then. It is never set on a
//   page that is not about to be abandoned by the thread setting it (see abandonPage);
// - per size class, one bit per segment says where pages of that class may be.
// Setting a bit twice changes nothing, which keeps the repairs in reclaim() simple.

import type { HeapContext } from './context.js';
import { Layout as L } from './layout.js';

/** Word and bit of page head `dw`'s abandoned bit. */
function bitOf(ctx: HeapContext, dw: number): [word: number, bit: number] {
  const off = dw * L.WORD - ctx.base;
  const slice = Math.floor(off / L.SEGMENT_SIZE) * L.SLICES_PER_SEGMENT + (off % L.SEGMENT_SIZE - L.DESC_OFFSET) / L.DESC_SIZE;
  return [ctx.abandonedW + (slice >>> 5), 1 << (slice & 31)];
}

function summaryWord(ctx: HeapContext, bin: number, index: number): number {
  return ctx.abandonedSummaryW + bin * ctx.summaryWords + (index >>> 5);
}

/**
 * Give up page `dw` (owned by the caller, on no list) for adoption: its slice bit, then its owner
 * ABANDONED, then its class's summary bit. In this order:
 * - the slice bit before the owner: a searcher that sees the bit first fails its CAS and moves on. The
 *   other way round, a searcher holding an older snapshot of the bitmap could take the page the moment
 *   its owner changed, and release it, before this thread set the bit on a page no longer abandoned;
 *   such a bit would make a later searcher CAS a word of whatever the slice holds then;
 * - the summary bit after the owner: a searcher that found no abandoned page in the segment a moment
 *   earlier may have dropped it.
 * A thread stopped in between leaves the page still its own (reclaim() takes it over and clears the bit
 * if it releases it) or abandoned without its summary bit (reclaim() restores summaries).
 */
export function abandonPage(ctx: HeapContext, dw: number): void {
  const m = ctx.mem.m;
  const [word, bit] = bitOf(ctx, dw);
  Atomics.or(m, word, bit);
  Atomics.store(m, dw + L.P_OWNER, L.ABANDONED);
  markClassSummary(ctx, dw);
}

/** Set the summary bit of abandoned page `dw`'s class and segment (a hint: setting it needlessly is harmless). */
export function markClassSummary(ctx: HeapContext, dw: number): void {
  const m = ctx.mem.m;
  const index = Math.floor((dw * L.WORD - ctx.base) / L.SEGMENT_SIZE);
  Atomics.or(m, summaryWord(ctx, m[dw + L.P_BIN], index), 1 << (index & 31));
}

/** Clear page `dw`'s slice bit: reclaim() releasing a page whose dead owner stopped inside abandonPage. */
export function clearAbandonedBit(ctx: HeapContext, dw: number): void {
  const [word, bit] = bitOf(ctx, dw);
  Atomics.and(ctx.mem.m, word, ~bit);
}

/** Take the abandoned page `dw` if it is still abandoned: true when this thread's CAS made it the owner. */
function take(ctx: HeapContext, dw: number, ownerTag: number): boolean {
  const m = ctx.mem.m;
  if (Atomics.compareExchange(m, dw + L.P_OWNER, L.ABANDONED, ownerTag) !== L.ABANDONED) return false;
  const [word, bit] = bitOf(ctx, dw);
  Atomics.and(m, word, ~bit);
  return true;
}

/**
 * Adopt an abandoned page of class `bin`: its owner becomes `ownerTag`. Looks at segments the class's
 * summary names, starting at `hint`, dropping the summary bit of a segment found to hold none (then looking
 * again, in case one was abandoned meanwhile). Returns the page, or 0 when there is none.
 */
export function adoptAbandoned(ctx: HeapContext, bin: number, ownerTag: number, hint: number): number {
  const m = ctx.mem.m;
  const top = ctx.top();
  const words = Math.ceil(top / 32);
  for (let k = 0; k < words; k++) {
    const wi = (hint + k) % words;
    const sw = ctx.abandonedSummaryW + bin * ctx.summaryWords + wi;
    for (let bits = Atomics.load(m, sw); bits !== 0; bits &= bits - 1) {
      const b = 31 - Math.clz32(bits & -bits);
      const index = wi * 32 + b;
      if (index >= top) break;
      const dw = findInSegment(ctx, index, bin);
      if (dw !== 0 && take(ctx, dw, ownerTag)) return dw;
      if (dw === 0) {
        Atomics.and(m, sw, ~(1 << b));
        if (findInSegment(ctx, index, bin) !== 0) Atomics.or(m, sw, 1 << b);
      }
    }
  }
  return 0;
}

/** An abandoned page of class `bin` in segment `index`, or 0. */
function findInSegment(ctx: HeapContext, index: number, bin: number): number {
  const m = ctx.mem.m;
  const first = index * L.SLICES_PER_SEGMENT;
  const bits = (Atomics.load(m, ctx.abandonedW + (first >>> 5)) >>> (first & 31)) & L.ALL_SLICES;
  for (let b = bits; b !== 0; b &= b - 1) {
    const dw = ctx.descriptorW(index, 31 - Math.clz32(b & -b));
    if (m[dw + L.P_KIND] === L.KIND_SMALL && m[dw + L.P_BIN] === bin && Atomics.load(m, dw + L.P_OWNER) === L.ABANDONED) return dw;
  }
  return 0;
}

/**
 * Take up to `budget` abandoned pages of any class, from where the last call stopped (`cursor`, a slice
 * number), passing each to `visit` (which must give it back with abandonPage, or release it). Returns the
 * next cursor.
 */
export function takeAbandoned(ctx: HeapContext, ownerTag: number, cursor: number, budget: number, visit: (dw: number) => void): number {
  const m = ctx.mem.m;
  const slices = ctx.top() * L.SLICES_PER_SEGMENT;
  const words = Math.ceil(slices / 32);
  let wi = Math.floor(cursor / 32) % Math.max(words, 1);
  for (let k = 0; k < words && budget > 0; k++, wi = (wi + 1) % words) {
    for (let bits = Atomics.load(m, ctx.abandonedW + wi); bits !== 0 && budget > 0; bits &= bits - 1) {
      const slice = wi * 32 + 31 - Math.clz32(bits & -bits);
      const dw = ctx.descriptorW(Math.floor(slice / L.SLICES_PER_SEGMENT), slice % L.SLICES_PER_SEGMENT);
      budget--;
      if (take(ctx, dw, ownerTag)) visit(dw);
    }
  }
  return wi * 32;
}

/** Abandoned page heads, per class (a snapshot; racy while threads adopt or abandon). */
export function abandonedPages(ctx: HeapContext): number[] {
  const m = ctx.mem.m;
  const out: number[] = [];
  const slices = ctx.top() * L.SLICES_PER_SEGMENT;
  for (let wi = 0; wi < Math.ceil(slices / 32); wi++) {
    for (let bits = Atomics.load(m, ctx.abandonedW + wi); bits !== 0; bits &= bits - 1) {
      const slice = wi * 32 + 31 - Math.clz32(bits & -bits);
      out.push(ctx.descriptorW(Math.floor(slice / L.SLICES_PER_SEGMENT), slice % L.SLICES_PER_SEGMENT));
    }
  }
  return out;
}

/** Whether the class summary bit of segment `index` is set (for check()). */
export function summaryHas(ctx: HeapContext, bin: number, index: number): boolean {
  return ((Atomics.load(ctx.mem.m, summaryWord(ctx, bin, index)) >>> (index & 31)) & 1) !== 0;
}

