// Abandoned pages: pages whose owner left while they still held live blocks, waiting for a thread that needs
// their size class to adopt them (or for an emptied one to go back to the pool).
//
// An abandoned page's owner is ABANDONED, and its slice's bit in the abandoned bitmap is set. The bit is the
// page's token: a thread adopts the page by clearing the bit with a compare-and-swap of the bitmap word, and
// only then stores its own tag as the owner. So the one word a searcher writes to take a page lives in the
// heap header, never in the memory of a page, which a stale view of the bitmap could otherwise reach after
// the page was released and its slices became part of a huge block (user data). In both directions the
// owner and the bit change in two steps; the page is named in the thread's T_HANDOVER record meanwhile,
// and reclaim() republishes a page left abandoned without its bit by a thread that died there.
// - bit set => owner ABANDONED, at every instant (abandoning stores the owner first; adopting clears the bit
//   first).
// - Per size class, one bit per segment says where pages of that class may be: a hint. A searcher drops a
//   segment's bit after finding nothing there, then looks again.

import type { HeapContext } from './context.js';
import { Layout as L } from './layout.js';
import { clearRecord, nameHandover } from './inflight.js';

/** The slice number (over the whole heap) of page head `dw`: its bit's place in the abandoned bitmap. */
function sliceNumber(ctx: HeapContext, dw: number): number {
  return ctx.segmentOfWord(dw) * L.SLICES_PER_SEGMENT + ctx.sliceOfDescriptor(dw);
}

/** The word of the abandoned bitmap that holds page head `dw`'s bit. */
function bitWordOf(ctx: HeapContext, dw: number): number {
  return ctx.abandonedW + (sliceNumber(ctx, dw) >>> 5);
}

/** Page head `dw`'s bit in its abandoned-bitmap word (two functions, not a pair: a pair may be allocated). */
function bitOf(ctx: HeapContext, dw: number): number {
  return 1 << (sliceNumber(ctx, dw) & 31);
}

function summaryWord(ctx: HeapContext, bin: number, index: number): number {
  return ctx.abandonedSummaryW + bin * ctx.summaryWords + (index >>> 5);
}

/**
 * Give up page `dw` (owned by the caller, on no list) for adoption: a page with live blocks, or an empty one
 * its owner offers to every thread (kept.ts). Its owner becomes ABANDONED, then its bit is set (from then on
 * another thread may take it), then its class's summary bit (after the bit: a searcher that found nothing in
 * the segment a moment earlier may have dropped it). Named in T_HANDOVER meanwhile: a thread stopped between
 * the owner and the bit leaves a page nobody can take, which reclaim() republishes.
 */
export function abandonPage(ctx: HeapContext, threadW: number, dw: number): void {
  nameHandover(ctx.mem, threadW, dw);
  ctx.mem.store(dw + L.P_OWNER, L.ABANDONED);
  publishAbandoned(ctx, dw);
  clearRecord(ctx.mem, threadW, L.T_HANDOVER);
}

/** Set the bit and the class summary bit of page `dw`, whose owner is ABANDONED already. */
export function publishAbandoned(ctx: HeapContext, dw: number): void {
  ctx.mem.or(bitWordOf(ctx, dw), bitOf(ctx, dw));
  markClassSummary(ctx, dw);
}

/** Whether page `dw`'s abandoned bit is set. */
export function isPublished(ctx: HeapContext, dw: number): boolean {
  return (Atomics.load(ctx.mem.m, bitWordOf(ctx, dw)) & bitOf(ctx, dw)) !== 0;
}

/** Set the summary bit of abandoned page `dw`'s class and segment (a hint: setting it needlessly is harmless). */
export function markClassSummary(ctx: HeapContext, dw: number): void {
  const index = ctx.segmentOfWord(dw);
  ctx.mem.or(summaryWord(ctx, ctx.mem.m[dw + L.P_BIN], index), 1 << (index & 31));
}

/**
 * Take page `dw` if it is still abandoned: clear its bit with a CAS of the bitmap word (the thread that
 * clears it owns the page), then store `ownerTag` as its owner. Reads nothing of the page before the CAS
 * succeeds, and writes nothing to it unless it does. Returns whether this thread took it.
 */
function take(ctx: HeapContext, threadW: number, dw: number, ownerTag: number): boolean {
  const m = ctx.mem.m;
  const word = bitWordOf(ctx, dw);
  const bit = bitOf(ctx, dw);
  nameHandover(ctx.mem, threadW, dw);
  let v = m[word]; // (a plain read: the CAS checks it, and hands over what it found when it fails)
  for (;;) {
    if ((v & bit) === 0) {
      clearRecord(ctx.mem, threadW, L.T_HANDOVER);
      return false;
    }
    const seen = ctx.mem.compareExchange(word, v, v & ~bit);
    if (seen === v) break;
    v = seen;
  }
  ctx.mem.store(dw + L.P_OWNER, ownerTag);
  clearRecord(ctx.mem, threadW, L.T_HANDOVER);
  return true;
}

