// A thread's heap: the pages it owns, queued per size class, and the malloc and free paths over them.
// One Heap instance is one allocator "thread" (an attach); its record lives in the heap header's thread
// table, so another thread can take its pages over when it leaves.
//
// Fast paths: malloc pops the free list of the first page of its size class's queue; free pushes onto
// the page's free list (owner) or sets the block's bit in the remote bitmap (anyone else, one atomic OR; see
// threadfree.ts). The owner uses no Atomics on either path. Everything else - empty lists, new pages, full
// pages - is a named slow path below. Blocks above 64 KiB, each with a span of its own, are spanblocks.ts's
// (a subclass: this one declares what it calls).

import { Layout as L } from './layout.js';
import { abandonPage, adoptAbandoned, retake, takeAbandoned } from './abandoned.js';
import { reclaimThread } from './reclaim.js';
import type { HeapContext } from './context.js';
import { doubleFree, invalidPointer, WebmallocError } from './errors.js';
import { KeptPages, OfferedPages, STAMP_SHIFT } from './kept.js';
import { HeapMemory } from './memory.js';
import type { FreeBlock, FreeCheckedBlock } from './wasmops.js';
import { bitOf, collect, initSmallPage, liveWordOf, refill, releaseSpan } from './pages.js';
import { clearRecord } from './inflight.js';
import { acquireSlot, ID_SLOTS, markLeaving, othersAttachedWatch, releaseSlot, takeReservedSlot } from './registry.js';
import { claimSpan, lastClaimDirty, releaseCachedHuge } from './segments.js';
import { BIN_OF_GRANULE, BIN_SLICES, Limit, NBINS } from './sizeclass.js';
import { freeRemote, Remote } from './threadfree.js';

/** Slow-path calls after which an unused class's empty page goes back to the pool. */
const RETIRE_AFTER = 32;
/** Abandoned pages looked at before the memory grows. */
const RELEASE_BUDGET = 32;
/**
 * What sliceOf returns for an address outside the views, and in a segment that is not a normal one. A const
 * enum, as the layout's: a module's `const` is a context slot, which the bytecode loads and checks for the
 * temporal dead zone at every use, and V8 inlines a callee only while the bytecode inlined so far stays within
 * a budget (docs/design.md: "Bytecode within V8's inlining budget").
 */
const enum Slice {
  NOT_IN_VIEWS = -1,
  NOT_NORMAL = -2,
}
/**
 * A checked heap's FreeBlock: wasm's freeCheckedBlock with the thread's record `recordW` bound, so that free's
 * one call site passes an unchecked heap's function only what it uses.
 */
function checkedFreeBlock(free: FreeCheckedBlock | undefined, recordW: number): FreeBlock | undefined {
  if (free === undefined) return undefined;
  return (p, baseW, heapWords, segTableW, tag) => free(p, baseW, heapWords, segTableW, tag, recordW);
}

/** Words every read of a detached heap lands in: all zero, so every path falls to a slow path that throws. */
const DETACHED_WORDS = new Int32Array(256);

export abstract class Heap {
  protected readonly ctx: HeapContext;
  protected readonly mem: HeapMemory;
  /** Current views (renewed by syncViews when the memory has grown). */
  protected m: Int32Array;
  protected bytes: Uint8Array;
  /** This thread's id: its slot and the slot's generation, unique for the heap's life. reclaim() takes it. */
  readonly threadId: number;
  /** This thread's slot in the thread table. */
  protected readonly slot: number;
  /** P_OWNER value of pages this heap owns. */
  protected readonly ownerTag: number;
  /**
   * What free's fast path compares P_OWNER with: ownerTag, or in checked mode -1, which no descriptor holds,
   * so that every free takes the checked way without a test of its own (10 bytes of free's bytecode).
   */
  private readonly fastFreeTag: number;
  /**
   * The free of a small block in wasm (wasmops.ts), over a WebAssembly.Memory, checked or not: one call instead
   * of a dozen typed-array accesses with their bounds checks (and, checked, of a call for the live bit's atomics).
   */
  private readonly freeBlock: FreeBlock | undefined;
  protected readonly base: number;
  /** base / 4: block addresses inside are word indexes. */
  protected readonly baseW: number;
  /** Checked mode. The fast paths test it as `=== true`: a bare `if (this.checked)` compiles to a full ToBoolean. */
  protected readonly checked: boolean;
  protected readonly threadW: number;
  protected queueW: number;
  protected readonly tailW: number;
  protected readonly emptyW: number;
  protected readonly segTableW: number;
  /** Words from base that claimed segments and this thread's views both cover. */
  protected heapWords = 0;
  /** Counts slow-path calls: the clock by which an empty page's class counts as unused. */
  private tick = 0;
  /** Per class, the tick of its last slow-path call. */
  private readonly lastUse = new Uint32Array(NBINS);
  /** Whether another thread is attached to the heap (a hint; see othersAttachedWatch in registry.ts). */
  protected readonly othersAttached: () => boolean;
  /** Emptied pages this thread keeps for reuse (see kept.ts). */
  private readonly kept: KeptPages;
  /** Kept pages this thread offered to every thread, per class, for its own next pages (see kept.ts). */
  private readonly offered = new OfferedPages();
  /** Slice where releaseEmptyAbandoned looks for abandoned pages next. */
  private abandonedCursor = 0;
  /** The size-class table, as a field: a field load is cheaper than a module binding's. */
  private readonly binOf = BIN_OF_GRANULE;
  protected detached = false;

