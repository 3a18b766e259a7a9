// Peer: @thi.ng/malloc's MemPool, a pure-TypeScript first-fit allocator over one ArrayBuffer.
//
// What the benchmark must know (from reading its 6.1.x source):
// - Single-threaded, no atomics: one instance per worker, never shared (no xmalloc-style cross-thread frees).
// - The pool has a fixed size, chosen at creation ({ size }); it never grows, and a malloc that does not fit
//   returns 0. Addresses are 32-bit, so at most 4 GiB minus a little.
// - Cost grows with the number of blocks: free() searches the list of used blocks for the pointer (O(live
//   blocks)), then inserts it into the address-sorted free list and runs a compaction pass over that list
//   (O(free blocks)); malloc() is first fit over the free list (O(free blocks)). Workloads that keep many
//   blocks live are therefore quadratic overall. Measured here (random-512 pattern, from JS): ~4 us per op
//   with 2,000 live blocks, ~8 us with 4,000, so ~200 us per op with 100,000 (over a minute per round).
//   Caps the benchmark must apply (THING_MALLOC_CAPS below): keep live blocks at about 2,000 or fewer —
//   batch-64 (1,000 live) and larson (1,000 slots per thread) run as they are; random-512 and random-64k must
//   run with 2,000 blocks instead of 100,000 / 10,000 (and say so next to the figure). realloc-grow and large
//   are fine if the pool is big enough (large needs a pool > 64 MiB; random-64k with 2,000 blocks ~70 MiB).
//   pairs-N and aligned are cheap here (one live block).
// - Blocks are aligned to the pool's `align` (16 here, like the other peers); larger alignments are not
//   supported by MemPool, so alignedAlloc over-allocates and remembers the real block in a side table.
// - Its realloc leaks the old block whenever it has to move it (6.1.150 calls free() with the block's header
//   address instead of its data address, which free() does not find): this adapter frees the old block itself.
// - malloc(0) returns 0 in MemPool: the adapter asks for 1 byte instead, like the C allocators, which return a
//   unique pointer.

import { MemPool, type MemPoolOpts } from "@thi.ng/malloc";
import { type BenchAllocator, validSize } from "./types.js";

/** Live-block caps the benchmark should apply to this peer, by workload (undefined: no cap needed). */
export const THING_MALLOC_CAPS: Readonly<Record<string, { maxLiveBlocks?: number; minPoolBytes?: number }>> = {
  "batch-64": { maxLiveBlocks: 1000 },
  "random-512": { maxLiveBlocks: 2000 },
  "random-64k": { maxLiveBlocks: 2000, minPoolBytes: 96 << 20 },
  larson: { maxLiveBlocks: 1000 },
  "realloc-grow": { minPoolBytes: 1 << 20 },
  large: { minPoolBytes: (64 << 20) + (1 << 20) },
};

export interface ThingMallocOptions {
  /** Pool size in bytes (fixed for the pool's life). Default 128 MiB; at most 4 GiB - 64 KiB. */
  size?: number;
  /** Block alignment, a power of two >= 8. Default 16. */
  align?: 8 | 16 | 32 | 64;
}

const HEADER = 8; // MemPool's block header: u32 size, u32 next (the data starts right after it)

export class ThingMalloc implements BenchAllocator {
  readonly name = "thing-malloc";
  readonly linear = true;
  readonly shared = false;
  /** The pool's whole buffer (it never grows, so this view stays valid). */
  readonly u8: Uint8Array;
  private readonly pool: MemPool;
  private readonly align: MemPoolOpts["align"];
  private readonly u32: Uint32Array;
  /** alignedAlloc's blocks whose alignment the pool could not give: aligned pointer -> the pool's pointer. */
  private readonly overAligned = new Map<number, number>();

  constructor(options: ThingMallocOptions = {}) {
    const size = options.size ?? 128 << 20;
    if (!Number.isInteger(size) || size < 4096 || size > 0x1_0000_0000 - 65536)
      throw new RangeError(`thing-malloc: pool size ${size} out of range`);
    this.align = options.align ?? 16;
    const buf = new ArrayBuffer(size);
    this.pool = new MemPool({ buf, align: this.align, compact: true, split: true });
    this.u8 = new Uint8Array(buf);
    this.u32 = new Uint32Array(buf);
  }

  malloc(size: number): number {
    if (!validSize(size)) return 0;
    return this.pool.malloc(size || 1);
  }

  free(ptr: number): void {
    if (ptr === 0) return;
    if (this.overAligned.size !== 0) {
      const raw = this.overAligned.get(ptr);
      if (raw !== undefined) {
        this.overAligned.delete(ptr);
        ptr = raw;
      }
    }
    if (!this.pool.free(ptr)) throw new Error(`thing-malloc: free(${ptr}) of a pointer that is not a live block`);
  }

  calloc(count: number, size: number): number {
    const total = count * size;
    if (!validSize(count) || !validSize(size) || !validSize(total)) return 0;
    return this.pool.calloc(total || 1, 0);
  }

  /** Usable bytes of a block the pool handed out (its padded size less the header). */
  private usable(ptr: number): number {
    return this.u32[(ptr - HEADER) >>> 2]! - HEADER;
  }

  realloc(ptr: number, size: number): number {
    if (ptr === 0) return this.malloc(size);
    if (!validSize(size)) return 0;
    if (size === 0) {
      this.free(ptr);
      return 0;
    }
    const raw = this.overAligned.size !== 0 ? this.overAligned.get(ptr) : undefined;
    if (raw !== undefined) {
      // an over-aligned block: move it by hand (its usable bytes run from ptr to the pool block's end)
      const keep = Math.min(size, this.usable(raw) - (ptr - raw));
      const q = this.pool.malloc(size);
      if (q === 0) return 0;
      this.u8.copyWithin(q, ptr, ptr + keep);
      this.free(ptr);
      return q;
    }
    const q = this.pool.realloc(ptr, size);
    // MemPool 6.1.x "frees" a moved block with the wrong address and so leaks it: free it here. (Should a
    // later version free it properly, this free finds nothing and returns false, which is ignored.)
    if (q !== 0 && q !== ptr) this.pool.free(ptr);
    return q;
  }

  alignedAlloc(align: number, size: number): number {
    if (!validSize(size) || !Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) return 0;
    if (align <= this.align) return this.malloc(size);
    const raw = this.pool.malloc(size + align - this.align);
    if (raw === 0) return 0;
    const ptr = ((raw + align - 1) & -align) >>> 0;
    if (ptr !== raw) this.overAligned.set(ptr, raw);
    return ptr;
  }

  bytes(ptr: number, size: number): Uint8Array {
    return this.u8.subarray(ptr, ptr + size);
  }

  /** The pool's high-water mark: bytes from the buffer's start to the top of the highest block ever carved
   *  and not given back (the buffer itself is allocated whole at creation, but its untouched pages cost no
   *  physical memory). */
  footprint(): number {
    return this.pool.stats().top;
  }
}
