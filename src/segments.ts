// Segments and the shared slice pool: claiming spans of free 64 KiB slices for pages and large blocks, runs
// of whole segments for huge blocks, new segments from the memory's unclaimed end, and giving them back.
//
// Shared by every thread and lock-free: a segment's free slices are one word of the segment table (free
// bits | used-before bits << 16), claimed with one compare-and-swap and released with one atomic OR. A
// thread that dies between two steps leaks at most the span it was claiming; nothing else is in flux.
// The word's values are written as the signed integers the Int32Array reads back (slice 15's used-before bit
// is the sign bit): made unsigned with `>>> 0`, a value above 2^31 was a heap number that V8 allocated at
// each Atomics call taking it.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { clearRecord, nameClaimedSegments, nameClaimedSpan, nameRelease } from './inflight.js';
import { alignUp } from './sizeclass.js';

/** Set by the last successful claim: whether any slice of the span had been used before (else it reads zero). */
export let lastClaimDirty = false;

/**
 * Slices needed when a span for a block of `size` bytes aligned to `align` starts at slice `i` of the
 * segment at `seg`. `pageSlices > 0` asks for a page: exactly that many slices, anywhere.
 */
function slicesNeeded(ctx: HeapContext, seg: number, i: number, pageSlices: number, size: number, align: number): number {
  if (pageSlices > 0) return pageSlices;
  return largeSpanSlices(seg, i, largeBlockStart(ctx, seg, i, align), size);
}

/**
 * Where a large block aligned to `align` starts in a span from slice `first` of the segment at `seg`: the
 * span's start, or in slice 0 the end of the segment header, rounded up to the alignment.
 */
export function largeBlockStart(ctx: HeapContext, seg: number, first: number, align: number): number {
  const start = seg + first * L.SLICE_SIZE;
  // Up to 64 KiB of alignment a slice meets it (segments start 64 KiB-aligned), and the header's end rounds
  // up in integers; alignUp divides doubles (addresses reach 2^32).
  if (align <= L.SLICE_SIZE) return first === 0 ? start + ((ctx.segmentHeader + align - 1) & -align) : start;
  return alignUp(first === 0 ? start + ctx.segmentHeader : start, align);
}

/** Slices a large block of `size` bytes starting at `block` takes in a span from slice `first` of the segment at `seg`. */
export function largeSpanSlices(seg: number, first: number, block: number, size: number): number {
  const bytes = block + size - (seg + first * L.SLICE_SIZE);
  // A shift while the sum stays below 2^32 (realloc asks here for any size), not a division of doubles.
  return bytes <= 0xffff_0000 ? (bytes + L.SLICE_SIZE - 1) >>> L.SLICE_SHIFT : Math.ceil(bytes / L.SLICE_SIZE);
}

/**
 * Try to claim a span in segment `index`; returns its first slice, or -1. The candidate is named in the
 * claiming thread's record (`threadW`) before the CAS, and stays named until the caller has made a page or a
 * block of it.
 */
function claimInSegment(
  ctx: HeapContext,
  threadW: number,
  index: number,
  pageSlices: number,
  size: number,
  align: number,
): number {
  const m = ctx.mem.m;
  const w = ctx.segTableW + index * L.S_WORDS;
  if ((Atomics.load(m, w + L.S_KIND) & 0xff) !== L.SEG_NORMAL) return -1;
  const slices = ctx.segmentSlices(index);
  const seg = ctx.segmentAddress(index);
  for (;;) {
    const v = Atomics.load(m, w + L.S_SLICES);
    const free = v & L.ALL_SLICES;
    if (free === 0) return -1;
    let first = -1;
    let run = 0;
    let n = 0;
    for (let i = 0; i < slices; i++) {
      if ((free & (1 << i)) === 0) continue;
      n = slicesNeeded(ctx, seg, i, pageSlices, size, align);
      if (i + n > slices) break;
      const mask = ((1 << n) - 1) << i;
      if ((free & mask) === mask) {
        first = i;
        run = mask;
        break;
      }
    }
    if (first < 0) return -1;
    const claimed = (v & ~run) | (run << L.DIRTY_SHIFT);
    nameClaimedSpan(ctx.mem, threadW, index, first, n);
    if (Atomics.compareExchange(m, w + L.S_SLICES, v, claimed) === v) {
      lastClaimDirty = ((v >>> L.DIRTY_SHIFT) & run) !== 0;
      return first;
    }
  }
}

/**
 * Claim slices [first, first + n) of normal segment `index` if they are all free: a span growing in place.
 * Named in the thread's record (T_CLAIM_SPAN) before the CAS, as every claim is, and left named for the
 * caller to clear once the span's descriptors cover them. Returns whether it claimed them.
 */