  constructor(ctx: HeapContext, reservedId?: number) {
    this.ctx = ctx;
    this.mem = ctx.mem;
    this.m = ctx.mem.m;
    this.bytes = ctx.mem.u8;
    this.base = ctx.base;
    this.baseW = ctx.base >>> 2;
    this.checked = ctx.checked;
    this.emptyW = ctx.emptyPageW;
    this.segTableW = ctx.segTableW;
    if (reservedId === undefined) this.threadId = acquireSlot(ctx);
    else {
      takeReservedSlot(ctx, reservedId);
      this.threadId = reservedId;
    }
    this.slot = this.threadId % ID_SLOTS;
    this.ownerTag = this.slot + 1;
    this.fastFreeTag = this.checked ? -1 : this.ownerTag;
    this.threadW = ctx.threadW(this.slot);
    this.freeBlock = this.checked ? checkedFreeBlock(ctx.mem.freeCheckedBlock, this.threadW + L.T_BLOCK) : ctx.mem.freeBlock;
    this.queueW = this.threadW + L.T_QUEUES;
    this.tailW = this.threadW + L.T_QUEUE_TAILS;
    this.othersAttached = othersAttachedWatch(ctx, this.slot);
    this.kept = new KeptPages((ctx.heapLimit - ctx.base) / L.SLICE_SIZE, this.othersAttached);
    this.syncViews();
    // Remote frees that reached this slot's delayed list after its previous occupant left.
    if (Atomics.load(this.m, this.threadW + L.T_DELAYED) !== 0) this.processDelayed();
  }

  // ----------------------------------------------------------------------------------------------------
  // malloc

  /** Allocate `size` bytes; 0 when the size cannot be met. */
  malloc(size: number): number {
    if ((size >>> 0) === size && size <= Limit.MEDIUM_MAX) {
      const m = this.m;
      const bin = this.binOf[(size + 7) >>> 3];
      const dw = m[this.queueW + bin];
      // `| 0` here and on P_USED: dw comes from the memory, so V8 checks dw + k for overflow, and the sum
      // truncated needs no check (dw is a word index, far below 2^31). pairs-16 took 5.25 ns per call instead
      // of 5.44, pairs-64 5.23 instead of 5.45 (three alternated processes each; batch-64 did not move).
      const fw = (dw + L.P_FREE) | 0;
      const b = m[fw];
      // > 0, not !== 0: over a detached buffer (see renewDetachedViews) reads give undefined, which must
      // take the slow path. Checked mode takes it too (mallocGeneric pops there), and sizes beyond the
      // classes go through a method of their own: V8 inlines callees into a loop up to a budget of bytecode
      // (920 bytes, each candidate counted 1.2 times), and malloc took 168 bytes with the two cases written
      // here, 144 without them. At 168 the aligned loop kept malloc a call, and batch-64 kept free's helpers
      // calls; inlined, aligned took 7.7 ns per call instead of 8.6, batch-64 5.1 instead of 5.8.
      if (b > 0 && this.checked !== true) {
        m[fw] = m[b];
        m[(dw + L.P_USED) | 0]++;
        return b * 4;
      }
      return this.mallocGeneric(bin);
    }
    return this.mallocBeyondClasses(size);
  }

  /** malloc of a size above the classes', or of no size at all (a RangeError). */
  private mallocBeyondClasses(size: number): number {
    return this.mallocLarge(checkSize(size), 16);
  }

  /**
   * The slow path of a size class: housekeeping, then the first page with room, else a new page. In checked
   * mode, every malloc of a class comes here, and takes its block from the head page's list first.
   */
  protected mallocGeneric(bin: number): number {
    if (this.detached) throw detachedError();
    this.renewDetachedViews();
    if (this.checked === true) {
      const dw = this.m[this.queueW + bin];
      if (this.m[dw + L.P_FREE] > 0) return this.pop(dw);
    }
    this.lastUse[bin] = ++this.tick;
    if (this.kept.oldestDue(this.tick)) this.releaseOldestKept(false);
    // The delayed list gets a block when another thread frees into a page that carries TF_DELAYED: one on the
    // full list, or one back in its queue since (the owner leaves the flag; see localFreeSlow). A thread that
    // allocates one block at a time from pages that keep running dry comes here often, so this path must
    // not pay an atomic load each time, and the test is a plain read (a block pushed just now waits for the
    // next time; processDelayed takes the list with an atomic exchange).
    if (this.m[this.threadW + L.T_DELAYED] !== 0) this.processDelayed();
    let m = this.m;
    for (;;) {
      let dw = m[this.queueW + bin];
      while (dw !== this.emptyW) {
        if (m[dw + L.P_FREE] === 0) refill(this.ctx, dw);
        if (m[dw + L.P_FREE] !== 0) {
          if ((m[dw + L.P_FLAGS] & L.PF_KEPT) !== 0) this.unkeep(dw);
          return this.pop(dw);
        }
        // Full: park it on the full list, flagged so that the next remote free tells us. A page still flagged
        // since it was last parked (no remote free came) is parked as it is, without an atomic: only a remote
        // free clears the flag, and it tells us through the delayed list, which brings the page back (so a
        // stale read of the flag, cleared just now, parks the page with that block on its way). Bits waiting
        // (TF_PENDING, which a page carries only without TF_DELAYED) fail the CAS: collected first.
        const remote = m[dw + L.P_REMOTE];
        if (remote !== L.TF_DELAYED && (remote !== 0 || Atomics.compareExchange(m, dw + L.P_REMOTE, 0, L.TF_DELAYED) !== 0)) continue;
        const next = m[dw + L.P_NEXT];
        this.queueRemove(bin, dw);
        this.fullPush(dw);
        dw = next === 0 ? this.emptyW : next;
      }
      if (this.adoptAbandoned(bin) === 0 && this.newPage(bin) === 0) return 0;
      m = this.m;
    }
  }

