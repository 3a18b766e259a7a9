// The thread registry: a fixed table of thread slots in the heap header. Attaching takes a free slot with one
// CAS (its generation counts up, so a stale thread id is told apart from the slot's next occupant);
// detaching hands the slot back. Slots are reused, so any number of workers may come and go. Each take and
// each hand-back counts up H_SLOT_CHANGES, so that whether others are attached is looked up in the table only
// when the answer may have changed (othersAttachedWatch).

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { NBINS } from './sizeclass.js';

export class RegistryFullError extends Error {
  override name = 'RegistryFullError';
}

/** Thread ids name a slot and its generation: id = generation * ID_SLOTS + slot. */
export const ID_SLOTS = 1024;

/**
 * Take a free thread slot and reset its record. Returns the thread id (slot and generation). With
 * `reserveOnly`, the slot waits for an instance to take it with takeReservedSlot. Throws when all `maxThreads`
 * slots are taken.
 */
export function acquireSlot(ctx: HeapContext, reserveOnly = false): number {
  const m = ctx.mem.m;
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    const w = ctx.threadW(slot);
    const s = Atomics.load(m, w + L.T_STATE);
    if ((s & 3) !== L.TS_FREE) continue;
    const generation = ((s >>> 2) + 1) & 0x1fffffff;
    if (Atomics.compareExchange(m, w + L.T_STATE, s, (generation << 2) | L.TS_LIVE) !== s) continue;

    // The previous occupant left its lists empty; T_DELAYED may still hold late remote frees: kept.
    m[w + L.T_FULL] = 0;
    m[w + L.T_SEGMENT_HINT] = 0;
    m[w + L.T_CLAIM_SPAN] = 0;
    m[w + L.T_CLAIM_SEGMENTS] = 0;
    m[w + L.T_RELEASING] = 0;
    m[w + L.T_HANDOVER] = 0;
    m[w + L.T_RELEASE_AT] = 0;
    m[w + L.T_BLOCK] = 0;
    Atomics.store(m, w + L.T_ATTACHED, reserveOnly ? 0 : 1);
    for (let b = 0; b < NBINS; b++) {
      m[w + L.T_QUEUES + b] = ctx.emptyPageW;
      m[w + L.T_QUEUE_TAILS + b] = 0;
    }
    Atomics.add(m, ctx.headerW + L.H_SLOT_CHANGES, 1);
    return generation * ID_SLOTS + slot;
  }
  throw new RegistryFullError(`all ${ctx.maxThreads} thread slots of the heap are taken (option maxThreads)`);
}

/**
 * Mark the thread `id` as leaving (detaching, or being reclaimed by another thread) if it is still the
 * live occupant of its slot. Returns false when it is not (it left already, or was reclaimed). With
 * `orLeaving`, a thread that died while detaching (already LEAVING) counts too.
 */
export function markLeaving(ctx: HeapContext, id: number, orLeaving = false): boolean {
  const slot = id % ID_SLOTS;
  const generation = Math.floor(id / ID_SLOTS);
  if (slot >= ctx.maxThreads) return false;
  const w = ctx.threadW(slot) + L.T_STATE;
  const live = (generation << 2) | L.TS_LIVE;
  const leaving = (generation << 2) | L.TS_LEAVING;
  const was = Atomics.compareExchange(ctx.mem.m, w, live, leaving);
  return was === live || (orLeaving && was === leaving);
}

/** Take slot `id` reserved by acquireSlot(ctx, true). Throws if it is not a reserved, untaken slot. */
export function takeReservedSlot(ctx: HeapContext, id: number): void {
  const slot = id % ID_SLOTS;
  const live = (Math.floor(id / ID_SLOTS) << 2) | L.TS_LIVE;
  const w = ctx.threadW(slot);
  if (!Number.isSafeInteger(id) || id < 0 || slot >= ctx.maxThreads || Atomics.load(ctx.mem.m, w + L.T_STATE) !== live) {
    throw new RangeError(`thread ${id} is not a reserved slot of this heap (reclaimed, or from another heap?)`);
  }
  if (Atomics.compareExchange(ctx.mem.m, w + L.T_ATTACHED, 0, 1) !== 0) throw new RangeError(`thread ${id} is taken already`);
}

/** Hand slot `slot` back (its pages must have been handed over already). */
export function releaseSlot(ctx: HeapContext, slot: number): void {
  const w = ctx.threadW(slot) + L.T_STATE;
  const s = Atomics.load(ctx.mem.m, w);
  Atomics.store(ctx.mem.m, w, ((s >>> 2) << 2) | L.TS_FREE);
  Atomics.add(ctx.mem.m, ctx.headerW + L.H_SLOT_CHANGES, 1);
}

/** Whether a slot other than `slot` is taken (live, reserved or leaving). Plain reads: a hint. */
export function otherSlotsTaken(ctx: HeapContext, slot: number): boolean {
  const m = ctx.mem.m;
  const n = ctx.maxThreads;
  for (let s = 0, w = ctx.threadW(0) + L.T_STATE; s < n; s++, w += L.THREAD_WORDS) {
    if (s !== slot && (m[w] & 3) !== L.TS_FREE) return true;
  }
  return false;
}

/**
 * Whether a slot other than `slot` is taken, as a function that reads the thread table again only when a slot
 * was taken or handed back since its last look (H_SLOT_CHANGES; one plain read otherwise, where the table
 * takes one per slot). The count is read before the table and added to after each change, so a change that
 * the look misses counts up afterwards and brings the next look. A hint, as otherSlotsTaken: a thread that
 * dies between taking its slot and counting is seen at the next change.
 */
export function othersAttachedWatch(ctx: HeapContext, slot: number): () => boolean {
  let seen = 0;
  let answer = true;
  let looked = false;
  return () => {
    const changes = ctx.mem.m[ctx.headerW + L.H_SLOT_CHANGES]!;
    if (!looked || changes !== seen) {
      seen = changes;
      looked = true;
      answer = otherSlotsTaken(ctx, slot);
    }
    return answer;
  };
}

/** Slots whose state is live. */
export function liveSlots(ctx: HeapContext): number[] {
  const out: number[] = [];
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    if ((Atomics.load(ctx.mem.m, ctx.threadW(slot) + L.T_STATE) & 3) !== L.TS_FREE) out.push(slot);
  }
  return out;
}
