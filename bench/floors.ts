// The floors of xmalloc: not allocators, but what handing blocks between two cores costs on this machine
// when freed blocks come back to the producer in one of three ways (FloorAllocator). A module of their own, so
// that the report can name them without loading the contenders' allocators.

import type { BenchAllocator } from './peers/types.js';
import { XM_MAX } from './workloads.js';

/** The floors of xmalloc (FloorAllocator): how freed blocks come back to the producer. */
export const FLOORS = ['floor', 'floor-list', 'floor-batch'] as const;
export type FloorName = (typeof FLOORS)[number];

/** Bytes a producer/consumer pair's FloorAllocator takes: blocks, and the batches handed back. */
export const FLOOR_BYTES = 8 << 20;
/** Every block is xmalloc's largest request (one class: any freed block fits any request). */
const FLOOR_BLOCK = XM_MAX;
/** floor-batch: blocks per batch handed back, and batch slots (more than can be waiting: the blocks in
 *  flight are at most 33 batches' worth). */
export const FLOOR_BATCH = 256;
const BATCH_SLOTS = 64;
// Words of the shared memory: floor-list's list head; floor-batch's batches published and taken; its slots.
const LIST_HEAD = 0;
const PUBLISHED = 16;
const TAKEN = 32;
const SLOTS_W = 48;
const BLOCKS_FROM = (SLOTS_W + BATCH_SLOTS * FLOOR_BATCH) * 4;

/**
 * Not allocators: the floors of xmalloc on this machine. malloc hands out 256-byte blocks (FLOOR_BLOCK) from the memory a producer and its consumer share (FLOOR_BYTES); no size classes, no metadata.
 * They differ only in how a block the consumer frees comes back to the producer:
 * - 'floor': it does not. free writes one word into the block (the link a free list would write), and malloc
 *   always takes a fresh block, in address order, round a ring larger than the blocks in flight. What moving
 *   the blocks between the cores costs, and nothing else.
 * - 'floor-list': free pushes the block onto one shared list with a CAS, its link written into the block;
 *   malloc pops from its own list, and when that is empty takes the shared one whole (one exchange). The
 *   thread-free list of webmalloc and mimalloc, bare: no pages, no counts, no other checks.
 * - 'floor-batch': free writes the block's address into a buffer of the consumer's own; every 256 it copies
 *   them into a slot of the shared memory and publishes the slot (one atomic store). malloc takes from its
 *   own buffer, refilled from a published slot when empty. Nothing is written into a freed block.
 * A FloorAllocator is for one producer (malloc) and one consumer (free): each side keeps its own state.
 */
export class FloorAllocator implements BenchAllocator {
  readonly linear = true;
  readonly shared = true;
  readonly u8: Uint8Array;
  private readonly m: Int32Array;
  /** Next fresh block. */
  private next = BLOCKS_FROM;
  /** floor-list: the producer's own list. */
  private local = 0;
  /** floor-batch: the blocks of the side's own batch (the consumer's being filled, the producer's being used). */
  private readonly batch = new Int32Array(FLOOR_BATCH);
  private inBatch = 0;
  private published = 0;
  private taken = 0;

  constructor(
    readonly name: FloorName,
    memory: SharedArrayBuffer,
  ) {
    this.u8 = new Uint8Array(memory);
    this.m = new Int32Array(memory);
  }

  malloc(size: number): number {
    if (size > FLOOR_BLOCK) return 0;
    if (this.name === 'floor-list') {
      if (this.local === 0) this.local = Atomics.exchange(this.m, LIST_HEAD, 0);
      const b = this.local;
      if (b !== 0) {
        this.local = this.m[b >>> 2]!;
        return b;
      }
    } else if (this.name === 'floor-batch') {
      if (this.inBatch === 0 && this.taken < Atomics.load(this.m, PUBLISHED)) {
        const at = SLOTS_W + (this.taken % BATCH_SLOTS) * FLOOR_BATCH;
        this.batch.set(this.m.subarray(at, at + FLOOR_BATCH));
        this.inBatch = FLOOR_BATCH;
        Atomics.store(this.m, TAKEN, ++this.taken);
      }
      if (this.inBatch > 0) return this.batch[--this.inBatch]!;
    }
    // A fresh block. floor: round the ring; the others come here only while fewer blocks than are in flight
    // have been handed out, so they never come round.
    if (this.next + FLOOR_BLOCK > this.u8.length) {
      if (this.name !== 'floor') throw new Error(`${this.name}: more fresh blocks than can be in flight`);
      this.next = BLOCKS_FROM;
    }
    const p = this.next;
    this.next += FLOOR_BLOCK;
    return p;
  }

  free(ptr: number): void {
    if (this.name === 'floor-list') {
      for (;;) {
        const head = Atomics.load(this.m, LIST_HEAD);
        this.m[ptr >>> 2] = head;
        if (Atomics.compareExchange(this.m, LIST_HEAD, head, ptr) === head) return;
      }
    }
    if (this.name === 'floor-batch') {
      this.batch[this.inBatch++] = ptr;
      if (this.inBatch === FLOOR_BATCH) {
        if (this.published - Atomics.load(this.m, TAKEN) >= BATCH_SLOTS) throw new Error('floor-batch: every slot is waiting');
        this.m.set(this.batch, SLOTS_W + (this.published % BATCH_SLOTS) * FLOOR_BATCH);
        Atomics.store(this.m, PUBLISHED, ++this.published);
        this.inBatch = 0;
      }
      return;
    }
    this.m[ptr >>> 2] = ptr; // the link a free list would write
  }

  calloc(count: number, size: number): number {
    return this.malloc(count * size);
  }
  realloc(_ptr: number, size: number): number {
    return this.malloc(size);
  }
  alignedAlloc(align: number, size: number): number {
    return align <= 16 ? this.malloc(size) : 0;
  }
  bytes(ptr: number, size: number): Uint8Array {
    return this.u8.subarray(ptr, ptr + size);
  }
  footprint(): number {
    return this.u8.length;
  }
}

/** Whether contender `name` is one of the floors. */
export function isFloor(name: string): name is FloorName {
  return (FLOORS as readonly string[]).includes(name);
}