  private pop(dw: number): number {
    const m = this.m;
    const b = m[dw + L.P_FREE];
    if (this.checked !== true) {
      m[dw + L.P_FREE] = m[b];
      m[dw + L.P_USED]++;
      return b * 4;
    }
    // Checked: the block is on no list and not yet marked live for a moment; the record names it meanwhile.
    m[this.threadW + L.T_BLOCK] = b;
    m[dw + L.P_FREE] = m[b];
    m[dw + L.P_USED]++;
    this.markLive(b);
    m[this.threadW + L.T_BLOCK] = 0;
    return b * 4;
  }

  /** Take a span from the shared pool for a new page of class `bin`; 0 when the memory is full. */
  private newPage(bin: number): number {
    const ctx = this.ctx;
    const span = this.claim(BIN_SLICES[bin], 0, 0, bin);
    if (span < 0) return 0;
    this.syncViews();
    const index = span >>> 4;
    this.m[this.threadW + L.T_SEGMENT_HINT] = index;
    const dw = initSmallPage(ctx, index, span & 15, bin, this.ownerTag, !lastClaimDirty);
    this.queuePushFront(bin, dw);
    clearRecord(this.mem, this.threadW, L.T_CLAIM_SPAN); // complete: the page is ours and listed
    return dw;
  }

  /**
   * The page that heads a class's queue stays when it empties (so that malloc/free pairs do not claim and
   * release a span each time), and the fast path does no work to notice. Before the memory grows, the
   * emptied heads of classes this thread has not used for RETIRE_AFTER slow-path calls go back to the pool
   * (mimalloc's retired pages, but only under pressure: giving them back while memory suffices made
   * workloads that cycle through many classes claim and release a span on nearly every call). Returns how
   * many went back.
   */
  private releaseEmptyHeads(except: number): number {
    const m = this.m;
    let released = 0;
    for (let bin = 0; bin < NBINS; bin++) {
      const dw = m[this.queueW + bin];
      if (bin === except || dw === this.emptyW || m[dw + L.P_USED] !== 0) continue;
      if (this.tick - this.lastUse[bin] < RETIRE_AFTER) continue;
      collect(this.ctx, dw); // (used 0: nothing can be waiting; a double free pushed here would be, and stays)
      if (m[dw + L.P_USED] !== 0 || (m[dw + L.P_FLAGS] & L.PF_IN_FULL) !== 0) continue;
      this.queueRemove(bin, dw);
      releaseSpan(this.ctx, this.threadW, dw);
      released++;
    }
    return released;
  }

  /**
   * A span from the shared pool (see claimSpan), for a page of class `forBin` (or -1: a large block).
   * Before the memory grows, pages nobody uses go back to the pool (releaseUnused) and the pool is tried again.
   */
  protected claim(pageSlices: number, size: number, align: number, forBin: number): number {
    const hint = this.m[this.threadW + L.T_SEGMENT_HINT];
    const w = this.threadW;
    let span = claimSpan(this.ctx, w, hint, pageSlices, size, align, false);
    if (span < 0 && this.releaseUnused(RELEASE_BUDGET, forBin) > 0) span = claimSpan(this.ctx, w, hint, pageSlices, size, align, false);
    if (span < 0) span = claimSpan(this.ctx, w, hint, pageSlices, size, align, true);
    return span;
  }

  /**
   * Look at up to `budget` abandoned pages (all classes, continuing where the last call stopped) and give
   * back to the pool those with no live block; the others are marked abandoned again. Returns how many
   * were released.
   */
  protected releaseEmptyAbandoned(budget: number): number {
    let released = 0;
    this.syncViews();
    this.abandonedCursor = takeAbandoned(this.ctx, this.threadW, this.ownerTag, this.abandonedCursor, budget, (dw) => {
      collect(this.ctx, dw, true);
      // (the context's views, not this.m: they cover every page the search finds, up to the top it read)
      if (this.ctx.mem.m[dw + L.P_USED] === 0) {
        releaseSpan(this.ctx, this.threadW, dw);
        released++;
      } else {
        abandonPage(this.ctx, this.threadW, dw);
      }
    });
    return released;
  }

  /**
   * What goes back to the pool before the memory grows: abandoned pages whose blocks have all been freed
   * meanwhile (up to `budget` looked at), this thread's empty pages of classes it has stopped using
   * (but not of `forBin`, the class it is claiming for), the spans of freed large blocks it holds, and the
   * segments of freed huge blocks kept for reuse (every thread's). Returns how many pages, spans and
   * segments went back.
   */
  protected releaseUnused(budget: number, forBin: number): number {
    // The huge runs this thread holds go to the cache first, and from there with every cached run to the pool.
    return this.releaseHeldBlocks() + this.releaseAllKept() + this.releaseEmptyAbandoned(budget) + this.releaseEmptyHeads(forBin) + releaseCachedHuge(this.ctx, this.threadW, this.slot);
  }

  /**
   * Adopt an abandoned page of class `bin`: one this thread offered, else any (a leaving thread's, another's
   * offered one); 0 when there is none.
   */
  private adoptAbandoned(bin: number): number {
    let dw = 0;
    while (dw === 0) {
      const p = this.offered.pop(bin);
      if (p === 0) break;
      if (retake(this.ctx, this.threadW, p, this.ownerTag)) dw = p;
    }
    // A page this thread offered lies within its views already (they never shrink; renewDetachedViews has
    // renewed them if the memory replaced its buffer); one that another thread abandoned may lie beyond.
    if (dw === 0) {
      dw = adoptAbandoned(this.ctx, this.threadW, bin, this.ownerTag, this.m[this.threadW + L.T_SEGMENT_HINT] >>> 5);
      if (dw === 0) return 0;
      this.syncViews();
    }
    this.m[dw + L.P_FLAGS] &= L.PF_ALL & ~L.PF_KEPT; // its previous owner's kept-list entry
    // The class was read before the page was taken: in between it may have been adopted, released, made a
    // page of another class and abandoned again. Ours either way; it goes to the queue of its class.
    const actual = this.m[dw + L.P_BIN];
    this.queuePushFront(actual, dw);
    return actual === bin ? dw : 0;
  }

