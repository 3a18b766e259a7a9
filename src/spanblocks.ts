// Blocks of their own, above 64 KiB: a large block takes a span of slices in one segment, a huge block whole
// segments. Their malloc, free and locate, realloc's growth in place, and what a thread holds of the freed
// ones for its own next ones: spans of large blocks (heldspans.ts) and runs of huge ones (held.ts). The heap
// of small blocks (heap.ts) sends every request above 64 KiB here, and every pointer that is not in a page.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { doubleFree, invalidPointer } from './errors.js';
import { Heap, detachedError } from './heap.js';
import { HeldRuns } from './held.js';
import { HeldSpans } from './heldspans.js';
import { clearRecord, nameClaimedSpan } from './inflight.js';
import { describeRest, growSpan, joinSpans, releaseSpan, writeSpan } from './pages.js';
import {
  cachedWord,
  claimCachedHuge,
  claimHugeSegments,
  claimSlicesAt,
  freeHugeRun,
  heldWord,
  hugeBlockOffset,
  hugeHeadOf,
  hugeSegmentsNeeded,
  isHugeHead,
  largeBlockStart,
  largeSpanSlices,
  lastClaimDirty,
} from './segments.js';

/** Largest block (plus alignment slack) that a span inside one segment takes; larger ones are huge. */
const LARGE_MAX = L.SEGMENT_SIZE - L.SLICE_SIZE;

export abstract class SpanBlockHeap extends Heap {
  /** Freed huge runs this thread keeps for its next huge block (see held.ts). */
  private readonly held: HeldRuns;
  /** Freed large blocks' spans this thread keeps for its next large block (see heldspans.ts). */
  private readonly heldSpans: HeldSpans;

  constructor(ctx: HeapContext, reservedId?: number) {
    super(ctx, reservedId);
    this.held = new HeldRuns(ctx.maxSegments, this.othersAttached);
    this.heldSpans = new HeldSpans((ctx.heapLimit - ctx.base) / L.SLICE_SIZE, this.othersAttached);
  }

  protected releaseHeldBlocks(): number {
    this.releaseHeld();
    return this.releaseHeldSpans();
  }

  /** A block of its own: a span of slices in one segment (large) or whole segments (huge). */
  protected mallocLarge(size: number, align: number): number {
    if (this.detached) throw detachedError();
    this.renewDetachedViews();
    const ctx = this.ctx;
    if (size > ctx.heapLimit) return 0;
    const slack = align > L.SLICE_SIZE ? align - L.SLICE_SIZE : 0;
    if (size + slack <= LARGE_MAX) {
      if (this.heldSpans.count !== 0) {
        const block = this.takeHeldSpan(size, align);
        if (block !== 0) return block;
      }
      const span = this.claim(0, size, align, -1);
      if (span >= 0) {
        this.syncViews();
        const index = span >>> 4;
        const first = span & 15;
        const block = this.largeBlockIn(index, first, align);
        const slices = largeSpanSlices(ctx.segmentAddress(index), first, block, size);
        writeSpan(this.m, ctx.descriptorW(index, first), L.KIND_LARGE, slices);
        this.publishLarge(index, first, slices, block, !lastClaimDirty);
        clearRecord(this.mem, this.threadW, L.T_CLAIM_SPAN); // complete
        return block;
      }
    }
    return this.mallocHuge(size, align);
  }

