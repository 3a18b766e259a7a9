// In-flight records: what a thread is about to put in an intermediate state, named in its thread record
// BEFORE the atomic step that creates that state and cleared only AFTER the object is consistent again.
// Written with atomic stores (memory.ts's store: wasm's over a WebAssembly.Memory, Atomics.store over other
// memories), so that anyone who sees the intermediate state (with an atomic load) and then reads the record
// sees the name. reclaim() repairs intermediate states that no live thread names: those
// can only be left by a thread that died (a worker can be stopped between any two atomic operations).

import { Layout as L } from './layout.js';
import type { HeapMemory } from './memory.js';

/** Name slices [first, first + n) of segment `index` (a claim: T_CLAIM_SPAN). */
export function nameClaimedSpan(mem: HeapMemory, threadW: number, index: number, first: number, n: number): void {
  mem.store(threadW + L.T_CLAIM_SLICES, n);
  mem.store(threadW + L.T_CLAIM_SPAN, index * L.SLICES_PER_SEGMENT + first + 1);
}

/**
 * Name segments [first, first + count) (a claim of whole segments: T_CLAIM_SEGMENTS). The count is a plain
 * store: whoever reads the name with an atomic load and then the count sees it (the atomic store of the
 * name orders the count before it), and one locked instruction fewer is a few percent of a huge block.
 */
export function nameClaimedSegments(mem: HeapMemory, threadW: number, first: number, count: number): void {
  mem.m[threadW + L.T_CLAIM_COUNT] = count;
  mem.store(threadW + L.T_CLAIM_SEGMENTS, first + 1);
}

/** Name a release: slices of one segment, or (segments = true) whole segments. */
export function nameRelease(mem: HeapMemory, threadW: number, index: number, first: number, count: number, segments: boolean): void {
  mem.store(threadW + L.T_RELEASE_COUNT, segments ? L.RELEASE_SEGMENTS | count : count);
  mem.store(threadW + L.T_RELEASE_AT, index * L.SLICES_PER_SEGMENT + first + 1);
}

/** Name page `dw`, between its owner word and its abandoned bit (abandoning or adopting it: T_HANDOVER). */
export function nameHandover(mem: HeapMemory, threadW: number, dw: number): void {
  mem.store(threadW + L.T_HANDOVER, dw);
}

/** The record's word `word` (T_*) names nothing again: the object it named is consistent. */
export function clearRecord(mem: HeapMemory, threadW: number, word: number): void {
  mem.store(threadW + word, 0);
}
