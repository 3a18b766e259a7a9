// Held large spans: the spans of large blocks (64 KiB to 1 MiB) a thread freed, which it keeps for its own
// next large block.
//
// A large block has a span of slices of its own. Claiming one from the shared pool and giving it back cost
// about 20 Atomics calls per malloc/free pair (the claim's loads and CAS on the segment's slice bits, the
// in-flight records that name the span, the release's ors on the slice bits and the summary) and writing
// every descriptor of the span twice. So the thread that frees a large block holds its span instead: the
// free's CAS, which refuses a double free, swaps the block's owner word from LIVE_BLOCK to LARGE_HELD | its
// slot (nobody else changes that word), and the span is listed here, with its slices still claimed and its
// descriptors as they were. The thread's next large block takes the smallest held span that fits: the
// slices it does not need go back to the pool, the block's words are written with plain stores, and the
// atomic store of LIVE_BLOCK publishes it. A pair then costs the free's guard and CAS and the publish. If
// none fits, a held span whose next slices are free grows into them (one CAS on the segment's slice bits).
//
// Bounds: at most MAX_SPANS spans and 1/8 of the heap's slices while the thread is alone; while others are
// attached, SHARED_SLICES (see share.ts; with the kept pages' 1/64 of the heap, npm start's peak memory went
// from about 500 MiB to 543-558, with 16 slices to 511). Held spans go back to the pool when none fits a
// large block or can grow (so that the claim that follows finds them, joined with their free neighbours),
// before the memory grows, on collect() and on detach(). A thread that dies leaves its spans held;
// reclaim() releases them.

import { HeldList, ThreadShare } from './share.js';

/** Held spans per thread. */
const MAX_SPANS = 8;
/** Slices a thread may hold while others are attached: one span of any size. */
const SHARED_SLICES = 16;

/** A thread's held spans: the descriptor of each (`start`, a word index) and its slices (`units`). */
export class HeldSpans extends HeldList {
  /** `othersAttached` looks up whether another thread is attached to the heap (see ThreadShare). */
  constructor(heapSlices: number, othersAttached: () => boolean) {
    super(MAX_SPANS, new ThreadShare(heapSlices, Math.min(1, SHARED_SLICES / heapSlices), 1 / 8, othersAttached));
  }
}