  /**
   * A huge block: whole segments. (A method of its own, so that V8 inlines what it calls: inside mallocLarge,
   * writeSpan stayed a call.)
   */
  private mallocHuge(size: number, align: number): number {
    const ctx = this.ctx;
    // A run this thread holds, then a freed huge block's segments, then whole free segments; then, before the
    // memory grows, the cached runs and pages nobody uses go back to the pool (all abandoned pages are looked
    // at: a huge block needs whole free segments).
    // Up to 64 KiB of alignment the block needs as many segments from any segment (hugeBlockOffset): worked
    // out once here, for the held runs and the block (0 above that: then per candidate).
    const need = align <= L.SLICE_SIZE ? hugeSegmentsNeeded(ctx, 0, size, align) : 0;
    let first = need > 0 ? this.takeHeld(size, align, need) : -1;
    const held = first >= 0;
    if (!held) {
      if (this.held.count !== 0) this.releaseHeld(); // none fits: cached, where they may be joined
      first = claimCachedHuge(ctx, this.slot, size, align);
    }
    // A held or cached run's later segments are tails already, and its head names us (HELD or SETUP).
    const cached = first >= 0;
    if (first < 0) first = claimHugeSegments(ctx, this.threadW, size, align, false);
    if (first < 0 && this.releaseUnused(Number.MAX_SAFE_INTEGER, -1) > 0) first = claimHugeSegments(ctx, this.threadW, size, align, false);
    if (first < 0) first = claimHugeSegments(ctx, this.threadW, size, align, true);
    if (first < 0) return 0;
    const k = need > 0 ? need : hugeSegmentsNeeded(ctx, first, size, align);
    // A run the views cover already (a cached one, mostly) needs no renewal, unless the memory replaced its
    // buffer meanwhile (a non-shared wasm memory that grew): renewing reads the buffer's length and the top,
    // 40 ns of a reuse that costs a few hundred.
    if (first + k > (this.heapWords * L.WORD) / L.SEGMENT_SIZE || this.viewsDetached()) this.syncViews();
    const m = this.m;
    const seg = ctx.segmentAddress(first);
    const block = seg + hugeBlockOffset(ctx, first, align);
    const dw = ctx.descriptorW(first, 0);
    // The words a huge block's descriptor has (nothing reads its others: its segment is not a normal one, so
    // no path of small blocks looks at its descriptors).
    m[dw + L.P_KIND] = L.KIND_HUGE;
    m[dw + L.P_SPAN] = k;
    m[dw + L.P_AREA] = block >>> 2;
    m[dw + L.P_BLOCK_SIZE] = Math.min(seg + k * L.SEGMENT_SIZE, ctx.heapLimit) - block;
    m[dw + L.P_FLAGS] = held || lastClaimDirty ? 0 : L.PF_FRESH;
    m[dw + L.P_OWNER] = L.LIVE_BLOCK; // the table word's store below publishes the descriptor
    if (!cached) for (let j = 1; j < k; j++) Atomics.store(m, this.segTableW + (first + j) * L.S_WORDS, L.SEG_HUGE_TAIL);
    // Published: a free can take it from here (freeHugeRun swaps exactly this word). An atomic store: whoever
    // reads it atomically sees the plain stores before it (the descriptor, a split's rest).
    this.mem.store(this.segTableW + first * L.S_WORDS, L.SEG_HUGE | (k << L.S_COUNT_SHIFT));
    if (!cached) clearRecord(this.mem, this.threadW, L.T_CLAIM_SEGMENTS); // complete
    return block;
  }

  protected locateHuge(p: number): number {
    if (this.viewsDetached()) {
      // Every read of the segment table gave undefined, and led here (see renewDetachedViews).
      this.syncViews();
      return this.locate(p);
    }
    const m = this.m;
    const index = ((p >>> 2) - this.baseW) >>> L.SEGMENT_WORDS_SHIFT;
    // Plain reads, as sliceOf's: what they find is only a candidate, which the free's CAS on the head's table
    // word checks (freeHugeRun).
    let word = m[this.segTableW + index * L.S_WORDS];
    let first = index;
    if ((word & 0xff) === L.SEG_HUGE_TAIL) {
      // A later segment of a run: an aligned block may start here (or a tail of a run being joined or
      // released, which no head covers: free memory then).
      first = hugeHeadOf(this.ctx, index);
      if (first < 0) invalidPointer(p, 'in free memory');
      word = Atomics.load(m, this.segTableW + first * L.S_WORDS);
    }
    // The head of a huge block (or of a cached or claimed run, whose descriptor names the block freed there,
    // or none). The descriptor is only read here: if the run is reused meanwhile, these words may be a new
    // block's data, and the free's CAS on the table word (freeHugeRun) then fails.
    const head = word & 0xff;
    if (!isHugeHead(head)) invalidPointer(p, first === index ? 'outside the heap' : 'in free memory');
    const dw = this.ctx.descriptorW(first, 0);
    const isBlockStart = m[dw + L.P_KIND] === L.KIND_HUGE && p >>> 2 === m[dw + L.P_AREA];
    if (head !== L.SEG_HUGE) {
      if (isBlockStart) doubleFree(p, 'the huge block is free');
      invalidPointer(p, 'in free memory');
    }
    if (!isBlockStart) invalidPointer(p, 'not the start of a block');
    if (m[dw + L.P_OWNER] !== L.LIVE_BLOCK) doubleFree(p, 'the huge block is free');
    return dw;
  }