export function claimSlicesAt(ctx: HeapContext, threadW: number, index: number, first: number, n: number): boolean {
  const m = ctx.mem.m;
  const w = ctx.segTableW + index * L.S_WORDS + L.S_SLICES;
  const run = ((1 << n) - 1) << first;
  let v = Atomics.load(m, w);
  if ((v & run) !== run) return false;
  nameClaimedSpan(ctx.mem, threadW, index, first, n);
  for (;;) {
    const seen = Atomics.compareExchange(m, w, v, (v & ~run) | (run << L.DIRTY_SHIFT));
    if (seen === v) return true;
    v = seen;
    if ((v & run) !== run) {
      clearRecord(ctx.mem, threadW, L.T_CLAIM_SPAN);
      return false;
    }
  }
}

/** Mark segment `index` as possibly having free slices. */
function markHasFree(ctx: HeapContext, index: number): void {
  Atomics.or(ctx.mem.m, ctx.summaryW + (index >>> 5), 1 << (index & 31));
}

/**
 * Claim a span: for a page of `pageSlices` slices, or (pageSlices = 0) for one block of `size` bytes aligned
 * to `align`. Tries segment `hint` first (locality), then the segments the summary says have free slices,
 * lowest first, those entirely free last, then (if `grow`) a new segment. Returns the span's segment index *
 * 16 + first slice, or -1 when none is free.
 *
 * Lowest first, and a free segment only when no segment in use has room: pages and large blocks gather in
 * the low segments, so that the free ones stay whole, and together, for huge blocks, which need runs of
 * them. (Each search used to start where the last one had found room, and to take any segment: pages spread
 * over all of them, and huge blocks, finding no run of free segments, grew the memory. npm start's 4 workers
 * peaked at 537-569 MiB then, 419-433 now, eight runs each, with 212-228 MiB live.)
 */
export function claimSpan(
  ctx: HeapContext,
  threadW: number,
  hint: number,
  pageSlices: number,
  size: number,
  align: number,
  grow: boolean,
): number {
  const top = ctx.top();
  if (hint > 0 && hint < top) {
    const first = claimInSegment(ctx, threadW, hint, pageSlices, size, align);
    if (first >= 0) return hint * L.SLICES_PER_SEGMENT + first;
  }
  // The fewest slices the span can take: segments without a free run that long are passed over unvisited.
  const least = pageSlices > 0 ? pageSlices : Math.max(1, Math.ceil(size / L.SLICE_SIZE));
  let span = searchPool(ctx, threadW, top, pageSlices, size, align, least, false);
  if (span < 0) span = searchPool(ctx, threadW, top, pageSlices, size, align, least, true);
  if (span >= 0) return span;
  if (!grow) return -1;
  // A new segment from the memory's unclaimed end, for normal use: recorded as such, so that reclaim only
  // publishes it if this thread died before doing so.
  const index = claimTop(ctx, threadW, 1);
  if (index < 0) return -1;
  const n = slicesNeeded(ctx, ctx.segmentAddress(index), 0, pageSlices, size, align);
  if (n > ctx.segmentSlices(index)) {
    // Does not fit even a fresh segment (a short last one): give it to the pool as it is.
    publishNormalSegment(ctx, index, 0);
    clearRecord(ctx.mem, threadW, L.T_CLAIM_SEGMENTS);
    return -1;
  }
  nameClaimedSpan(ctx.mem, threadW, index, 0, n);
  lastClaimDirty = publishNormalSegment(ctx, index, (1 << n) - 1);
  clearRecord(ctx.mem, threadW, L.T_CLAIM_SEGMENTS);
  return index * L.SLICES_PER_SEGMENT;
}

/**
 * One pass of claimSpan's search, over the segments the summary marks, lowest first: those in use (`whole`
 * false) or those entirely free (`whole` true). A segment's free slices are read plainly to pass it over
 * (claimInSegment reads them again atomically), and a segment with none loses its summary bit. Returns the
 * span as claimSpan does, or -1.
 */