  // ----------------------------------------------------------------------------------------------------
  // blocks of their own, above 64 KiB (spanblocks.ts)

  /** A block of its own: a span of slices in one segment (large) or whole segments (huge). */
  protected abstract mallocLarge(size: number, align: number): number;

  /** Free large or huge block `p`, whose descriptor locate() found: `dw`. */
  protected abstract freeSpanBlock(p: number, dw: number): void;

  /** The descriptor of huge block `p`, which sliceOf found in a segment that is not a normal one. */
  protected abstract locateHuge(p: number): number;

  /** What this thread holds of freed large and huge blocks goes back for every thread; returns how many. */
  protected abstract releaseHeldBlocks(): number;

  // ----------------------------------------------------------------------------------------------------
  // free

  /** Free block `p` (0 does nothing). Throws WebmallocError, changing nothing, if `p` is not a live block. */
  free(p: number): void {
    const freeBlock = this.freeBlock;
    // A u32 only: wasm would take any other number modulo 2^32.
    if (freeBlock !== undefined && p >>> 0 === p) {
      const r = freeBlock(p, this.baseW, this.heapWords, this.segTableW, this.ownerTag);
      if (r !== 0) this.freeAfterBlock(p, r);
      return;
    }
    this.freeInJs(p);
  }

  /**
   * What wasm's freeBlock left to do for `p`, by its result `r` (see wasmops-source.ts): the owner's slow path
   * for page `r`, a double free, the JS path (-1, nothing changed: 0, a large or huge block, a bad pointer, or
   * unchecked, a page parked on its owner's full list), or a checked heap's rest (-4 to -6).
   */
  private freeAfterBlock(p: number, r: number): void {
    // The views first: wasm reads and writes the memory as it is now, so a free there can succeed while this
    // thread's views are over a buffer the memory has replaced (a non-shared WebAssembly.Memory that grew).
    this.renewDetachedViews();
    if (r > 0) this.localFreeSlow(r, this.m[r + L.P_USED]);
    else if (r === -2) doubleFree(p, 'freed by another thread already');
    else if (r === -1) this.freeInJs(p);
    else this.freeCheckedRest(p, r);
  }

  /**
   * Checked mode: what wasm's freeCheckedBlock left to do for `p` once its record names the block: refused
   * (-5, -6: the record cleared, then the error), or a block whose live bit is cleared and whose page is parked
   * on its owner's full list (-4: the owner told, as the JS path's freeSmall does, then the record cleared).
   */
  private freeCheckedRest(p: number, r: number): void {
    if (r !== -4) this.refuseCheckedFree(p, -4 - r); // -5, -6: beginCheckedFree's 1, 2
    this.finishCheckedFree(p >>> 2, this.locate(p));
  }

  /** free in JS: over memories that are not a WebAssembly.Memory, and every case wasm's freeBlock leaves to it. */
  private freeInJs(p: number): void {
    // The views are passed down: V8 then checks them once for the whole path, not in every helper.
    const m = this.m;
    const dw = this.sliceOf(m, p);
    // Only this thread's small pages carry its tag (a tail's or a free slice's descriptor reads 0, a large
    // block's LARGE_HELD | slot, or LIVE_BLOCK, which is slot 0's tag: but a large block's carved bound is 0,
    // and the block-start test refuses it), so the owner's free needs no look at the kind.
    if (dw >= 0 && m[dw + L.P_OWNER] === this.fastFreeTag && this.isCarvedBlock(m, p >>> 2, dw)) {
      return this.freeLocal(m, p >>> 2, dw);
    }
    this.freeOther(p, dw);
  }

  /**
   * free of another thread's small block (`slice`: free's sliceOf), or of a block in a later slice of its
   * page; everything else goes on to freeUnusual. Short, so that V8 inlines it where free is inlined (a
   * consumer's loop) within its budget of inlined bytecode.
   */
  private freeOther(p: number, slice: number): void {
    const m = this.m;
    if (slice >= 0 && this.checked !== true) {
      const dw = this.spanHeadOf(m, slice);
      if (m[dw + L.P_KIND] === L.KIND_SMALL && this.isCarvedBlock(m, p >>> 2, dw)) return this.freeSmall(m, p >>> 2, dw);
    }
    this.freeUnusual(p, slice);
  }

  /** free of 0, of any block in checked mode, of a large or huge block, and of a bad pointer. */
  private freeUnusual(p: number, slice: number): void {
    if (p === 0) return;
    const dw = this.locateFrom(p, slice);
    if (this.m[dw + L.P_KIND] !== L.KIND_SMALL) return this.freeSpanBlock(p, dw);
    const w = p >>> 2;
    if (this.checked === true) return this.freeChecked(p, w, dw);
    this.freeSmall(this.m, w, dw);
  }

  private freeSmall(m: Int32Array, w: number, dw: number): void {
    if (m[dw + L.P_OWNER] === this.ownerTag) this.freeLocal(m, w, dw);
    else if (freeRemote(this.ctx, dw, w) === Remote.FREED_TWICE) doubleFree(w * 4, 'freed by another thread already');
  }

  /** The owner frees block `w` of its page `dw`: a push onto the page's free list. */
  private freeLocal(m: Int32Array, w: number, dw: number): void {
    m[w] = m[dw + L.P_FREE];
    m[dw + L.P_FREE] = w;
    const used = (m[dw + L.P_USED] - 1) | 0; // (no overflow check, as in malloc)
    m[dw + L.P_USED] = used;
    // A page in a bin queue other than its head has a previous page (P_PREV); one on the full list is
    // flagged, and goes to the slow path whatever its count.
    if ((used === 0 && m[dw + L.P_PREV] !== 0) || (m[dw + L.P_FLAGS] & L.PF_SLOW_FREE) !== 0) {
      this.localFreeSlow(dw, used);
    }
  }