  /**
   * Free a large or huge block. A large block: whoever swaps its owner from live wins (recorded, so that
   * reclaim() can finish the job for a thread that dies in between) and holds its span for its next large
   * block (heldspans.ts), or gives it back to the pool. A huge block: one CAS on its segment-table word,
   * which caches its segments whole for the next huge block (see freeHugeRun).
   */
  protected freeSpanBlock(p: number, dw: number): void {
    const m = this.m;
    if (m[dw + L.P_KIND] !== L.KIND_LARGE) return this.freeHuge(p, this.ctx.segmentOfWord(dw), m[dw + L.P_SPAN]);
    // Whether the span may be held decides what the CAS swaps in: the span as it reads before (a live block's
    // span does not change; one that changed belongs to a block freed meanwhile, and the free is refused, or to
    // a double free racing with a reuse of the segment, which no allocator tells apart). Once won, it is ours.
    const holds = this.heldSpans.allows(m[dw + L.P_SPAN]);
    const refused = this.beginLargeFree(dw, holds ? L.LARGE_HELD | this.slot : 0);
    if (refused !== 0) {
      clearRecord(this.mem, this.threadW, L.T_RELEASING);
      doubleFree(p, refused === 1 ? 'freed by another thread meanwhile' : 'already freed');
    }
    if (!holds) releaseSpan(this.ctx, this.threadW, dw);
    else this.holdSpan(dw);
    clearRecord(this.mem, this.threadW, L.T_RELEASING); // complete
  }

  /**
   * A large block's free begins: the thread's record names descriptor `dw` (before the CAS that makes it
   * intermediate); its segment must still be normal, else 1: the record guards the segment (see
   * claimFreeSegments), so if it is normal now its header stays metadata until the record is cleared, and if
   * not, the block was freed and its segment reused whole. Then the owner word is swapped from LIVE_BLOCK to
   * `owner`, else 2 (already freed); 0 when freed. Over a WebAssembly.Memory one wasm call does the three
   * atomics (wasmops.ts). The caller clears the record.
   */
  private beginLargeFree(dw: number, owner: number): number {
    const recordW = this.threadW + L.T_RELEASING;
    const begin = this.mem.beginLargeFree;
    if (begin !== undefined) return begin(recordW, dw, this.segmentWordOf(dw), owner);
    this.mem.store(recordW, dw); // (Atomics.store here: no wasm over this memory)
    if (!this.segmentIsNormal(dw)) return 1;
    return Atomics.compareExchange(this.m, dw + L.P_OWNER, L.LIVE_BLOCK, owner) === L.LIVE_BLOCK ? 0 : 2;
  }

  /**
   * Free a huge block of `k` segments from `first` (see freeHugeRun). The run is held for this thread's next
   * huge block while the bounds allow (held.ts); one that starts where a held run ends joins it, its head
   * turned into a tail of that run by the free's CAS itself.
   */
  private freeHuge(p: number, first: number, k: number): void {
    const held = this.held;
    const before = held.endingAt(first);
    if (before >= 0 && held.mayHold(k, true)) {
      if (!freeHugeRun(this.ctx, first, k, L.SEG_HUGE_TAIL)) doubleFree(p, 'freed by another thread meanwhile');
      const start = held.start[before]!;
      const n = held.units[before]! + k;
      held.set(before, start, n);
      // A plain store: only the count changes (a held head covers the tails after it, whatever its count).
      this.m[this.segTableW + start * L.S_WORDS] = heldWord(this.slot, n);
      return;
    }
    const hold = held.mayHold(k, false);
    if (!freeHugeRun(this.ctx, first, k, hold ? heldWord(this.slot, k) : cachedWord(k))) doubleFree(p, 'freed by another thread meanwhile');
    if (hold) held.add(first, k);
  }

  /**
   * The first segment for a huge block of `size` bytes aligned to `align` in a run this thread holds: the
   * smallest that fits, the block at its end, so that its free joins what stays held before it. Plain
   * stores: the run's head names this thread (nobody else changes it), and the caller's publish (an atomic
   * store of the block's head) makes them visible. `need`: the segments the block needs (`align` is at most
   * 64 KiB). -1 when none fits.
   */
  private takeHeld(size: number, align: number, need: number): number {
    const held = this.held;
    if (held.count === 0) return -1;
    const ctx = this.ctx;
    let best = -1;
    for (let i = 0; i < held.count; i++) {
      const k = held.units[i]!;
      if (k < need || (best >= 0 && k >= held.units[best]!)) continue;
      // A run that holds the heap's last segment may be cut short by the limit (the test in doubles: addresses
      // reach 2^32).
      const end = held.start[i]! + k;
      if (end >= ctx.maxSegments && ctx.segmentAddress(end - need) + hugeBlockOffset(ctx, 0, align) + size > ctx.heapLimit) continue;
      best = i;
    }
    if (best < 0) return -1;
    const first = held.start[best]!;
    const start = first + held.units[best]! - need;
    if (start === first) held.remove(best);
    else {
      // What stays held ends where the block starts. The block's first segment is a tail of the run until the
      // publish makes it the block's head.
      held.set(best, first, start - first);
      this.m[this.segTableW + first * L.S_WORDS] = heldWord(this.slot, start - first);
    }
    return start;
  }

