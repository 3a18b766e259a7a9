// Peer: no allocator at all — what JS code does without one. malloc(n) is `new Uint8Array(n)`; free(p) drops
// the reference, and the garbage collector reclaims the memory whenever it runs. So "free" here costs almost
// nothing at the call and the real cost of freeing shows up later, as GC pauses spread over the run (a
// benchmark should time whole runs, and may force a GC between runs with --expose-gc, not single calls).
//
// Pointers are fake: small integer ids (multiples of 16, never 0) indexing a table of the live arrays, so the
// shape matches the other peers. They are not offsets into any memory: `u8` is empty (linear = false) and a
// workload must write through bytes(ptr, n), which returns the block's own Uint8Array. Freed ids are reused
// (last freed, first reused), as an allocator reuses addresses.
//
// Notes for the benchmark:
// - One instance per worker; arrays cannot be shared between workers (no cross-thread free).
// - alignedAlloc ignores the alignment: a typed array has no address to align.
// - new Uint8Array(n) zeroes its memory, so malloc and calloc cost the same.
// - V8 keeps small typed arrays (up to 64 bytes) on the JS heap and larger ones off it: footprint() reports
//   the live bytes counted here; process.memoryUsage() shows the host's view (heapUsed + arrayBuffers).

import type { BenchAllocator } from "./types.js";
import { validSize } from "./types.js";

const EMPTY = new Uint8Array(0);
const ID_STEP = 16;

export class PlainJs implements BenchAllocator {
  readonly name = "plain-js";
  readonly linear = false;
  readonly shared = false;
  /** Empty: plain JS blocks are separate arrays. Use bytes(). */
  readonly u8: Uint8Array = EMPTY;
  /** slots[i] is the block whose id is (i + 1) * ID_STEP, or undefined when that id is free. */
  private readonly slots: (Uint8Array | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private liveBytes = 0;

  private put(block: Uint8Array): number {
    const i = this.freeSlots.length !== 0 ? this.freeSlots.pop()! : this.slots.length;
    this.slots[i] = block;
    this.liveBytes += block.length;
    return (i + 1) * ID_STEP;
  }

  private slotOf(ptr: number): number {
    const i = ptr / ID_STEP - 1;
    if (!Number.isInteger(i) || i < 0 || i >= this.slots.length || this.slots[i] === undefined)
      throw new Error(`plain-js: ${ptr} is not a live block`);
    return i;
  }

  malloc(size: number): number {
    if (!validSize(size)) return 0;
    let block: Uint8Array;
    try {
      block = new Uint8Array(size);
    } catch {
      return 0; // RangeError: the host cannot give that much
    }
    return this.put(block);
  }

  free(ptr: number): void {
    if (ptr === 0) return;
    const i = this.slotOf(ptr);
    this.liveBytes -= this.slots[i]!.length;
    this.slots[i] = undefined; // the array is garbage now: the GC frees it, some time later
    this.freeSlots.push(i);
  }

  calloc(count: number, size: number): number {
    const total = count * size;
    if (!validSize(count) || !validSize(size) || !validSize(total)) return 0;
    return this.malloc(total); // new arrays are zeroed
  }

  realloc(ptr: number, size: number): number {
    if (ptr === 0) return this.malloc(size);
    if (!validSize(size)) return 0;
    if (size === 0) {
      this.free(ptr);
      return 0;
    }
    const i = this.slotOf(ptr);
    const old = this.slots[i]!;
    let block: Uint8Array;
    try {
      block = new Uint8Array(size);
    } catch {
      return 0;
    }
    block.set(size >= old.length ? old : old.subarray(0, size));
    this.slots[i] = block; // same id: the "pointer" does not move
    this.liveBytes += size - old.length;
    return ptr;
  }

  alignedAlloc(_align: number, size: number): number {
    return this.malloc(size);
  }

  /** The block itself (a subarray when `size` is less than its length). */
  bytes(ptr: number, size: number): Uint8Array {
    const block = this.slots[this.slotOf(ptr)]!;
    return size >= block.length ? block : block.subarray(0, size);
  }

  /** Bytes of the live arrays (requested sizes); what the GC has not reclaimed yet is not counted. */
  footprint(): number {
    return this.liveBytes;
  }
}