  /**
   * Checked mode: the live bit goes first; its old value tells a double free (clearing a clear bit changes
   * nothing). The record names the block meanwhile.
   */
  private freeChecked(p: number, w: number, dw: number): void {
    // Over a WebAssembly.Memory the three atomics are wasm's instructions, in one call (wasmops.ts), where
    // each Atomics call is a builtin call. With this and markLive's bit in wasm, checked pairs-64 took 16.7 ns
    // per call instead of 26.6, random-512 53 instead of 79 (medians of alternated processes).
    const begin = this.mem.beginCheckedFree;
    const refused = begin !== undefined ? begin(this.threadW + L.T_BLOCK, w, this.baseW, this.segmentWordOf(w)) : this.beginCheckedFree(w);
    if (refused !== 0) this.refuseCheckedFree(p, refused);
    this.finishCheckedFree(w, dw);
  }

  /** Checked mode: the free of `p` was refused (beginCheckedFree's 1 or 2): the record cleared, then the error. */
  private refuseCheckedFree(p: number, refused: number): never {
    this.m[this.threadW + L.T_BLOCK] = 0;
    doubleFree(p, refused === 1 ? 'freed by another thread meanwhile' : 'already freed');
  }

  /** Checked mode: block `w` of page `dw`, its live bit cleared, goes onto a list; then the record is cleared. */
  private finishCheckedFree(w: number, dw: number): void {
    this.freeSmall(this.m, w, dw);
    this.m[this.threadW + L.T_BLOCK] = 0;
  }

  /**
   * wasmops.ts's beginCheckedFree with Atomics calls: the record names block `w`; then 1 if its segment is not
   * a normal one now, 2 if its live bit was clear, else 0 with the bit cleared.
   */
  private beginCheckedFree(w: number): number {
    this.mem.store(this.threadW + L.T_BLOCK, w); // (Atomics.store here: no wasm over this memory)
    // The record guards the segment, whose header holds the live bit (see claimFreeSegments).
    if (!this.segmentIsNormal(w)) return 1;
    const bit = bitOf(w);
    return (Atomics.and(this.m, liveWordOf(this.baseW, w), ~bit) & bit) === 0 ? 2 : 0;
  }

  /**
   * The descriptor of the page holding block `p`, found by address arithmetic alone: p's segment from the
   * segment table, its slice's descriptor, the span's head. Throws unless `p` is the start of a block
   * that has been handed out. (Whether a small block is still live only checked mode can tell.)
   */
  protected locate(p: number): number {
    return this.locateFrom(p, this.sliceOf(this.m, p));
  }

  /** locate, given what sliceOf returned for `p`: `dw`. */
  protected locateFrom(p: number, dw: number): number {
    const m = this.m;
    if (dw === Slice.NOT_IN_VIEWS) return this.locateOutside(p);
    if (dw === Slice.NOT_NORMAL) return this.locateHuge(p);
    if (m[dw + L.P_KIND] !== L.KIND_SMALL) return this.locateSpan(p, dw);
    if (this.isCarvedBlock(m, p >>> 2, dw)) return dw;
    return this.notABlock(p, dw);
  }

  /**
   * The descriptor of the slice holding `p`; NOT_IN_VIEWS when `p` is not a block-aligned address inside
   * what the views cover, NOT_NORMAL when its segment is not a normal one (huge, or not claimed).
   */
  protected sliceOf(m: Int32Array, p: number): number {
    const w = p >>> 2;
    const off = w - this.baseW;
    // One test for: not an integer, negative, misaligned (blocks are 8-aligned: even word), out of range.
    if (w * 4 !== p || (w & 1) !== 0 || off >>> 0 >= this.heapWords) return Slice.NOT_IN_VIEWS;
    if (m[this.segTableW + (off >>> L.SEGMENT_WORDS_SHIFT) * L.S_WORDS] !== L.SEG_NORMAL) return Slice.NOT_NORMAL;
    return w - (off & L.SEGMENT_WORDS_MASK) + L.DESC_OFFSET / 4 + ((off >>> L.SLICE_WORDS_SHIFT) & 15) * L.DESC_WORDS;
  }

  /**
   * The head of the span that slice `dw` belongs to (`dw` itself unless it is a TAIL). free and realloc step
   * through it on their fast paths: a block of a page spanning several slices (classes above 8 KiB) lies in a
   * later slice of it 1 - 1/n of the time. Read plainly, so what it returns for a pointer that is not a live
   * block is only a guess that the caller checks (kind, isCarvedBlock).
   */
  protected spanHeadOf(m: Int32Array, dw: number): number {
    return m[dw + L.P_KIND] === L.KIND_TAIL ? dw - m[dw + L.P_SPAN] * L.DESC_WORDS : dw;
  }

  /**
   * Whether word `w` is the start of one of the blocks carved so far from small page `dw`, without a divide.
   * `w` lies in the page's segment, so rel = w - P_AREA (the first block) has |rel| < 2^18. With the class's
   * words = 2^shift * odd, x = rel * inverse (mod 2^32; P_DIVISOR = BLOCK_INVERSE, see sizeclass.ts) is
   * rel / odd when rel is a non-negative multiple of odd. For any other rel, x as unsigned is at least 2^28:
   * odd <= 15 for every class, so x < 2^28 would give x * odd < 2^32, and x * odd = rel (mod 2^32) then
   * forces x * odd = rel. So rel is a block start exactly when x is a multiple of 2^shift below
   * carved * 2^shift (< 2^17: a page's words), that is when x rotated right by shift is below carved: the
   * rotation brings any low bit set to bit 32 - shift or above (shift <= 14), and x >= 2^28 stays at least
   * 2^(28 - shift), while carved < 2^(17 - shift).
   * One descriptor word holds both: P_CARVED_BOUND = carved << 5 | shift (set with P_RESERVED). JavaScript
   * takes a shift count modulo 32, so a shift by the word is one by shift, and one by 32 minus the word is one
   * by 32 - shift: V8 compiles the two and the or to one `ror`. With a mask and a limit in two words, the
   * pairs loop ran 8 more instructions per free. (The arithmetic is written out here, not called: one level
   * less to inline, and aligned took 176 instructions per call instead of 192.)
   */
  protected isCarvedBlock(m: Int32Array, w: number, dw: number): boolean {
    const x = Math.imul(w - m[dw + L.P_AREA], m[dw + L.P_DIVISOR]);
    const bound = m[dw + L.P_CARVED_BOUND];
    return ((x >>> bound) | (x << (32 - bound))) >>> 0 < bound >>> 5;
  }