  /** Where a large block aligned to `align` starts in the span from slice `first` of segment `index`. */
  private largeBlockIn(index: number, first: number, align: number): number {
    return largeBlockStart(this.ctx, this.ctx.segmentAddress(index), first, align);
  }

  /**
   * Large block `block` made live in the span of `slices` slices from slice `first` of segment `index`, whose
   * descriptors say so already: the block's words, then the publish.
   */
  private publishLarge(index: number, first: number, slices: number, block: number, fresh: boolean): number {
    const m = this.m;
    const dw = this.ctx.descriptorW(index, first);
    m[dw + L.P_AREA] = block >>> 2;
    m[dw + L.P_BLOCK_SIZE] = this.ctx.sliceAddress(index, first + slices) - block;
    m[dw + L.P_FLAGS] = fresh ? L.PF_FRESH : 0;
    this.mem.store(dw + L.P_OWNER, L.LIVE_BLOCK);
    return block;
  }

  /**
   * A large block in the smallest held span that fits it (heldspans.ts), the span's slices beyond the block
   * back to the pool; or else in one that can grow into the free slices after it. 0 when none can: then
   * every held span goes back to the pool, where the claim that follows finds them joined with their free
   * neighbours.
   */
  private takeHeldSpan(size: number, align: number): number {
    const held = this.heldSpans;
    let best = -1;
    let need = 0;
    for (let i = 0; i < held.count; i++) {
      const n = held.units[i]!;
      const k = this.slicesAt(held.start[i]!, size, align);
      if (k <= n && (best < 0 || n < held.units[best]!)) {
        best = i;
        need = k;
      }
    }
    for (let i = 0; i < held.count && best < 0; i++) {
      const dw = held.start[i]!;
      const k = this.slicesAt(dw, size, align);
      if (this.growLargeSpan(dw, k, false)) {
        held.set(i, dw, k);
        best = i;
        need = k;
      }
    }
    if (best < 0) {
      this.releaseHeldSpans();
      return 0;
    }
    const dw = held.start[best]!;
    const n = held.units[best]!;
    held.remove(best);
    if (need < n) this.holdRest(dw, n, need);
    const index = this.ctx.segmentOfWord(dw);
    const first = this.ctx.sliceOfDescriptor(dw);
    return this.publishLarge(index, first, need, this.largeBlockIn(index, first, align), false);
  }

  /**
   * Span `dw` of `n` slices, this thread's and in no list (a held span just taken, or a live block's span
   * about to grow), cut to its first `keep`: the slices after them stay held, as a span of their own (joined
   * with a held span after it, see holdSpan). Plain stores (nobody else changes a held span), but for the
   * cut: the rest is described and named held before it, so a thread that dies in between leaves one span
   * covering both, or two, and reclaim releases a held span whole; and a reclaim sweeping meanwhile that
   * reads the cut (an atomic store, read atomically) sees the rest as it is written.
   */
  private holdRest(dw: number, n: number, keep: number): void {
    const m = this.m;
    const ctx = this.ctx;
    const rest = describeRest(m, dw, n, keep);
    m[rest + L.P_AREA] = ctx.sliceAddress(ctx.segmentOfWord(dw), ctx.sliceOfDescriptor(rest)) >>> 2;
    m[rest + L.P_OWNER] = L.LARGE_HELD | this.slot;
    this.mem.store(dw + L.P_SPAN, keep); // the cut, atomic: a sweep that reads it (atomically) sees the rest
    this.holdSpan(rest);
  }