/**
 * Take back page `dw`, which this thread offered (kept.ts, OfferedPages), if its slice's abandoned bit is still
 * set: the bit is read plainly first, so that an entry gone stale costs no record; then as take. Whatever
 * page heads the slice now is the caller's then (another thread may have adopted the page meanwhile, given
 * it back to the pool, and a page of another class may have been abandoned there since).
 */
export function retake(ctx: HeapContext, threadW: number, dw: number, ownerTag: number): boolean {
  if ((ctx.mem.m[bitWordOf(ctx, dw)] & bitOf(ctx, dw)) === 0) return false;
  return take(ctx, threadW, dw, ownerTag);
}

/**
 * Adopt an abandoned page of class `bin`: its owner becomes `ownerTag`. Looks at segments the class's
 * summary names, starting at `hint`, dropping the summary bit of a segment found to hold none (then looking
 * again, in case one was abandoned meanwhile). Returns the page, or 0 when there is none.
 */
export function adoptAbandoned(ctx: HeapContext, threadW: number, bin: number, ownerTag: number, hint: number): number {
  // The search reads plainly (V8 makes each Atomics call a builtin call of about 130 instructions, and a
  // class's slow path comes here every time it needs a page): a stale word only skips a page or names a
  // candidate, which take's CAS checks. Dropping a summary bit is the exception: see below.
  const top = ctx.topPlain();
  const m = ctx.mem.m;
  const words = Math.ceil(top / 32);
  for (let k = 0; k < words; k++) {
    const wi = (hint + k) % words;
    const sw = ctx.abandonedSummaryW + bin * ctx.summaryWords + wi;
    for (let bits = m[sw]; bits !== 0; bits &= bits - 1) {
      const b = 31 - Math.clz32(bits & -bits);
      const index = wi * 32 + b;
      if (index >= top) break;
      const dw = findInSegment(ctx, index, bin, false);
      if (dw !== 0 && take(ctx, threadW, dw, ownerTag)) return dw;
      if (dw === 0) {
        // Drop the bit, then look again with atomic reads: a page abandoned meanwhile set its bitmap bit
        // before the summary bit, so one of the two sides sees the other.
        Atomics.and(m, sw, ~(1 << b));
        if (findInSegment(ctx, index, bin, true) !== 0) Atomics.or(m, sw, 1 << b);
      }
    }
  }
  return 0;
}

/** An abandoned page of class `bin` in segment `index`, or 0; with `atomic`, read with atomic loads. */
function findInSegment(ctx: HeapContext, index: number, bin: number, atomic: boolean): number {
  const m = ctx.mem.m;
  const first = index * L.SLICES_PER_SEGMENT;
  const word = ctx.abandonedW + (first >>> 5);
  const bits = ((atomic ? Atomics.load(m, word) : m[word]) >>> (first & 31)) & L.ALL_SLICES;
  for (let b = bits; b !== 0; b &= b - 1) {
    const dw = ctx.descriptorW(index, 31 - Math.clz32(b & -b));
    if (m[dw + L.P_KIND] !== L.KIND_SMALL || m[dw + L.P_BIN] !== bin) continue;
    if ((atomic ? Atomics.load(m, dw + L.P_OWNER) : m[dw + L.P_OWNER]) === L.ABANDONED) return dw;
  }
  return 0;
}

/**
 * Take up to `budget` abandoned pages of any class, from where the last call stopped (`cursor`, a slice
 * number), passing each to `visit` (which must give it back with abandonPage, or release it). Returns the
 * next cursor.
 */
export function takeAbandoned(ctx: HeapContext, threadW: number, ownerTag: number, cursor: number, budget: number, visit: (dw: number) => void): number {
  const slices = ctx.top() * L.SLICES_PER_SEGMENT;
  const m = ctx.mem.m;
  const words = Math.ceil(slices / 32);
  let wi = Math.floor(cursor / 32) % Math.max(words, 1);
  for (let k = 0; k < words && budget > 0; k++, wi = (wi + 1) % words) {
    for (let bits = Atomics.load(m, ctx.abandonedW + wi); bits !== 0 && budget > 0; bits &= bits - 1) {
      const slice = wi * 32 + 31 - Math.clz32(bits & -bits);
      const dw = ctx.descriptorW(Math.floor(slice / L.SLICES_PER_SEGMENT), slice % L.SLICES_PER_SEGMENT);
      budget--;
      if (take(ctx, threadW, dw, ownerTag)) visit(dw);
    }
  }
  return wi * 32;
}

/** Abandoned page heads, per class (a snapshot; racy while threads adopt or abandon). */
export function abandonedPages(ctx: HeapContext): number[] {
  const slices = ctx.top() * L.SLICES_PER_SEGMENT;
  const m = ctx.mem.m;
  const out: number[] = [];
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