function searchPool(
  ctx: HeapContext,
  threadW: number,
  top: number,
  pageSlices: number,
  size: number,
  align: number,
  least: number,
  whole: boolean,
): number {
  const m = ctx.mem.m;
  const words = Math.ceil(top / 32);
  for (let wi = 0; wi < words; wi++) {
    let bits = Atomics.load(m, ctx.summaryW + wi);
    while (bits !== 0) {
      const b = 31 - Math.clz32(bits & -bits);
      bits &= bits - 1;
      const index = wi * 32 + b;
      if (index >= top) break;
      const sw = ctx.segTableW + index * L.S_WORDS + L.S_SLICES;
      const free = m[sw] & L.ALL_SLICES;
      if (free === 0) {
        // Full: drop its summary bit, then look again in case a release raced with us. Straight-line code (no
        // call, no loop edge between), so a thread stopped here cannot leave free slices unmarked.
        Atomics.and(m, ctx.summaryW + wi, ~(1 << b));
        if ((Atomics.load(m, sw) & L.ALL_SLICES) !== 0) Atomics.or(m, ctx.summaryW + wi, 1 << b);
        continue;
      }
      if ((free === (1 << ctx.segmentSlices(index)) - 1) !== whole || !hasRun(free, least)) continue;
      const first = claimInSegment(ctx, threadW, index, pageSlices, size, align);
      if (first >= 0) return index * L.SLICES_PER_SEGMENT + first;
    }
  }
  return -1;
}

/** Whether the free-slice bits `free` hold a run of `n` free slices. */
function hasRun(free: number, n: number): boolean {
  // After each step, bit i is set when slices i to i + len - 1 are all free.
  for (let len = 1; len < n && free !== 0; ) {
    const step = len < n - len ? len : n - len;
    free &= free >>> step;
    len += step;
  }
  return free !== 0;
}

/**
 * Claim `k` consecutive segments from the unclaimed end, growing the memory first; they are named in the
 * thread's record before the CAS and stay named until the caller publishes them. Returns the first index, or
 * -1 when the limit or the engine says no. Growing before claiming means a failure leaves nothing to undo.
 */
function claimTop(ctx: HeapContext, threadW: number, k: number): number {
  for (;;) {
    const t = ctx.top();
    nameClaimedSegments(ctx.mem, threadW, t, k);
    const grown = growTop(ctx, t, k);
    if (grown === 0) return t;
    if (grown < 0) {
      clearRecord(ctx.mem, threadW, L.T_CLAIM_SEGMENTS);
      return -1;
    }
  }
}

/**
 * Turn a just-claimed (or just-released huge) segment into a normal one: descriptors cleared, kind NORMAL, and
 * its slices published free except `taken`. Returns whether the taken slices may hold old data.
 */
export function publishNormalSegment(ctx: HeapContext, index: number, taken: number): boolean {
  const mem = ctx.mem;
  const seg = ctx.segmentAddress(index);
  const slices = ctx.segmentSlices(index);
  const freshFrom = mem.m[ctx.headerW + L.H_FRESH_FROM];
  let dirty = 0;
  for (let s = 0; s < slices; s++) if (seg + s * L.SLICE_SIZE < freshFrom) dirty |= 1 << s;
  if (dirty !== 0) clearDescriptors(ctx, index);
  const w = ctx.segTableW + index * L.S_WORDS;
  const all = (1 << slices) - 1;
  // Slices, summary, then the kind: searchers skip a segment until its kind says NORMAL, and never drop the
  // summary bit of a segment whose slices are free.
  Atomics.store(mem.m, w + L.S_SLICES, (all & ~taken) | ((dirty | taken) << L.DIRTY_SHIFT));
  if ((all & ~taken) !== 0) markHasFree(ctx, index);
  Atomics.store(mem.m, w + L.S_KIND, L.SEG_NORMAL);
  return (dirty & taken) !== 0;
}

/**
 * Give slices [first, first + n) of segment `index` back to the pool (their descriptors are FREE already),
 * then clear the acting thread's release record.
 */
export function releaseSlices(ctx: HeapContext, threadW: number, index: number, first: number, n: number): void {
  const m = ctx.mem.m;
  Atomics.or(m, ctx.segTableW + index * L.S_WORDS + L.S_SLICES, ((1 << n) - 1) << first);
  Atomics.or(m, ctx.summaryW + (index >>> 5), 1 << (index & 31));
  clearRecord(ctx.mem, threadW, L.T_RELEASE_AT);
}

/**
 * Claim `k` consecutive whole segments for a huge block: a run of entirely free normal segments if one
 * exists, else (with `grow`) new ones from the unclaimed end, joined to the free segments that end at the
 * top if there are any (so that a heap whose last segments are free grows by what is missing only, and a
 * block as large as the memory's free end still fits at its limit). hugeBlockOffset gives the block's
 * offset from the first segment (alignment may shift it). Returns the first index or -1; the segments
 * stay named in T_CLAIM_SEGMENTS until the caller publishes the block. Sets lastClaimDirty.
 */