  /** `p` is in a slice that is not the head of a small page: a later slice of one, a large block, or nothing. */
  private locateSpan(p: number, dw: number): number {
    const m = this.m;
    // spanHeadOf's step, written out: it keeps the kind it reads (through spanHeadOf, a loop of 70-970 KB
    // blocks took 3380 instructions per malloc/free pair instead of 3320).
    let kind = m[dw + L.P_KIND];
    if (kind === L.KIND_TAIL) {
      dw -= m[dw + L.P_SPAN] * L.DESC_WORDS;
      kind = m[dw + L.P_KIND];
    }
    const w = p >>> 2;
    if (kind === L.KIND_SMALL) {
      if (this.isCarvedBlock(m, w, dw)) return dw;
      return this.notABlock(p, dw);
    }
    if (kind === L.KIND_LARGE) {
      if (w !== m[dw + L.P_AREA]) invalidPointer(p, 'not the start of a block');
      if (m[dw + L.P_OWNER] !== L.LIVE_BLOCK) doubleFree(p, 'the large block is free');
      return dw;
    }
    return invalidPointer(p, kind === L.KIND_META ? 'in the heap header' : 'in free memory');
  }

  private notABlock(p: number, dw: number): never {
    const rel = (p >>> 2) - this.m[dw + L.P_AREA];
    if (rel < 0) invalidPointer(p, 'not the start of a block (before the first block of its page)');
    const q = Math.floor((rel * 4) / this.m[dw + L.P_BLOCK_SIZE]);
    if (q * this.m[dw + L.P_BLOCK_SIZE] !== rel * 4) invalidPointer(p, 'not the start of a block (inside one)');
    return invalidPointer(p, 'in free memory of a page (never handed out)');
  }

  /** `p` lies outside what this thread's views cover, or is not a pointer at all. */
  private locateOutside(p: number): number {
    if (this.detached) throw detachedError();
    if ((p >>> 0) !== p) invalidPointer(p, 'not a pointer (an unsigned 32-bit integer)');
    if ((p & 7) !== 0) invalidPointer(p, 'misaligned (blocks are 8-byte aligned)');
    const before = this.heapWords;
    this.syncViews(); // the heap may have grown in another thread
    const off = (p >>> 2) - this.baseW;
    if (off < 0 || off >= this.heapWords || this.heapWords === before) invalidPointer(p, 'outside the heap');
    return this.locate(p);
  }

  /** Whether the segment holding word `w` is a normal segment now (an atomic read of its table word). */
  protected segmentIsNormal(w: number): boolean {
    return Atomics.load(this.m, this.segmentWordOf(w)) === L.SEG_NORMAL;
  }

  /** The segment-table word of the segment holding word `w`. */
  protected segmentWordOf(w: number): number {
    return this.segTableW + ((w - this.baseW) >>> L.SEGMENT_WORDS_SHIFT) * L.S_WORDS;
  }

  /**
   * The owner freed into a page that is full, fresh, or now empty. A full page goes back to its queue with
   * its TF_DELAYED left as it is: the next remote free then goes through the delayed list (once: it clears
   * the flag), and if the page fills again before any comes, parking it needs no atomic (mallocGeneric).
   * Clearing the flag here was an atomic AND per page that filled and came back: with the park's CAS, 13 of
   * random-64k's 271 instructions per call, and full barriers among its cache misses.
   */
  private localFreeSlow(dw: number, used: number): void {
    const m = this.m;
    const flags = m[dw + L.P_FLAGS];
    if ((flags & L.PF_IN_FULL) !== 0) {
      this.fullRemove(dw);
      this.queueAppend(m[dw + L.P_BIN], dw);
    }
    m[dw + L.P_FLAGS] = flags & ~(L.PF_IN_FULL | L.PF_FRESH);
    if (used === 0) this.pageEmptied(dw);
  }

  /**
   * A page with no live block stays where it is queued. The head of its class's queue is taken by the next
   * malloc of the class anyway (and a malloc/free pair must not claim and release a span each time); any
   * other is kept for a while (see kept.ts), and goes back to the pool if it is still empty then.
   */
  private pageEmptied(dw: number): void {
    const m = this.m;
    const flags = m[dw + L.P_FLAGS];
    if (m[this.queueW + m[dw + L.P_BIN]] === dw || (flags & L.PF_KEPT) !== 0) return;
    const stamp = this.kept.push(dw, m[dw + L.P_SPAN], this.tick);
    m[dw + L.P_FLAGS] = (flags & L.PF_ALL) | L.PF_KEPT | (stamp << STAMP_SHIFT);
    while (this.kept.oldestDue(this.tick)) this.releaseOldestKept(this.kept.overCap());
  }

