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
//   its class, and any thread gives it back to the pool before the memory grows; this one lists what it
//   offered (OfferedPages, below) and takes its own back first. So what a thread keeps for itself alone
//   stays small, and another thread that runs out of pages does not grow the memory because of it. A
//   thread that is the heap's only one keeps a larger share (1/8): offering a page and taking it back costs
//   nine atomic operations, for nobody (random-64k ran 559 instructions per call with the small share, 396
//   with the large one, when they were Atomics calls and a search). Whether others are attached is
//   asked each time the small share is exceeded (one plain read unless a slot changed hands, see
//   registry.ts), so a thread that attaches later is seen at the thread's next frees and mallocs; a thread
//   that goes idle keeps what it kept (up to the large share) until it calls collect();
// - the pool running dry for this thread (before the memory grows), collect(), or detach(): back to the pool.
// A kept page that was reused meanwhile just leaves the list (the malloc slow path clears PF_KEPT of a
// page it takes a block from). The list is this thread's own (JS memory): a thread that dies leaves its
// kept pages empty in its queues, and reclaim() releases them like any other empty page.

import { NBINS } from './sizeclass.js';
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

/** Pages per class that OfferedPages remembers at most (the oldest is forgotten first). */
const OFFERED_MAX = 1024;

/**
 * The pages this thread offered (its kept pages beyond its share, abandoned for every thread to adopt),
 * per class, newest first: its own next page of the class is taken back from here, by the abandoned bit's
 * CAS as any adopter takes one (abandoned.ts, retake), without the search of the abandoned pages that
 * adoptAbandoned makes. That search reads the descriptors of the segments' abandoned pages of every class to
 * find one of its own, misses mostly, and drops a segment's summary bit (an atomic AND, then atomic loads)
 * about once per adoption. An entry goes stale when another thread adopted the page, or it went back to the
 * pool: then the CAS fails, or takes whatever page heads that slice now, which the caller queues in its own
 * class. In JS memory, a ring per class that grows as pages are offered, up to OFFERED_MAX: only this thread
 * reads it, and a page forgotten here is still found by the search.
 */
export class OfferedPages {
  private readonly rings: Int32Array[] = [];
  /** Per class: the newest entry's place plus one (modulo the ring's length), and the entries held. */
  private readonly top = new Int32Array(NBINS);
  private readonly held = new Int32Array(NBINS);

  constructor() {
    for (let bin = 0; bin < NBINS; bin++) this.rings.push(new Int32Array(4));
  }

  push(bin: number, dw: number): void {
    let ring = this.rings[bin]!;
    const held = this.held[bin]!;
    if (held === ring.length && ring.length < OFFERED_MAX) ring = this.grow(bin);
    const top = this.top[bin]! % ring.length;
    ring[top] = dw;
    this.top[bin] = top + 1;
    if (held < ring.length) this.held[bin] = held + 1;
  }

  /** The newest page offered of class `bin` still listed, or 0. */
  pop(bin: number): number {
    const held = this.held[bin]!;
    if (held === 0) return 0;
    const ring = this.rings[bin]!;
    this.held[bin] = held - 1;
    const top = (this.top[bin]! - 1 + ring.length) % ring.length;
    this.top[bin] = top;
    return ring[top]!;
  }

  /** Class `bin`'s ring, full, twice as long: its entries oldest first, then room. */
  private grow(bin: number): Int32Array {
    const old = this.rings[bin]!;
    const ring = new Int32Array(old.length * 2);
    const top = this.top[bin]!;
    for (let k = 0; k < old.length; k++) ring[k] = old[(top + k) % old.length]!;
    this.rings[bin] = ring;
    this.top[bin] = old.length;
    return ring;
  }
}