export function claimHugeSegments(ctx: HeapContext, threadW: number, size: number, align: number, grow: boolean): number {
  const top = ctx.top();
  for (let first = 1; first < top; first++) {
    const k = hugeSegmentsNeeded(ctx, first, size, align);
    if (first + k > top) break;
    if (ctx.segmentAddress(first) + hugeBlockOffset(ctx, first, align) + size > ctx.heapLimit) break;
    nameClaimedSegments(ctx.mem, threadW, first, k);
    const got = claimFreeSegments(ctx, first, k);
    if (got >= 0) {
      lastClaimDirty = got === 1;
      return first;
    }
    clearRecord(ctx.mem, threadW, L.T_CLAIM_SEGMENTS);
    first -= got + 1; // on past the segment that is not free
  }
  if (!grow) return -1;
  // The run starts at `floor` or above: a segment that could not be claimed (taken meanwhile, or guarded:
  // see claimFreeSegments) stays out of it, so that the loop cannot retry it forever.
  let floor = 1;
  for (;;) {
    const t = ctx.top();
    let first = t;
    while (first > floor && isFreeSegment(ctx, first - 1)) first--;
    // Starting lower never ends the block higher, so if it does not fit from here it fits nowhere.
    const k = hugeSegmentsNeeded(ctx, first, size, align);
    if (first + k > ctx.maxSegments) return -1;
    if (ctx.segmentAddress(first) + hugeBlockOffset(ctx, first, align) + size > ctx.heapLimit) return -1;
    nameClaimedSegments(ctx.mem, threadW, first, k);
    const below = Math.min(t, first + k) - first; // free segments of the run below the top
    const got = claimFreeSegments(ctx, first, below);
    if (got < 0) {
      clearRecord(ctx.mem, threadW, L.T_CLAIM_SEGMENTS); // taken meanwhile, or guarded: look again above it
      floor = first - got;
      continue;
    }
    if (first + k <= t) {
      lastClaimDirty = got === 1; // freed meanwhile: the run lies below the top after all
      return first;
    }
    const grown = growTop(ctx, t, first + k - t);
    if (grown !== 0) {
      unclaimFreeSegments(ctx, first, below);
      clearRecord(ctx.mem, threadW, L.T_CLAIM_SEGMENTS);
      if (grown < 0) return -1;
      continue; // another thread moved the top: the run would not be contiguous
    }
    const m = ctx.mem.m; // the memory grew: a non-shared wasm memory's old buffer is detached now
    // The new segments are fresh memory unless they lie below H_FRESH_FROM.
    const newDirty = ctx.segmentAddress(t) < m[ctx.headerW + L.H_FRESH_FROM];
    for (let j = t; j < first + k; j++) {
      const all = (1 << ctx.segmentSlices(j)) - 1;
      Atomics.store(m, ctx.segTableW + j * L.S_WORDS + L.S_SLICES, all << L.DIRTY_SHIFT);
    }
    if (newDirty && first === t) clearDescriptors(ctx, first); // (a free segment's descriptors are FREE already)
    lastClaimDirty = got === 1 || newDirty;
    return first;
  }
}

/** Whether segment `index` is a normal segment with every slice free (a plain read: claims check again). */
function isFreeSegment(ctx: HeapContext, index: number): boolean {
  const w = ctx.segTableW + index * L.S_WORDS;
  const all = (1 << ctx.segmentSlices(index)) - 1;
  return (ctx.mem.m[w + L.S_KIND] & 0xff) === L.SEG_NORMAL && (ctx.mem.m[w + L.S_SLICES] & L.ALL_SLICES) === all;
}

/**
 * Take the `n` entirely free normal segments from `first` for a huge block: one CAS each (all slices from
 * free to taken and used-before), then the kind SEG_UNCLAIMED, as a segment claimed from the top reads
 * until the block is published. The caller has named them. Returns 1 if any slice had been used before, 0
 * if none had; -1 - j (all given back) when segment first + j was not free or is guarded.
 *
 * Guarded: a huge block's later segments hold user data where their headers were, so a thread that is
 * about to write a segment's header after finding it normal (a large block's free, a checked free: see
 * guardedSegment) must not see it turn into a block under it. Each side stores, then loads the other's
 * word (Dekker): the writer its record, then the segment's kind; this claim the kind, then the records.
 * Sequential consistency lets at most one of them miss the other: the writer sees the kind change and
 * stops, or this claim sees the record and gives the segment back.
 */
