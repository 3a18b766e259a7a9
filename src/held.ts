// Held huge runs: the segments of huge blocks a thread freed, which it keeps for its own next huge block.
//
// A freed huge block's segments are cached whole in the segment table for the next huge block of any thread
// (SEG_HUGE_CACHED, see segments.ts). Reusing such a run costs a scan of the table and a CAS to claim it, one
// more per neighbour joined; with the publish and the free's CAS, 3.86 Atomics calls per malloc/free pair in
// the `large` benchmark, and a scan of every segment each time. So a thread that frees a huge block holds
// its run instead (SEG_HUGE_HELD, naming its slot: nobody else changes that word) and lists it here:
// - its next huge block that fits is set up at the end of the smallest held run that fits, with plain
//   stores (the held head's smaller count, the block's descriptor) and the publish of the block's head;
// - a block that starts where a held run ends is freed by a CAS of its head from HUGE straight to a tail
//   of that run, then the held head's count is rewritten (a plain store).
// A malloc/free pair then costs two Atomics calls (the publish and the free's CAS) and no scan.
//
// Bounds: a thread holds at most MAX_RUNS runs, spanning at most 1/8 of the heap's segments while it is the
// heap's only thread, and 1/64 while other threads are attached (see share.ts), as for kept pages: what it
// holds is memory they cannot use, and they grow the memory instead. Holding nothing while others were
// attached cost the most: two workers allocating and freeing blocks of 1..64 MiB (the `large` workload x2)
// took 213-218 ns per call, every block claimed from the shared cache with a scan of the segment table that
// both threads write, and raced each other into growing the memory (252-256 MiB for 118-128 MiB live); with
// 1/64, 15.1-15.8 ns and 142-167 MiB. npm start's 4 workers, whose mix has a few huge blocks, peaked at
// 571-578 MiB instead of 518-545. Whether others are attached is asked at every free (one plain read of the
// heap's count of slot changes; see registry.ts). Held runs go
// back to the cache, where every thread finds them, when no held run fits a huge block, before the memory
// grows, on collect() and on detach(); so what a thread held before others attached stays with it until then.
// A thread that dies leaves its runs held, and reclaim() releases them with its other claimed runs.

import { HeldList, ThreadShare } from './share.js';

/** Held runs per thread. */
const MAX_RUNS = 4;

/** A thread's held runs: the first segment of each (`start`) and its segments (`units`). */
export class HeldRuns extends HeldList {
  /** `othersAttached` looks up whether another thread is attached to the heap (see ThreadShare). */
  constructor(heapSegments: number, othersAttached: () => boolean) {
    super(MAX_RUNS, new ThreadShare(heapSegments, 1 / 64, 1 / 8, othersAttached), 1);
  }

  /** Whether a run of `k` more segments may be held (a run that joins a held one takes no entry). */
  mayHold(k: number, joins: boolean): boolean {
    return (!this.full() || joins) && this.allows(k);
  }
}
