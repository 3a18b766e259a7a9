// The thread registry: a fixed table of thread slots in the heap header. Attaching takes a free slot with one
// CAS (its generation counts up, so a stale thread id is told apart from the slot's next occupant);
// detaching hands the slot back. Slots are reused, so any number of workers may come and go.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { NBINS } from './sizeclass.js';

export class RegistryFullError extends Error {
  override name = 'RegistryFullError';
}

/** Take a free thread slot and reset its record. Throws when all `maxThreads` slots are taken. */
export function acquireSlot(ctx: HeapContext): number {
  const m = ctx.mem.m;
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    const w = ctx.threadW(slot);
    const s = Atomics.load(m, w + L.T_STATE);
    if ((s & 3) !== L.TS_FREE) continue;
    const live = ((((s >>> 2) + 1) & 0x3fffffff) << 2) | L.TS_LIVE;
    if (Atomics.compareExchange(m, w + L.T_STATE, s, live >>> 0) !== s) continue;
    // The previous occupant left its lists empty; T_DELAYED may still hold late remote frees: kept.
    m[w + L.T_FULL] = 0;
    m[w + L.T_SEGMENT_HINT] = 0;
    for (let b = 0; b < NBINS; b++) {
      m[w + L.T_QUEUES + b] = ctx.emptyPageW;
      m[w + L.T_QUEUE_TAILS + b] = 0;
    }
    return slot;
  }
  throw new RegistryFullError(`all ${ctx.maxThreads} thread slots of the heap are taken (option maxThreads)`);
}

/** Hand slot `slot` back (its pages must have been handed over already). */
export function releaseSlot(ctx: HeapContext, slot: number): void {
  const w = ctx.threadW(slot) + L.T_STATE;
  const s = Atomics.load(ctx.mem.m, w);
  Atomics.store(ctx.mem.m, w, ((s >>> 2) << 2) | L.TS_FREE);
}

/** Slots whose state is live. */
export function liveSlots(ctx: HeapContext): number[] {
  const out: number[] = [];
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    if ((Atomics.load(ctx.mem.m, ctx.threadW(slot) + L.T_STATE) & 3) !== L.TS_FREE) out.push(slot);
  }
  return out;
}