function claimFreeSegments(ctx: HeapContext, first: number, n: number): number {
  const m = ctx.mem.m;
  let dirty = 0;
  for (let j = 0; j < n; j++) {
    const w = ctx.segTableW + (first + j) * L.S_WORDS;
    const all = (1 << ctx.segmentSlices(first + j)) - 1;
    const v = Atomics.load(m, w + L.S_SLICES);
    const nv = (v & ~all) | (all << L.DIRTY_SHIFT);
    if ((Atomics.load(m, w + L.S_KIND) & 0xff) !== L.SEG_NORMAL || (v & L.ALL_SLICES) !== all || Atomics.compareExchange(m, w + L.S_SLICES, v, nv) !== v) {
      unclaimFreeSegments(ctx, first, j);
      return -1 - j;
    }
    Atomics.store(m, w + L.S_KIND, L.SEG_UNCLAIMED);
    if (v >>> L.DIRTY_SHIFT) dirty = 1;
  }
  const g = guardedSegment(ctx, first, n);
  if (g >= 0) {
    unclaimFreeSegments(ctx, first, n);
    return -1 - (g - first);
  }
  return dirty;
}

/** The in-flight records that name a block whose segment header their thread is about to write. */
const GUARD_RECORDS = [L.T_RELEASING, L.T_BLOCK];

/**
 * The first segment of [first, first + n) whose header a live thread may be about to write (its large
 * free, T_RELEASING, or its checked free, T_BLOCK, lies there), or -1. See claimFreeSegments.
 */
function guardedSegment(ctx: HeapContext, first: number, n: number): number {
  const m = ctx.mem.m;
  let found = -1;
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    const tw = ctx.threadW(slot);
    if ((Atomics.load(m, tw + L.T_STATE) & 3) === L.TS_FREE) continue;
    for (const record of GUARD_RECORDS) {
      const w = Atomics.load(m, tw + record);
      if (w === 0) continue;
      const index = ctx.segmentOfWord(w);
      if (index >= first && index < first + n && (found < 0 || index < found)) found = index;
    }
  }
  return found;
}

/** Give back segments [first, first + n) that claimFreeSegments took (still named by the caller). */
function unclaimFreeSegments(ctx: HeapContext, first: number, n: number): void {
  const m = ctx.mem.m;
  for (let j = n - 1; j >= 0; j--) {
    const idx = first + j;
    Atomics.or(m, ctx.segTableW + idx * L.S_WORDS + L.S_SLICES, (1 << ctx.segmentSlices(idx)) - 1);
    Atomics.or(m, ctx.summaryW + (idx >>> 5), 1 << (idx & 31)); // a searcher may have dropped it meanwhile
    Atomics.store(m, ctx.segTableW + idx * L.S_WORDS + L.S_KIND, L.SEG_NORMAL);
  }
}

/**
 * Move the unclaimed end from segment `t` to `t + n`, growing the memory first (so that a refusal leaves
 * nothing to undo). The caller has named the segments. Returns 0, -1 when the limit or the engine says no,
 * or 1 when the top is no longer `t`.
 */
function growTop(ctx: HeapContext, t: number, n: number): number {
  if (t + n > ctx.maxSegments) return -1;
  if (!ctx.mem.ensure(Math.min(ctx.base + (t + n) * L.SEGMENT_SIZE, ctx.heapLimit))) return -1;
  return Atomics.compareExchange(ctx.mem.m, ctx.headerW + L.H_TOP, t, t + n) === t ? 0 : 1;
}

/**
 * Reuse the segments of a freed huge block (SEG_HUGE_CACHED runs, see freeHugeRun): the smallest run that fits
 * a block of `size` bytes aligned to `align`, else the first run that fits joined with the cached runs that
 * follow it. Claimed with a CAS on each run's segment-table word (never on a word inside the memory: a run's
 * headers may hold a block's data): the first run's from CACHED to SETUP, naming thread slot `slot` in the
 * word, then each neighbour's from CACHED to TAIL. The segments the block does not need stay cached, as a
 * run of their own. Returns the first segment, or -1. The head reads SEG_HUGE_SETUP until the caller
 * publishes the block (SEG_HUGE). Sets lastClaimDirty.
 *
 * Atomics are most of what a huge block costs (V8 makes each a builtin call of about 130 instructions, and
 * the locked instruction takes 6 to 25 ns on the machines measured), so the claim takes one, and one per
 * neighbour joined; with the caller's publish and the free's CAS, a run that fits alone costs three. No
 * in-flight record is needed: the SETUP word names its thread, and it covers every tail after it up to the
 * first segment that is not a tail, so the neighbours joined are covered from their CAS on, and the rest of
 * a split from the head it is given. A thread stopped anywhere leaves a SETUP head with its slot, which
 * reclaim releases with those tails (the rest of a split, once it has a head, stays cached).
 */