  /**
   * Span `dw`, whose owner word names this thread as its holder (a freed large block's, or the rest of a cut),
   * held for its next large block: joined with the held spans right after and right before it in its
   * segment (plain stores, as holdRest), so that a larger block finds them whole and no two held spans are
   * neighbours. The joined span's block words cover it to its end (check()).
   */
  private holdSpan(dw: number): void {
    const m = this.m;
    const held = this.heldSpans;
    let head = dw;
    let n = m[dw + L.P_SPAN];
    const after = held.indexOf(dw + n * L.DESC_WORDS);
    if (after >= 0) {
      const k = held.units[after]!;
      held.remove(after);
      joinSpans(this.ctx, head, n, k);
      n += k;
    }
    const before = held.endingAt(head);
    if (before >= 0) {
      const start = held.start[before]!;
      const k = held.units[before]!;
      held.remove(before);
      joinSpans(this.ctx, start, k, n);
      head = start;
      n += k;
    }
    const ctx = this.ctx;
    m[head + L.P_BLOCK_SIZE] = ctx.sliceAddress(ctx.segmentOfWord(head), ctx.sliceOfDescriptor(head) + n) - m[head + L.P_AREA] * L.WORD;
    if (held.full()) this.releaseHeldSpan(0); // the oldest
    held.add(head, n);
  }

  /** Slices a large block of `size` bytes aligned to `align` takes in the span whose head is `dw`. */
  private slicesAt(dw: number, size: number, align: number): number {
    const index = this.ctx.segmentOfWord(dw);
    const first = this.ctx.sliceOfDescriptor(dw);
    return largeSpanSlices(this.ctx.segmentAddress(index), first, this.largeBlockIn(index, first, align), size);
  }

  /**
   * Large span `dw` grown to `need` slices in place, if the slices after it are free or a span this thread
   * holds: claimed (or named as if claimed), made its tails, counted by its head, and (`live`) the block's
   * usable size written, all before the claim record is cleared. A thread that dies in between leaves tails
   * that no span covers, which reclaim gives back, or a live block whose size reclaim writes (finishGrowth).
   * Returns whether it grew.
   */
  private growLargeSpan(dw: number, need: number, live: boolean): boolean {
    const m = this.m;
    const index = this.ctx.segmentOfWord(dw);
    const first = this.ctx.sliceOfDescriptor(dw);
    const n = m[dw + L.P_SPAN];
    if (need <= n || first + need > this.ctx.segmentSlices(index)) return false;
    const held = this.heldSpans;
    const after = held.indexOf(dw + n * L.DESC_WORDS);
    if (after >= 0) {
      // A span this thread holds comes next (a live block's, as no two held spans are neighbours): its first
      // slices join as claimed ones would (named meanwhile, tails first: reclaim finishes the growth, see
      // finishGrowth), and the rest stays held.
      const next = held.start[after]!;
      const k = held.units[after]!;
      if (n + k < need) return false;
      held.remove(after);
      if (n + k > need) this.holdRest(next, k, need - n);
      nameClaimedSpan(this.mem, this.threadW, index, first + n, need - n);
    } else if (!claimSlicesAt(this.ctx, this.threadW, index, first + n, need - n)) return false;
    growSpan(m, dw, n, need);
    if (live) m[dw + L.P_BLOCK_SIZE] = this.ctx.sliceAddress(index, first + need) - m[dw + L.P_AREA] * L.WORD;
    clearRecord(this.mem, this.threadW, L.T_CLAIM_SPAN); // complete
    return true;
  }

  /**
   * realloc's way to grow a live large block without moving it: its span grows into the free slices after it.
   * Returns whether it did; `p` is a live block (the caller has located it).
   */
  protected growInPlace(p: number, size: number): boolean {
    const ctx = this.ctx;
    const dw = this.locate(p);
    if (this.m[dw + L.P_KIND] !== L.KIND_LARGE) return false;
    return this.growLargeSpan(dw, largeSpanSlices(ctx.segmentAddress(ctx.segmentOfWord(dw)), ctx.sliceOfDescriptor(dw), p, size), true);
  }

  /** Held span `i` back to the pool. */
  private releaseHeldSpan(i: number): void {
    const dw = this.heldSpans.start[i]!;
    this.heldSpans.remove(i);
    releaseSpan(this.ctx, this.threadW, dw);
  }

  /** Every held span back to the pool; returns how many. */
  private releaseHeldSpans(): number {
    const n = this.heldSpans.count;
    while (this.heldSpans.count !== 0) this.releaseHeldSpan(this.heldSpans.count - 1);
    return n;
  }

  /** Every held run back to the cache, where any thread's huge block finds it. */
  private releaseHeld(): void {
    const held = this.held;
    while (held.count !== 0) {
      const i = held.count - 1;
      Atomics.store(this.m, this.segTableW + held.start[i]! * L.S_WORDS, cachedWord(held.units[i]!));
      held.remove(i);
    }
  }
}
