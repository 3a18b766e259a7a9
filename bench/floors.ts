// The floors: not allocators, but what the benchmark's loops cost with the least an allocator can do. For
// xmalloc, what handing blocks between two cores costs on this machine when freed blocks come back to the
// producer in one of three ways (FloorAllocator); for the single-thread workloads of one size (pairs, batch),
// one bare free list (FloorList); for the random sizes, one bare free list per size class (FloorClasses). A
// module of their own, so that the report can name them without loading the contenders' allocators.

import type { BenchAllocator } from './peers/types.js';
import { XM_MAX } from './workloads.js';

/** The floors of xmalloc (FloorAllocator): how freed blocks come back to the producer. */
export const FLOORS = ['floor', 'floor-list', 'floor-batch'] as const;
/** Every floor's name: xmalloc's (of which floor-list also runs the workloads of one size), and the random
 *  workloads' floor-classes. */
export type FloorName = (typeof FLOORS)[number] | 'floor-classes';

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
 * What the floors (and the benchmark's 'none') share: not allocators, their blocks are all of one kind, so
 * calloc, realloc and aligned allocation are their malloc (up to `alignment`). Each process runs one
 * contender, so the methods' call sites stay monomorphic. Unlike BenchAllocator's, their free(0) is not
 * looked at: the workloads never free 0, and a floor takes no test it does not need.
 */
export abstract class BareAllocator implements BenchAllocator {
  abstract readonly name: string;
  readonly linear = true;
  readonly shared = true;
  abstract readonly u8: Uint8Array;
  /** The alignment every block has. */
  protected abstract readonly alignment: number;
  abstract malloc(size: number): number;
  abstract free(ptr: number): void;
  abstract footprint(): number;

  calloc(count: number, size: number): number {
    return this.malloc(count * size);
  }
  realloc(_ptr: number, size: number): number {
    return this.malloc(size);
  }
  alignedAlloc(align: number, size: number): number {
    return align <= this.alignment ? this.malloc(size) : 0;
  }
  bytes(ptr: number, size: number): Uint8Array {
    return this.u8.subarray(ptr, ptr + size);
  }
}

/**
 * Not allocators: the floors of xmalloc on this machine. malloc hands out 256-byte blocks (FLOOR_BLOCK) from the memory a producer and its consumer share (FLOOR_BYTES); no size classes, no metadata.
 * They differ only in how a block the consumer frees comes back to the producer:
 * - 'floor': it does not. free writes one word into the block (the link a free list would write), and malloc
 *   always takes a fresh block, in address order, round a ring larger than the blocks in flight. What moving
 *   the blocks between the cores costs, and nothing else.
 * - 'floor-list': free pushes the block onto one shared list with a CAS, its link written into the block;
 *   malloc pops from its own list, and when that is empty takes the shared one whole (one exchange). The
 *   thread-free list of mimalloc (and of webmalloc up to its layout 15), bare: no pages, no counts, no other checks.
 * - 'floor-batch': free writes the block's address into a buffer of the consumer's own; every 256 it copies
 *   them into a slot of the shared memory and publishes the slot (one atomic store). malloc takes from its
 *   own buffer, refilled from a published slot when empty. Nothing is written into a freed block.
 * A FloorAllocator is for one producer (malloc) and one consumer (free): each side keeps its own state.
 */
export class FloorAllocator extends BareAllocator {
  protected readonly alignment = 16;
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
    super();
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

  footprint(): number {
    return this.u8.length;
  }
}

/** The single-thread workloads that FloorList runs: one size each. */
export const FLOOR_SINGLE = ['pairs-16', 'pairs-64', 'pairs-256', 'pairs-4096', 'batch-64'] as const;

/**
 * The floor of the single-thread workloads of one size (FLOOR_SINGLE), named 'floor-list' in the report as
 * xmalloc's list is: the cheapest allocator JS can have, called through the benchmark's own loops. One free
 * list of slots of the first request's size (rounded up to 16), linked through the slots in an Int32Array over
 * a SharedArrayBuffer, as webmalloc's are; malloc pops (or takes a fresh slot), free pushes, both plain; no
 * size classes, no pages, no checks, not even free(0)'s (the workloads never free 0; with the test, batch-64
 * took 3.78-3.81 ns per call instead of 3.52-3.57). A contender's time above it is the contender's own work.
 */
export class FloorList extends BareAllocator {
  readonly name = 'floor-list';
  protected readonly alignment = 16;
  readonly u8: Uint8Array;
  private readonly m: Int32Array;
  /** The slots' size: the first request's, rounded up to 16 (0 until then). */
  private slot = 0;
  /** The list's head (0: empty), and the next fresh slot. */
  private head = 0;
  private next = 64;

  constructor() {
    super();
    const memory = new SharedArrayBuffer(FLOOR_BYTES);
    this.u8 = new Uint8Array(memory);
    this.m = new Int32Array(memory);
  }

  malloc(size: number): number {
    const b = this.head;
    if (b !== 0 && size <= this.slot) {
      this.head = this.m[b >>> 2]!;
      return b;
    }
    return this.fresh(size);
  }

  free(ptr: number): void {
    this.m[ptr >>> 2] = this.head;
    // `| 0`: the loops pass addresses read from a Float64Array; stored as they come, the field became a
    // boxed double, and batch-64 took 4.9 ns per call instead of 3.1.
    this.head = ptr | 0;
  }

  private fresh(size: number): number {
    if (this.slot === 0) this.slot = (Math.max(size, 1) + 15) & -16;
    if (size > this.slot) throw new Error(`floor-list serves one size: ${this.slot} bytes, asked for ${size}`);
    if (this.next + this.slot > this.u8.length) return 0;
    const p = this.next;
    this.next += this.slot;
    return p;
  }

  footprint(): number {
    return this.next;
  }
}

/** The random workloads, which FloorClasses runs (at their default block counts). */
export const FLOOR_RANDOM = ['random-512', 'random-64k'] as const;

/**
 * The floor that runs single-thread workload `w` (npm run bench, bench:instructions, the mimalloc target's
 * note): floor-list on the workloads of one size, floor-classes on the random sizes; undefined for the others.
 */
export function singleFloorOf(w: string): 'floor-list' | 'floor-classes' | undefined {
  if ((FLOOR_SINGLE as readonly string[]).includes(w)) return 'floor-list';
  if ((FLOOR_RANDOM as readonly string[]).includes(w)) return 'floor-classes';
  return undefined;
}

/** FloorClasses: the largest request it serves (the random workloads' largest), its memory, its chunks. */
export const FLOOR_CLASSES_MAX = 65536;
export const FLOOR_CLASSES_BYTES = 1 << 30;
const CHUNK_SHIFT = 16;
const CHUNK = 1 << CHUNK_SHIFT;
/** Classes 1..80 (floorClassOf); 0 is no class. */
const FLOOR_CLASSES = 81;

/**
 * Size class of a request of `size` bytes (1..FLOOR_CLASSES_MAX) in FloorClasses: 16-byte steps up to 128
 * bytes (classes 1 to 8), then eight per doubling (9 to 80), webmalloc's spacing (sizeclass.ts; its 8-byte
 * class aside: here every block is 16-aligned). Worked out, not looked up in a table.
 */
export function floorClassOf(size: number): number {
  if (size <= 128) return (size + 15) >>> 4 || 1;
  const s = size - 1;
  const e = 31 - Math.clz32(s); // 7..15: 2^e <= s < 2^(e+1)
  return 9 + ((e - 7) << 3) + ((s >>> (e - 3)) & 7);
}

/** The block size of class `c` (floorClassOf's inverse: the largest request of the class). */
export function floorClassSize(c: number): number {
  if (c <= 8) return c << 4;
  const k = c - 9;
  return (9 + (k & 7)) << ((k >>> 3) + 4);
}

/**
 * The floor of the random workloads (FLOOR_RANDOM), 'floor-classes': the cheapest segregated-fit allocator JS
 * can have, called through the benchmark's own loops. One free list per size class (floorClassOf), linked
 * through the blocks in an Int32Array over a SharedArrayBuffer, as webmalloc's are, its heads in a small array
 * of its own; malloc pops (or carves a fresh block), free pushes, both plain. Each class carves its blocks from
 * chunks of its own (64 KiB, or eight blocks' worth rounded up to 64 KiB), so that a class's blocks lie together
 * as on a page, and free finds the class from one byte per 64 KiB. No pages, no counts, no checks of any kind:
 * what webmalloc does above it (the pointer's validation, its page's descriptor, the count that tells an empty
 * page, the call into wasm) is webmalloc's own cost.
 */
export class FloorClasses extends BareAllocator {
  readonly name = 'floor-classes';
  protected readonly alignment = 16;
  readonly u8: Uint8Array;
  private readonly m: Int32Array;
  /** The class of each 64 KiB chunk of the memory (0: not carved). */
  private readonly chunkClass: Uint8Array;
  /** Per class: the free list's head (0: empty), and where its chunk's next fresh block is and ends. */
  private readonly heads = new Int32Array(FLOOR_CLASSES);
  private readonly carve = new Float64Array(FLOOR_CLASSES);
  private readonly carveEnd = new Float64Array(FLOOR_CLASSES);
  /** Memory carved into chunks so far (the first chunk is left out: 0 is no block). */
  private top = CHUNK;

  constructor(bytes = FLOOR_CLASSES_BYTES) {
    super();
    const memory = new SharedArrayBuffer(bytes);
    this.u8 = new Uint8Array(memory);
    this.m = new Int32Array(memory);
    this.chunkClass = new Uint8Array(bytes >>> CHUNK_SHIFT);
  }

  malloc(size: number): number {
    if (size > FLOOR_CLASSES_MAX) return 0;
    const c = floorClassOf(size);
    const b = this.heads[c]!;
    if (b !== 0) {
      this.heads[c] = this.m[b >>> 2]!;
      return b;
    }
    return this.fresh(c);
  }

  free(ptr: number): void {
    const c = this.chunkClass[ptr >>> CHUNK_SHIFT]!;
    this.m[ptr >>> 2] = this.heads[c]!;
    this.heads[c] = ptr;
  }

  private fresh(c: number): number {
    const size = floorClassSize(c);
    let p = this.carve[c]!;
    if (p + size > this.carveEnd[c]!) { // (a class with no chunk yet: both 0)
      const bytes = Math.max(CHUNK, Math.ceil((8 * size) / CHUNK) * CHUNK);
      if (this.top + bytes > this.u8.length) return 0;
      p = this.top;
      this.top += bytes;
      this.chunkClass.fill(c, p >>> CHUNK_SHIFT, this.top >>> CHUNK_SHIFT);
      this.carveEnd[c] = this.top;
    }
    this.carve[c] = p + size;
    return p;
  }

  footprint(): number {
    return this.top;
  }
}

/** Whether contender `name` is one of the floors. */
export function isFloor(name: string): name is FloorName {
  return (FLOORS as readonly string[]).includes(name) || name === 'floor-classes';
}