export function claimCachedHuge(ctx: HeapContext, slot: number, size: number, align: number): number {
  for (;;) {
    const top = ctx.topPlain(); // (a plain read, as below: a run it misses is only not reused this time)
    const m = ctx.mem.m;
    let best = -1; // the smallest run that fits alone, and its table word
    let bestWord = 0;
    let chain = -1; // else the first runs that fit together: where they start, and the first's word
    let chainWord = 0;
    let runs = -1; // the neighbouring cached runs that end here: where they start, the first's word, their segments
    let runsWord = 0;
    let runsK = 0;
    // Segments a block needs from any segment (its offset is the same in all of them up to 64 KiB of
    // alignment), or 0: then cachedRunFits works it out per candidate.
    const needed = align <= L.SLICE_SIZE ? hugeSegmentsNeeded(ctx, 1, size, align) : 0;
    // Plain reads: a stale word only makes the scan skip or pick a candidate, which the CAS then checks.
    for (let i = 1; i < top; ) {
      const word = m[ctx.segTableW + i * L.S_WORDS + L.S_KIND];
      const k = runCount(word);
      if ((word & 0xff) === L.SEG_HUGE_CACHED && k >= 1) {
        if ((best < 0 || k < runCount(bestWord)) && cachedRunFits(ctx, i, k, size, align, needed)) {
          best = i;
          bestWord = word;
        }
        if (runs >= 0 && runs + runsK === i) runsK += k;
        else {
          runs = i;
          runsWord = word;
          runsK = k;
        }
        if (chain < 0 && runsK > k && cachedRunFits(ctx, runs, runsK, size, align, needed)) {
          chain = runs;
          chainWord = runsWord;
        }
      }
      i += segmentsSpanned(word);
    }
    const first = best >= 0 ? best : chain;
    if (first < 0) return -1;
    const firstWord = best >= 0 ? bestWord : chainWord;
    const headW = ctx.segTableW + first * L.S_WORDS + L.S_KIND;
    let have = runCount(firstWord);
    if (Atomics.compareExchange(m, headW, firstWord, setupWord(slot, have)) !== firstWord) continue; // taken meanwhile: look again
    // Ours. Its head descriptor still names the block freed here, but no free can take the run now: a
    // huge free swaps SEG_HUGE, and the word reads SEG_HUGE_SETUP until the new block is published.
    const need = hugeSegmentsNeeded(ctx, first, size, align);
    while (have < need) {
      // Join the neighbour: its head becomes a tail (its own tails stay as they are), covered by our head.
      if (first + have >= top) break;
      const nextW = ctx.segTableW + (first + have) * L.S_WORDS + L.S_KIND;
      const next = m[nextW];
      const k = runCount(next);
      if ((next & 0xff) !== L.SEG_HUGE_CACHED || k < 1) break;
      if (Atomics.compareExchange(m, nextW, next, L.SEG_HUGE_TAIL) !== next) break;
      have += k;
    }
    if (have < need) {
      // A neighbour was taken meanwhile: what was joined goes back as one run, and the scan looks again.
      Atomics.store(m, headW, cachedWord(have));
      continue;
    }
    if (need < have) {
      // The rest becomes a cached run of its own: a split rewrites one word whatever the run's length (tails
      // name no head: see hugeHeadOf). Its head's descriptor is old block data: made to name no live block
      // first (locateHuge reads the descriptor of a cached head to tell a double free). Plain stores: the
      // caller's publish (an atomic store, after them) makes them visible to whoever reads it.
      const rest = first + need;
      const dw = ctx.descriptorW(rest, 0);
      m[dw + L.P_KIND] = L.KIND_FREE;
      m[dw + L.P_OWNER] = 0;
      m[ctx.segTableW + rest * L.S_WORDS + L.S_KIND] = cachedWord(have - need);
    }
    lastClaimDirty = true;
    return first;
  }
}

/** A head's argument (a huge block's or a run's segments) from its segment-table word. */
export function runCount(word: number): number {
  return (word >>> L.S_COUNT_SHIFT) & L.S_COUNT_MASK;
}

/** Segments a scan of the table steps over at a segment whose word is `word`: a whole huge block or run, else 1. */
function segmentsSpanned(word: number): number {
  const k = runCount(word);
  return isHugeHead(word & 0xff) && k >= 1 ? k : 1;
}

/** The thread slot a SEG_HUGE_SETUP or SEG_HUGE_HELD word names. */
export function runSlot(word: number): number {
  return word >>> L.S_SLOT_SHIFT;
}