  /**
   * The oldest entry of the kept list comes off it. Its page goes back to the pool (or with `offer`, is
   * abandoned for any thread to adopt) if the entry is not stale and the page is still empty and does not
   * head its queue. Returns whether it went back to the pool. The page is this thread's: the list is FIFO
   * and this is the only path that gives a listed page away, except those that empty the list first.
   */
  private releaseOldestKept(offer: boolean): number {
    const dw = this.kept.shift();
    const m = this.m;
    const flags = m[dw + L.P_FLAGS];
    if ((flags & L.PF_KEPT) === 0 || flags >>> STAMP_SHIFT !== this.kept.shiftedStamp) return 0; // reused, or listed again since
    this.unkeep(dw);
    if ((flags & L.PF_IN_FULL) !== 0) return 0;
    collect(this.ctx, dw);
    const bin = m[dw + L.P_BIN];
    if (m[dw + L.P_USED] !== 0 || m[this.queueW + bin] === dw) return 0;
    this.queueRemove(bin, dw);
    if (offer) {
      abandonPage(this.ctx, this.threadW, dw);
      this.offered.push(bin, dw);
      return 0;
    }
    releaseSpan(this.ctx, this.threadW, dw);
    return 1;
  }

  /** Kept page `dw` is no longer kept (it gives a block again, or leaves the list): its entry goes stale. */
  private unkeep(dw: number): void {
    this.m[dw + L.P_FLAGS] &= L.PF_ALL & ~L.PF_KEPT;
    this.kept.unlist(this.m[dw + L.P_SPAN]);
  }

  /**
   * Every kept page back to the pool if still empty: before the memory grows, and before pages are given
   * away by other paths (which would leave them listed). Returns how many went back.
   */
  private releaseAllKept(): number {
    let released = 0;
    while (this.kept.count !== 0) released += this.releaseOldestKept(false);
    return released;
  }

  /** Free the blocks other threads handed to this thread's full pages (the delayed list). */
  protected processDelayed(): void {
    this.syncViews();
    const m = this.m;
    let b = Atomics.exchange(m, this.threadW + L.T_DELAYED, 0);
    while (b !== 0) {
      const next = m[b];
      // Freed as its owner frees it (the page leaves the full list); a page that changed hands since gets it
      // in the remote bitmap (where a bit set already, a double free, leaves it as it is: nothing to throw at).
      const dw = this.pageOf(b);
      if (this.m[dw + L.P_OWNER] === this.ownerTag) this.freeLocal(this.m, b, dw);
      else freeRemote(this.ctx, dw, b);
      b = next;
    }
  }

  /** Page descriptor of block `w` (a word index) known to be valid (no checks). */
  protected pageOf(w: number): number {
    const off = w - this.baseW;
    return this.spanHeadOf(this.m, w - (off & L.SEGMENT_WORDS_MASK) + L.DESC_OFFSET / 4 + ((off >>> L.SLICE_WORDS_SHIFT) & 15) * L.DESC_WORDS);
  }

  // ----------------------------------------------------------------------------------------------------
  // checked mode: one bit per 8-byte granule of a segment, set while a block starting there is live

  private markLive(w: number): void {
    const setLiveBit = this.mem.setLiveBit;
    if (setLiveBit !== undefined) setLiveBit(w, this.baseW);
    else Atomics.or(this.m, liveWordOf(this.baseW, w), bitOf(w));
  }

  /** Whether small block `p` is live (checked mode only; true otherwise). */
  protected isLive(p: number): boolean {
    if (this.checked !== true) return true;
    const w = p >>> 2;
    return (Atomics.load(this.m, liveWordOf(this.baseW, w)) & bitOf(w)) !== 0;
  }

  // ----------------------------------------------------------------------------------------------------
  // the owner's page lists: per class a queue of pages with room, and one list of full pages

  private queuePushFront(bin: number, dw: number): void {
    const m = this.m;
    const head = m[this.queueW + bin];
    m[dw + L.P_PREV] = 0;
    if (head === this.emptyW) {
      m[dw + L.P_NEXT] = 0;
      m[this.tailW + bin] = dw;
    } else {
      m[dw + L.P_NEXT] = head;
      m[head + L.P_PREV] = dw;
    }
    m[this.queueW + bin] = dw;
  }

  private queueAppend(bin: number, dw: number): void {
    const m = this.m;
    const tail = m[this.tailW + bin];
    if (tail === 0) return this.queuePushFront(bin, dw);
    m[tail + L.P_NEXT] = dw;
    m[dw + L.P_PREV] = tail;
    m[dw + L.P_NEXT] = 0;
    m[this.tailW + bin] = dw;
  }

  private queueRemove(bin: number, dw: number): void {
    const m = this.m;
    const prev = m[dw + L.P_PREV];
    const next = m[dw + L.P_NEXT];
    if (prev !== 0) m[prev + L.P_NEXT] = next;
    else m[this.queueW + bin] = next === 0 ? this.emptyW : next;
    if (next !== 0) m[next + L.P_PREV] = prev;
    else m[this.tailW + bin] = prev;
    m[dw + L.P_NEXT] = 0;
    m[dw + L.P_PREV] = 0;
  }

  private fullPush(dw: number): void {
    const m = this.m;
    const head = m[this.threadW + L.T_FULL];
    m[dw + L.P_PREV] = 0;
    m[dw + L.P_NEXT] = head;
    if (head !== 0) m[head + L.P_PREV] = dw;
    m[this.threadW + L.T_FULL] = dw;
    m[dw + L.P_FLAGS] |= L.PF_IN_FULL;
  }

  private fullRemove(dw: number): void {
    const m = this.m;
    const prev = m[dw + L.P_PREV];
    const next = m[dw + L.P_NEXT];
    if (prev !== 0) m[prev + L.P_NEXT] = next;
    else m[this.threadW + L.T_FULL] = next;
    if (next !== 0) m[next + L.P_PREV] = prev;
    m[dw + L.P_NEXT] = 0;
    m[dw + L.P_PREV] = 0;
    m[dw + L.P_FLAGS] &= ~L.PF_IN_FULL;
  }

