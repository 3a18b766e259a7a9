// The bound on what one thread keeps for its own reuse (emptied pages, kept.ts; freed huge runs, held.ts):
// a share of the heap while other threads are attached, a larger one while the thread is the heap's only
// one. What a thread keeps, no other thread can use, so it must stay small when others may need it; alone,
// giving it up would only make the thread take it back at a cost (Atomics calls), for nobody.

/** At most this share of the heap is kept by one thread... */
export const SHARE = 1 / 64;
/** ...or this share while no other thread is attached. */
export const SHARE_ALONE = 1 / 8;
/** Times the small share is found exceeded between two lookups of whether other threads are attached. */
const ALONE_RECHECK = 64;

export class ThreadShare {
  /** Units (slices, segments) the two shares allow. */
  readonly max: number;
  readonly maxAlone: number;
  /** Whether no other thread was attached at the last lookup, and lookups left until the next one. */
  private alone = false;
  private untilRecheck = 0;

  /**
   * `heapUnits`: the heap's size in the units kept. `othersAttached` looks up whether another thread is
   * attached to the heap (a hint: plain reads do). A thread that attaches later is seen within ALONE_RECHECK
   * calls that exceed the small share; a thread that goes idle keeps what it kept until its next calls.
   */
  constructor(
    heapUnits: number,
    private readonly othersAttached: () => boolean,
  ) {
    this.max = Math.floor(heapUnits * SHARE);
    this.maxAlone = Math.floor(heapUnits * SHARE_ALONE);
  }

  /** Whether the thread may keep `units` in all. */
  allows(units: number): boolean {
    if (units <= this.max) return true;
    if (--this.untilRecheck <= 0) {
      this.untilRecheck = ALONE_RECHECK;
      this.alone = !this.othersAttached();
    }
    return this.alone && units <= this.maxAlone;
  }
}
