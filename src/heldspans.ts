// Held large spans: the spans of large blocks (64 KiB to 1 MiB) a thread freed, which it keeps for its own
// next large block.
//
// A large block has a span of slices of its own. Claiming one from the shared pool and giving it back cost
// about 20 Atomics calls per malloc/free pair (the claim's loads and CAS on the segment's slice bits, the
// in-flight records that name the span, the release's ors on the slice bits and the summary) and writing
// every descriptor of the span twice. So the thread that frees a large block holds its span instead: the
// free's CAS, which refuses a double free, swaps the block's owner word from LIVE_BLOCK to LARGE_HELD | its
// slot (nobody else changes that word), and the span is listed here, with its slices still claimed and its
// descriptors as they were. The thread's next large block takes the smallest held span that fits; the
// block's words are written with plain stores, and the atomic store of LIVE_BLOCK publishes it. A pair then
// costs the free's guard and CAS and the publish (over a WebAssembly.Memory, wasm's atomics: memory.ts's
// store, spanblocks.ts's beginLargeFree). If none fits, a held span whose next slices are free grows into
// them (one CAS on the segment's slice bits).
//
// Split and joined in place: the slices a smaller block does not need stay held, as a span of their own, and
// a freed block's span joins the held spans right before and right after it (plain stores; a tail's
// descriptor only changes its way back to the head). So no two held spans are neighbours, and a larger block
// finds them whole. When the rest went back to the pool instead, blocks of random sizes (64 KiB to 1 MiB)
// took a release after each smaller block and a claim for each larger one: 106 ns per call; split and
// joined, 80; with wasm's atomics too, 57 (medians of five processes, first and last byte touched).
//
// Bounds: at most MAX_SPANS spans and 1/8 of the heap's slices while the thread is alone; while others are
// attached, SHARED_SLICES (see share.ts; with the kept pages' 1/64 of the heap, npm start's peak memory went
// from about 500 MiB to 543-558, with 16 slices to 511). Held spans go back to the pool when none fits a
// large block or can grow (so that the claim that follows finds them, joined with their free neighbours),
// before the memory grows, on collect() and on detach(). A thread that dies leaves its spans held;
// reclaim() releases them.

import { Layout as L } from './layout.js';
import { HeldList, ThreadShare } from './share.js';

/** Held spans per thread. */
const MAX_SPANS = 8;
/** Slices a thread may hold while others are attached: one span of any size. */
const SHARED_SLICES = 16;

/** A thread's held spans: the descriptor of each (`start`, a word index) and its slices (`units`). */
export class HeldSpans extends HeldList {
  /** `othersAttached` looks up whether another thread is attached to the heap (see ThreadShare). */
  constructor(heapSlices: number, othersAttached: () => boolean) {
    super(MAX_SPANS, new ThreadShare(heapSlices, Math.min(1, SHARED_SLICES / heapSlices), 1 / 8, othersAttached), L.DESC_WORDS);
  }

  /** The entry of the held span whose head is descriptor `dw`, or -1. */
  indexOf(dw: number): number {
    for (let i = 0; i < this.count; i++) if (this.start[i] === dw) return i;
    return -1;
  }
}