/** The word of a run of `k` segments claimed by thread slot `slot`. */
function setupWord(slot: number, k: number): number {
  return L.SEG_HUGE_SETUP | (k << L.S_COUNT_SHIFT) | (slot << L.S_SLOT_SHIFT);
}

/** The word of a run of `k` segments held by thread slot `slot` (see held.ts). */
export function heldWord(slot: number, k: number): number {
  return L.SEG_HUGE_HELD | (k << L.S_COUNT_SHIFT) | (slot << L.S_SLOT_SHIFT);
}

/** Whether segment kind `kind` (SEG_*) heads a huge run: a live block, a cached run, a claimed or a held one. */
export function isHugeHead(kind: number): boolean {
  return kind === L.SEG_HUGE || kind === L.SEG_HUGE_CACHED || kind === L.SEG_HUGE_SETUP || kind === L.SEG_HUGE_HELD;
}

/**
 * The head of the huge run that segment `index` (a SEG_HUGE_TAIL) belongs to, or -1 when no run covers it (a
 * tail left by a thread that died while joining or releasing a run, or a run changing under the call). A
 * tail does not say where its head is, so that a split or a join rewrites one table word whatever the runs'
 * lengths: the head is the nearest segment before it that is not a tail. A scan back, on rare paths only
 * (a pointer into a huge block's later segments: an aligned block's start, or a bad pointer; reclaim, for
 * a tail its pass has not seen covered), over atomic reads: a run that changes meanwhile gives -1 or a head
 * whose CAS then fails.
 */
export function hugeHeadOf(ctx: HeapContext, index: number): number {
  const m = ctx.mem.m;
  let first = index;
  while (first > 0 && (Atomics.load(m, ctx.segTableW + first * L.S_WORDS + L.S_KIND) & 0xff) === L.SEG_HUGE_TAIL) first--;
  const word = Atomics.load(m, ctx.segTableW + first * L.S_WORDS + L.S_KIND);
  return first < index && hugeRunEnd(word, first, 0) > index ? first : -1;
}

/**
 * hugeHeadOf for a pass over the table in index order, one segment at a time: given the table word at
 * `index` and where the run covering the segment before it ends (`runEnd`; 0 for none), where the run
 * covering this segment and the tails after it ends. A tail at `index` is covered when `index < runEnd`.
 */
export function hugeRunEnd(word: number, index: number, runEnd: number): number {
  const kind = word & 0xff;
  if (kind === L.SEG_HUGE_SETUP || kind === L.SEG_HUGE_HELD) return L.MAX_SEGMENTS; // up to the first segment that is not a tail
  if (isHugeHead(kind)) return index + runCount(word);
  return kind === L.SEG_HUGE_TAIL ? runEnd : 0;
}

/** 1 / SEGMENT_SIZE, exact (a power of two): x * PER_SEGMENT is x / SEGMENT_SIZE without a division of doubles. */
const enum Reciprocal {
  PER_SEGMENT = 1 / L.SEGMENT_SIZE,
}

/**
 * Whether a cached run of `k` segments from `first` holds a block of `size` bytes aligned to `align`; `needed`
 * is the segments the block needs from any segment when that does not depend on where it starts, else 0.
 */
function cachedRunFits(ctx: HeapContext, first: number, k: number, size: number, align: number, needed: number): boolean {
  if (needed > k) return false;
  // At the end of the heap: the run ends at its limit, which may cut its last segment short.
  if (first + k < ctx.maxSegments && needed !== 0) return true;
  const offset = hugeBlockOffset(ctx, first, align);
  return Math.ceil((offset + size) * Reciprocal.PER_SEGMENT) <= k && ctx.segmentAddress(first) + offset + size <= ctx.heapLimit;
}

/**
 * Free the live huge block of `k` segments from `first`: one CAS of its segment-table word from SEG_HUGE to
 * `freed`, which keeps the segments whole for the next huge block, where releasing them would rewrite every
 * segment's descriptors: SEG_HUGE_CACHED for any thread's (claimCachedHuge), or for the freeing thread's
 * own (held.ts) a SEG_HUGE_HELD word, or a tail of the held run that ends where this one starts. This CAS
 * is the whole free: there is no intermediate state for reclaim to finish, and a free that lost a race (the
 * block freed by another thread, its segments reused, the word now a tail of a larger block whose data lies
 * where its descriptor was) fails on the table, which never holds user data, having written nothing.
 * Returns whether this call freed it. Cached runs go back to the pool before the memory grows
 * (releaseCachedHuge).
 */