  /**
   * Give back what this thread holds but does not use: blocks other threads freed are collected, pages with
   * no live block go back to the shared pool (also the one a class keeps for reuse), and so do abandoned
   * pages that have emptied. The fast paths never do this much work; call it after a burst, or when idle.
   */
  collect(): void {
    if (this.detached) throw detachedError();
    this.renewDetachedViews();
    this.processDelayed();
    this.releaseAllKept();
    this.releaseHeldBlocks();
    const m = this.m;
    for (let dw = m[this.threadW + L.T_FULL]; dw !== 0; ) {
      const next = m[dw + L.P_NEXT];
      collect(this.ctx, dw, true);
      if (m[dw + L.P_USED] < m[dw + L.P_CAPACITY]) this.localFreeSlow(dw, -1); // room again: back to its queue
      dw = next;
    }
    for (let bin = 0; bin < NBINS; bin++) {
      for (let dw = m[this.queueW + bin]; dw !== this.emptyW; ) {
        const next = m[dw + L.P_NEXT];
        collect(this.ctx, dw, true);
        if (m[dw + L.P_USED] === 0) {
          this.queueRemove(bin, dw);
          releaseSpan(this.ctx, this.threadW, dw);
        }
        dw = next === 0 ? this.emptyW : next;
      }
    }
    this.releaseEmptyAbandoned(Number.MAX_SAFE_INTEGER);
  }

  // ----------------------------------------------------------------------------------------------------
  // leaving

  /**
   * Leave the heap: pages with no live block go back to the shared pool, the others are abandoned for
   * other threads to adopt; the thread slot is released. Live blocks stay valid and anyone may free them.
   * Afterwards every call on this instance throws.
   */
  detach(): void {
    if (this.detached) return;
    this.renewDetachedViews();
    if (!markLeaving(this.ctx, this.threadId)) {
      throw new WebmallocError('DETACHED', 0, `thread ${this.threadId} was reclaimed by another thread`);
    }
    this.processDelayed();
    this.releaseAllKept();
    this.releaseHeldBlocks();
    const m = this.m;
    for (let bin = 0; bin < NBINS; bin++) {
      for (let dw = m[this.queueW + bin]; dw !== this.emptyW; dw = m[this.queueW + bin]) {
        this.queueRemove(bin, dw);
        this.handOver(dw);
      }
    }
    for (let dw = m[this.threadW + L.T_FULL]; dw !== 0; dw = m[this.threadW + L.T_FULL]) {
      this.fullRemove(dw);
      this.handOver(dw);
    }
    this.processDelayed(); // remote frees that raced with the hand-over now go to the pages themselves
    releaseSlot(this.ctx, this.slot);
    this.detached = true;
    this.heapWords = 0;
    this.m = DETACHED_WORDS;
    this.queueW = 0;
  }

  /** Give away a page this thread no longer lists: back to the pool if empty, else abandon it. */
  private handOver(dw: number): void {
    const m = this.m;
    collect(this.ctx, dw, true);
    if (m[dw + L.P_USED] === 0) {
      releaseSpan(this.ctx, this.threadW, dw);
      return;
    }
    m[dw + L.P_FLAGS] &= ~L.PF_IN_FULL;
    Atomics.and(m, dw + L.P_REMOTE, ~L.TF_DELAYED);
    abandonPage(this.ctx, this.threadW, dw);
  }

  /**
   * Take over the heap of thread `threadId`, which died without detaching (a terminated or crashed
   * worker): what it had in flight is finished or undone, its empty pages go back to the pool and the
   * others are abandoned for adoption, and its slot is freed. Its live blocks stay valid. The thread
   * must really be dead. Returns false when `threadId` is not a live thread of the heap any more.
   */
  reclaim(threadId: number): boolean {
    if (this.detached) throw detachedError();
    if (threadId === this.threadId) throw new RangeError('a thread cannot reclaim itself: detach() instead');
    if (!Number.isSafeInteger(threadId) || threadId < 0) throw new RangeError(`not a thread id: ${String(threadId)}`);
    this.syncViews();
    return reclaimThread(this.ctx, this.threadW, threadId);
  }

  // ----------------------------------------------------------------------------------------------------

  /**
   * A non-shared WebAssembly.Memory detaches its buffer when it grows, so a growth by another instance in
   * this thread leaves this one's views empty, and reads from them give undefined. The fast paths fall
   * to a slow path then (malloc's pop needs a block index > 0, free's segment-table read matches no kind),
   * and every slow path and rare call renews the views first.
   */
  protected renewDetachedViews(): void {
    if (this.viewsDetached()) this.syncViews();
  }

  /**
   * Whether the views are over a buffer the memory has replaced. By buffer identity: optimized code was seen
   * to read a detached view's old length after a wasm memory grew, where its element reads gave undefined.
   */
  protected viewsDetached(): boolean {
    return this.mem.detachable && this.m.buffer !== HeapMemory.bufferOf(this.mem.memory);
  }

  /** Renew the views and the covered range after the memory has grown (here or in another thread). */
  protected syncViews(): void {
    const mem = this.mem;
    mem.refresh();
    if (this.detached) return;
    const claimed = Math.min(this.base + this.ctx.top() * L.SEGMENT_SIZE, this.ctx.heapLimit);
    if (mem.viewBytes < claimed) mem.ensure(claimed); // grown by another thread, not yet visible here
    this.m = mem.m;
    this.bytes = mem.u8;
    const end = Math.min(claimed, mem.viewBytes);
    this.heapWords = (end - this.base) / 4; // not >>> 2: the heap may end at 2^32
  }
}

/** A size argument: a non-negative integer, or a RangeError. */
export function checkSize(size: number): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0) {
    throw new RangeError(`size must be a non-negative integer, got ${String(size)}`);
  }
  return size;
}

export function detachedError(): WebmallocError {
  return new WebmallocError('DETACHED', 0, 'this allocator instance was detached');
}

