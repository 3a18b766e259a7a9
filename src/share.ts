// The bound on what one thread keeps for its own reuse (emptied pages, kept.ts; freed huge runs, held.ts;
// freed large blocks' spans, heldspans.ts): a share of the heap while other threads are attached, a larger
// one while the thread is the heap's only one. What a thread keeps, no other thread can use, so it must stay
// small when others may need it; alone, giving it up would only make the thread take it back at a cost
// (Atomics calls), for nobody.

export class ThreadShare {
  /** Units (slices, segments) the two shares allow. */
  private readonly max: number;
  private readonly maxAlone: number;

  /**
   * `heapUnits`: the heap's size in the units kept; `share` and `shareAlone` of it may be kept while other
   * threads are attached and while none is. `othersAttached` tells whether another thread is attached to the
   * heap (a hint: othersAttachedWatch in registry.ts, one plain read unless a slot changed hands), asked each
   * time the small share is exceeded: a thread that attaches later is seen at the next such call; a thread
   * that goes idle keeps what it kept until its next calls.
   */
  constructor(
    heapUnits: number,
    share: number,
    shareAlone: number,
    private readonly othersAttached: () => boolean,
  ) {
    this.max = Math.floor(heapUnits * share);
    this.maxAlone = Math.floor(heapUnits * shareAlone);
  }

  /** Whether the thread may keep `units` in all. */
  allows(units: number): boolean {
    if (units <= this.max) return true;
    return units <= this.maxAlone && !this.othersAttached();
  }
}

/**
 * What a thread holds for its own reuse (held.ts: runs of segments; heldspans.ts: spans of slices): up to
 * `capacity` entries, each where it starts and how many units it spans, bounded by a ThreadShare. In JS
 * memory: only the thread reads it. Entries keep the order in which they were added.
 */
export class HeldList {
  readonly start: Int32Array;
  readonly units: Int32Array;
  count = 0;
  /** Units the entries span. */
  private total = 0;

  /**
   * `unitStep`: how far `start` moves per unit (1 for segments named by their index, DESC_WORDS for slices
   * named by their descriptor's word index).
   */
  constructor(
    readonly capacity: number,
    private readonly share: ThreadShare,
    private readonly unitStep: number,
  ) {
    this.start = new Int32Array(capacity);
    this.units = new Int32Array(capacity);
  }

  /** The entry that ends where `at` starts (the unit right after its last), or -1. */
  endingAt(at: number): number {
    for (let i = 0; i < this.count; i++) if (this.start[i]! + this.units[i]! * this.unitStep === at) return i;
    return -1;
  }

  /** Whether `units` more may be held, besides what is held now. */
  allows(units: number): boolean {
    return this.share.allows(this.total + units);
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  add(start: number, units: number): void {
    this.start[this.count] = start;
    this.units[this.count] = units;
    this.count++;
    this.total += units;
  }

  /** Entry `i` now spans `units` from `start`. */
  set(i: number, start: number, units: number): void {
    this.total += units - this.units[i]!;
    this.start[i] = start;
    this.units[i] = units;
  }

  /** Entry `i` leaves the list; the entries after it move up. */
  remove(i: number): void {
    this.total -= this.units[i]!;
    this.count--;
    for (let j = i; j < this.count; j++) {
      this.start[j] = this.start[j + 1]!;
      this.units[j] = this.units[j + 1]!;
    }
  }
}
