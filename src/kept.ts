// Kept pages: the emptied pages a thread holds on to for reuse, oldest first, and the bounds on how many.
//
// A page that empties (its owner freed its last block) and does not head its class's queue would go back
// to the shared pool at once; claiming a span again for the next page of the class costs a dozen atomics
// and the page's set-up. So the owner keeps it, queued where it was, and lists it here. The page's P_FLAGS
// carry PF_KEPT and the entry's stamp: an entry whose page was reused (PF_KEPT cleared) or listed again
// since (another stamp) is stale and passed over. A listed page leaves the list (Heap.releaseOldestKept),
// if it is still empty, at the first of:
// - KEEP_TICKS of the thread's slow-path calls after it emptied (mimalloc's retired pages, which expire
//   after a number of cycles, likewise): back to the pool;
// - the kept pages spanning more than a share of the heap (1/64, see share.ts) while other threads are attached:
//   the oldest is offered to every thread as an abandoned page (abandoned.ts). Any thread may adopt it for
//   its class, this one included, and any thread gives it back to the pool before the memory grows. So what
//   a thread keeps for itself alone stays small, and another thread that runs out of pages does not grow
//   the memory because of it. A thread that is the heap's only one keeps a larger share (1/8):
//   offering a page and adopting it back costs nine Atomics calls, for nobody (random-64k ran 559
//   instructions per call with the small share, 396 with the large one). Whether others are attached is
//   asked each time the small share is exceeded (one plain read unless a slot changed hands, see
//   registry.ts), so a thread that attaches later is seen at the thread's next frees and mallocs; a thread
//   that goes idle keeps what it kept (up to the large share) until it calls collect();
// - the pool running dry for this thread (before the memory grows), collect(), or detach(): back to the pool.
// A kept page that was reused meanwhile just leaves the list (the malloc slow path clears PF_KEPT of a
// page it takes a block from). The list is this thread's own (JS memory): a thread that dies leaves its
// kept pages empty in its queues, and reclaim() releases them like any other empty page.

import { ThreadShare } from './share.js';

/** Slow-path calls after which a kept page that is still empty goes back to the pool. */
export const KEEP_TICKS = 4096;

/** An entry's stamp is kept in P_FLAGS above the PF_* bits. */
export const STAMP_SHIFT = 4;
const STAMP_MASK = 0x0fffffff;

export class KeptPages {
  private pages = new Int32Array(64);
  private ticks = new Uint32Array(64);
  private stamps = new Int32Array(64);
  private first = 0;
  private nextStamp = 0;
  /** The stamp of the entry shift() took last. */
  shiftedStamp = 0;
  /** Entries listed (stale ones too). */
  count = 0;
  /** Slices the pages flagged PF_KEPT span (the stale entries' pages are no longer counted). */
  private slices = 0;
  /** The slices the kept pages may span (64 MiB of a 4 GiB heap, 512 MiB while no other thread is attached). */
  private readonly share: ThreadShare;

  /** `othersAttached` looks up whether another thread is attached to the heap (see ThreadShare). */
  constructor(heapSlices: number, othersAttached: () => boolean) {
    this.share = new ThreadShare(heapSlices, 1 / 64, 1 / 8, othersAttached);
  }

  /** List page `dw` of `span` slices, emptied at slow-path tick `tick`; returns the entry's stamp. */
  push(dw: number, span: number, tick: number): number {
    if (this.count === this.pages.length) this.grow();
    const i = (this.first + this.count) & (this.pages.length - 1);
    const stamp = (this.nextStamp = (this.nextStamp + 1) & STAMP_MASK);
    this.pages[i] = dw;
    this.ticks[i] = tick;
    this.stamps[i] = stamp;
    this.count++;
    this.slices += span;
    return stamp;
  }

  /** Whether the oldest page is due at tick `tick`: kept too long, or the list spans too much. */
  oldestDue(tick: number): boolean {
    return this.count !== 0 && (this.overCap() || ((tick - this.ticks[this.first]) >>> 0) > KEEP_TICKS);
  }

  /** Whether the kept pages span more than the thread may keep. */
  overCap(): boolean {
    return !this.share.allows(this.slices);
  }

  /** A page of `span` slices is no longer kept (reused, or its entry taken off): its slices stop counting. */
  unlist(span: number): void {
    this.slices -= span;
  }

  /** Take the oldest entry off the list (count > 0): its page, and its stamp in shiftedStamp. */
  shift(): number {
    const dw = this.pages[this.first];
    this.shiftedStamp = this.stamps[this.first];
    this.first = (this.first + 1) & (this.pages.length - 1);
    this.count--;
    return dw;
  }

  private grow(): void {
    const n = this.pages.length * 2;
    const pages = new Int32Array(n);
    const ticks = new Uint32Array(n);
    const stamps = new Int32Array(n);
    for (let k = 0; k < this.count; k++) {
      const i = (this.first + k) & (this.pages.length - 1);
      pages[k] = this.pages[i];
      ticks[k] = this.ticks[i];
      stamps[k] = this.stamps[i];
    }
    this.pages = pages;
    this.ticks = ticks;
    this.stamps = stamps;
    this.first = 0;
  }
}
