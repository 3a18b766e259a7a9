// In-flight records: what a thread is about to put in an intermediate state, named in its thread record
// BEFORE the atomic step that creates that state and cleared only AFTER the object is consistent again.
// Written with Atomics.store, so that anyone who sees the intermediate state (with an atomic load) and then
// reads the record sees the name. reclaim() repairs intermediate states that no live thread names: those
// can only be left by a thread that died (a worker can be stopped between any two atomic operations).

import { Layout as L } from './layout.js';

/** Name slices [first, first + n) of segment `index` (a claim: T_CLAIM_SPAN). */
export function nameClaimedSpan(m: Int32Array, threadW: number, index: number, first: number, n: number): void {
  Atomics.store(m, threadW + L.T_CLAIM_SLICES, n);
  Atomics.store(m, threadW + L.T_CLAIM_SPAN, index * L.SLICES_PER_SEGMENT + first + 1);
}

/**
 * Name segments [first, first + count) (a claim of whole segments: T_CLAIM_SEGMENTS). The count is a plain
 * store: whoever reads the name with an atomic load and then the count sees it (the atomic store of the
 * name orders the count before it), and one locked instruction fewer is a few percent of a huge block.
 */
export function nameClaimedSegments(m: Int32Array, threadW: number, first: number, count: number): void {
  m[threadW + L.T_CLAIM_COUNT] = count;
  Atomics.store(m, threadW + L.T_CLAIM_SEGMENTS, first + 1);
}

/** Name a release: slices of one segment, or (segments = true) whole segments. */
export function nameRelease(m: Int32Array, threadW: number, index: number, first: number, count: number, segments: boolean): void {
  Atomics.store(m, threadW + L.T_RELEASE_COUNT, segments ? L.RELEASE_SEGMENTS | count : count);
  Atomics.store(m, threadW + L.T_RELEASE_AT, index * L.SLICES_PER_SEGMENT + first + 1);
}

export function clearRecord(m: Int32Array, threadW: number, word: number): void {
  Atomics.store(m, threadW + word, 0);
}