export function freeHugeRun(ctx: HeapContext, first: number, k: number, freed: number): boolean {
  const w = ctx.segTableW + first * L.S_WORDS + L.S_KIND;
  const live = L.SEG_HUGE | (k << L.S_COUNT_SHIFT);
  return ctx.mem.compareExchange(w, live, freed) === live;
}

/** The word of a cached run of `k` segments. */
export function cachedWord(k: number): number {
  return L.SEG_HUGE_CACHED | (k << L.S_COUNT_SHIFT);
}

/**
 * Give every cached huge run back to the pool as normal, entirely free segments (whose neighbours then
 * join them into longer runs). Each is claimed first, like a run about to be reused, so that no two
 * threads release the same one. Returns how many segments went back.
 */
export function releaseCachedHuge(ctx: HeapContext, threadW: number, slot: number): number {
  const top = ctx.top();
  let released = 0;
  for (let i = 1; i < top; ) {
    const m = ctx.mem.m;
    const headW = ctx.segTableW + i * L.S_WORDS + L.S_KIND;
    const word = Atomics.load(m, headW);
    const kind = word & 0xff;
    const k = runCount(word);
    if (kind === L.SEG_HUGE_CACHED && k >= 1 && Atomics.compareExchange(m, headW, word, setupWord(slot, k)) === word) {
      releaseHugeSegments(ctx, threadW, i, k);
      released += k;
    }
    i += segmentsSpanned(word);
  }
  return released;
}

/**
 * Make every slice descriptor of segment `index` read as a free slice, whatever the header held (a huge
 * block's data, say). Only the kind and the owner of a free slice's descriptor are ever read; setting up a
 * span writes all of its descriptors (writeSpan), and a page clears its own live bits.
 */
export function clearDescriptors(ctx: HeapContext, index: number): void {
  const m = ctx.mem.m;
  const first = ctx.descriptorW(index, 0);
  for (let dw = first; dw < first + L.SLICES_PER_SEGMENT * L.DESC_WORDS; dw += L.DESC_WORDS) {
    m[dw + L.P_KIND] = L.KIND_FREE;
    m[dw + L.P_OWNER] = 0;
  }
}

/**
 * Offset of a huge block from its first segment's start (`align` a power of two). Up to 64 KiB the same in
 * every segment (segments start 64 KiB-aligned), in integer arithmetic: the scan for a cached run asks for
 * every candidate, and alignUp's division (of doubles: addresses reach 2^32) was a fifth of a huge malloc.
 */
export function hugeBlockOffset(ctx: HeapContext, index: number, align: number): number {
  if (align <= L.SLICE_SIZE) {
    const a = align > 16 ? align : 16;
    return (ctx.segmentHeader + a - 1) & -a;
  }
  const seg = ctx.segmentAddress(index);
  return alignUp(seg + ctx.segmentHeader, align) - seg;
}

/** Segments a huge block of `size` bytes aligned to `align` needs when it starts in segment `index`. */
export function hugeSegmentsNeeded(ctx: HeapContext, index: number, size: number, align: number): number {
  const end = hugeBlockOffset(ctx, index, align) + size; // where the block ends, from its segment's start
  return end <= 0xfff0_0000 ? (end + L.SEGMENT_SIZE - 1) >>> L.SEGMENT_SHIFT : Math.ceil(end * Reciprocal.PER_SEGMENT);
}

/**
 * Give `k` segments from `first` back as normal, entirely free segments (a huge block's, or segments claimed
 * for one), named in the acting thread's record meanwhile. Last to first, so that the first, which holds
 * the block's descriptor, goes last.
 */
function releaseHugeSegments(ctx: HeapContext, threadW: number, first: number, k: number): void {
  nameRelease(ctx.mem, threadW, first, 0, k, true);
  for (let j = k - 1; j >= 0; j--) releaseSegment(ctx, first + j);
  clearRecord(ctx.mem, threadW, L.T_RELEASE_AT);
}

/** One segment back to the pool: descriptors cleared, slices free, summary, and last the kind that publishes it. */
export function releaseSegment(ctx: HeapContext, index: number): void {
  const m = ctx.mem.m;
  clearDescriptors(ctx, index);
  const w = ctx.segTableW + index * L.S_WORDS;
  const all = (1 << ctx.segmentSlices(index)) - 1;
  Atomics.store(m, w + L.S_SLICES, (all << L.DIRTY_SHIFT) | all);
  Atomics.or(m, ctx.summaryW + (index >>> 5), 1 << (index & 31));
  Atomics.store(m, w + L.S_KIND, L.SEG_NORMAL);
}
