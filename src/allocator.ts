// The public API: the C allocation calls on top of a thread's Heap, creating a heap and attaching to one,
// and typed-array helpers for JS users. Pointers are byte offsets into the memory; 0 is NULL.

import { checkHeap } from './check.js';
import { HeapContext, initHeader, openHeap } from './context.js';
import { badArgument, doubleFree } from './errors.js';
import { checkSize, detachedError } from './heap.js';
import { SpanBlockHeap } from './spanblocks.js';
import { acquireSlot } from './registry.js';
import { Layout as L } from './layout.js';
import { createMemory, HeapMemory } from './memory.js';
import { Limit } from './sizeclass.js';
import { heapStats } from './stats.js';
import type { AttachOptions, CheckResult, CreateOptions, HeapStats, LinearMemory, WorkerHandoff } from './types.js';

/** posixMemalign's error codes (as in C's errno.h). */
export const EINVAL = 22;
export const ENOMEM = 12;

/** The page size valloc and pvalloc align to. */
export const VALLOC_ALIGNMENT = 4096;
const MAX_SIZE = 2 ** 32 - 1;
/** Up to this many bytes, zalloc clears a reused small block inline, with a loop of stores of doubles. */
const SHORT_CLEAR = 256;

type TypedArrayConstructor<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** How much a small block that realloc moves to grow it may grow (see realloc). */
const REALLOC_GROWTH = 1.5;

/**
 * One thread's handle on a webmalloc heap. Make the heap with {@link createAllocator}; every other worker
 * (or the same thread again) joins it with {@link attach}. An instance must be used by one thread only.
 */
export class Allocator extends SpanBlockHeap {
  /** The memory under the heap, as given or created. Send it to workers to attach there. */
  get memory(): LinearMemory {
    return this.mem.memory;
  }

  /** A byte view of the whole memory as it is now (take it again after allocating: the memory may grow). */
  get u8(): Uint8Array {
    this.mem.refresh();
    return this.mem.u8;
  }

  /** The heap's `start` rounded up to 64 KiB: the lowest byte the heap uses. */
  get heapBase(): number {
    return this.base;
  }

  /** `n * size` zeroed bytes; 0 when the product overflows or cannot be met. */
  calloc(n: number, size: number): number {
    checkCount(n);
    checkSize(size);
    const total = n * size;
    if (total > MAX_SIZE) return 0;
    return this.zalloc(total);
  }

  /** `size` zeroed bytes; 0 when the size cannot be met. */
  zalloc(size: number): number {
    const p = this.malloc(size);
    if (p === 0) return 0;
    const m = this.m;
    if ((size >>> 0) === size && size <= Limit.MEDIUM_MAX) {
      // A small block, just handed out: its page needs no lookup beyond the address arithmetic.
      const dw = this.pageOf(p >>> 2);
      if ((m[dw + L.P_FLAGS] & L.PF_FRESH) !== 0) m[p >>> 2] = 0; // a fresh block's only written word: its link
      else if (size <= SHORT_CLEAR) {
        // Doubles up to the size rounded up to 8: still inside the block (classes are multiples of 8).
        const f64 = this.mem.f64;
        for (let i = p >>> 3, end = i + ((size + 7) >>> 3); i < end; i++) f64[i] = 0;
      } else this.mem.zero(p, p + size);
      return p;
    }
    const dw = this.locate(p);
    if ((m[dw + L.P_FLAGS] & L.PF_FRESH) === 0) this.mem.zero(p, p + size);
    return p;
  }

  /**
   * Resize block `p` to `size` bytes, keeping its contents up to the smaller size. Keeps `p` when the block
   * is large enough already, or is a large block (64 KiB to 1 MiB) that can grow into the free memory right
   * after it; a block it moves may have more room than asked for (see usableSize).
   * realloc(0, n) = malloc(n). Returns 0 when the size cannot be met, and then `p`
   * is left as it was. Throws WebmallocError if `p` is not a live block.
   */
  realloc(p: number, size: number): number {
    // A small block with room enough, found as free finds it (unchecked mode: whether a small block is still
    // live only checked mode can tell).
    const m = this.m;
    const slice = this.sliceOf(m, p);
    if (slice >= 0 && this.checked !== true && (size >>> 0) === size) {
      const dw = this.spanHeadOf(m, slice);
      if (m[dw + L.P_KIND] === L.KIND_SMALL && size <= m[dw + L.P_BLOCK_SIZE] && this.isCarvedBlock(m, p >>> 2, dw)) return p;
    }
    if (p === 0) return this.malloc(size);
    checkSize(size);
    const usable = this.usableSize(p);
    if (size <= usable || this.growInPlace(p, size)) return p;
    return this.reallocMove(p, size, usable);
  }

  /**
   * realloc of a block too small for `size`: a new block, the contents copied, `p` freed. (Apart from
   * realloc, so that V8 inlines the common case, the block large enough already, whole.)
   */
  private reallocMove(p: number, size: number, usable: number): number {
    // A small block that has to move to grow is given room to grow again (half as much again, within the
    // small classes): a buffer grown in small steps is then copied O(log n) times with a ratio of 1.5, not
    // once per size class (1.125 apart), and copying is most of what a moving realloc costs.
    const roomy = usable <= Limit.MEDIUM_MAX ? Math.min(Math.floor(usable * REALLOC_GROWTH), Limit.MEDIUM_MAX) : 0;
    let q = size < roomy ? this.malloc(roomy) : 0;
    if (q === 0) q = this.malloc(size);
    if (q === 0) return 0;
    this.mem.copy(q, p, usable);
    this.free(p);
    return q;
  }

  /** realloc(p, n * size), 0 when the product overflows (p untouched). */
  reallocArray(p: number, n: number, size: number): number {
    checkCount(n);
    checkSize(size);
    const total = n * size;
    if (total > MAX_SIZE) {
      if (p !== 0) this.usableSize(p); // still refuse a bad pointer
      return 0;
    }
    return this.realloc(p, total);
  }

  /**
   * `size` bytes at an address that is a multiple of `alignment` (a power of two; any other value is a
   * RangeError). 0 when it cannot be met.
   */
  alignedAlloc(alignment: number, size: number): number {
    // Fast path: an integer power of two up to 64 KiB and a size the classes serve. A class whose size is a
    // multiple of the alignment has blocks at multiples of it (see sizeclass.ts), so the size rounded up to
    // the alignment does it (and the rounding stays within MEDIUM_MAX: both are at most 64 KiB). Alignment 0
    // wraps to 2^32 - 1 in the range test and goes to the slow path, which refuses it.
    if ((alignment >>> 0) === alignment && (alignment & (alignment - 1)) === 0 && (alignment - 1) >>> 0 < L.SLICE_SIZE &&
      (size >>> 0) === size && size <= Limit.MEDIUM_MAX) {
      // `| 0`: the size as a 32-bit integer (it is one). Where the arguments came from a Uint32Array (as in
      // the aligned benchmark), V8 carried the choice between them as a double, which malloc's inlined test
      // converted back and compared: about 10% of the loop's samples. Without them, 7.33 ns per call against
      // 7.44 (medians of eight alternated processes).
      return this.malloc((alignment <= 8 ? size : (size + alignment - 1) & -alignment || alignment) | 0);
    }
    return this.alignedAllocSlow(alignment, size);
  }

  /**
   * Bad arguments, and what the classes cannot serve: valid arguments get here only with a size above
   * MEDIUM_MAX or an alignment above 64 KiB, so the block is large or huge (at least 16-aligned, as malloc's).
   */
  private alignedAllocSlow(alignment: number, size: number): number {
    if (!isPowerOfTwo(alignment)) throw new RangeError(`alignment must be a power of two, got ${String(alignment)}`);
    checkSize(size);
    return this.mallocLarge(Math.max(size, 1), Math.max(alignment, 16));
  }

  /** Same as alignedAlloc. */
  memalign(alignment: number, size: number): number {
    return this.alignedAlloc(alignment, size);
  }

  /**
   * C's posix_memalign: `error` is 0, EINVAL (alignment not a power of two multiple of 4) or ENOMEM;
   * `pointer` is 0 on error.
   */
  posixMemalign(alignment: number, size: number): { error: number; pointer: number } {
    if (!isPowerOfTwo(alignment) || alignment < 4) return { error: EINVAL, pointer: 0 };
    const pointer = this.alignedAlloc(alignment, size);
    return pointer === 0 ? { error: ENOMEM, pointer: 0 } : { error: 0, pointer };
  }

  /** `size` bytes aligned to 4096. */
  valloc(size: number): number {
    return this.alignedAlloc(VALLOC_ALIGNMENT, size);
  }

  /** `size` rounded up to a multiple of 4096 (at least 4096), aligned to 4096. */
  pvalloc(size: number): number {
    checkSize(size);
    const rounded = Math.max(VALLOC_ALIGNMENT, Math.ceil(size / VALLOC_ALIGNMENT) * VALLOC_ALIGNMENT);
    return this.alignedAlloc(VALLOC_ALIGNMENT, rounded);
  }

  /** Bytes usable at `p` (at least what was asked for); 0 for 0. Throws WebmallocError if `p` is not a live block. */
  usableSize(p: number): number {
    if (p === 0) return 0;
    const dw = this.locate(p);
    if (!this.isLive(p) && this.m[dw + L.P_KIND] === L.KIND_SMALL) doubleFree(p, 'already freed');
    return this.m[dw + L.P_BLOCK_SIZE] >>> 0; // unsigned: a huge block may be 2 GiB or more
  }

  /** A typed-array view of `length` elements at `p` (over the memory as it is now). */
  view<T>(Type: TypedArrayConstructor<T>, p: number, length: number): T {
    this.mem.refresh();
    return new Type(this.mem.buffer, p, length);
  }

  /** Allocate `length` elements and view them; undefined when out of memory. */
  mallocAs<T>(Type: TypedArrayConstructor<T>, length: number): T | undefined {
    const p = this.malloc(length * Type.BYTES_PER_ELEMENT);
    return p === 0 ? undefined : this.view(Type, p, length);
  }

  /** Allocate `length` zeroed elements and view them; undefined when out of memory. */
  callocAs<T>(Type: TypedArrayConstructor<T>, length: number): T | undefined {
    const p = this.calloc(length, Type.BYTES_PER_ELEMENT);
    return p === 0 ? undefined : this.view(Type, p, length);
  }

  /**
   * Reserve a thread slot for a new worker and return what it needs to join this heap: send it (in
   * workerData or a message) and attach there with `attach(h.memory, h)`. Keep it: once the worker has ended
   * (however it ended, even before it attached), {@link reclaimHandoff} takes its heap over unless it
   * detached. See also spawnWorker().
   */
  handoff(): WorkerHandoff {
    if (this.detached) throw detachedError();
    this.renewDetachedViews();
    // attach rounds `start` up to 64 KiB: the base itself names the heap
    return { memory: this.memory, start: this.base, threadId: acquireSlot(this.ctx, true) };
  }

  /** After the worker given `h` has ended: reclaim its heap unless it detached. Returns whether it did anything. */
  reclaimHandoff(h: WorkerHandoff): boolean {
    return this.reclaim(h.threadId);
  }

  /** Validate the whole heap. Exact when no other thread allocates or frees meanwhile. */
  check(): CheckResult {
    this.syncViews();
    return checkHeap(this.ctx);
  }

  /** A snapshot of the heap's memory use, every byte accounted for (exact when the heap is quiet). */
  stats(): HeapStats {
    this.syncViews();
    return heapStats(this.ctx);
  }
}

/**
 * Make a new heap and return the creating thread's allocator. By default the heap lives in a new growable
 * SharedArrayBuffer (4 MiB at first, growing to 4 GiB); or give it a memory (SharedArrayBuffer, ArrayBuffer
 * or WebAssembly.Memory) and optionally the range [start, limit) of it to use.
 * Throws MemoryError when the memory is too small or the options are out of range.
 */
export function createAllocator(options: CreateOptions = {}): Allocator {
  const start = options.start ?? 0;
  if (!Number.isInteger(start) || start < 0) badArgument('start', start);
  const maxThreads = options.maxThreads ?? 64;
  if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 1024) {
    throw new RangeError(`maxThreads must be an integer from 1 to 1024, got ${String(maxThreads)}`);
  }
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit <= start)) {
    throw new RangeError(`limit must be an integer above start, got ${String(options.limit)}`);
  }
  let memory = options.memory;
  if (memory === undefined) {
    const limit = Math.min(options.limit ?? L.MAX_ADDRESS, L.MAX_ADDRESS);
    const initial = Math.min(options.initial ?? 4 * 1024 * 1024, limit);
    memory = createMemory(Math.max(initial, Math.ceil(start / L.SLICE_SIZE) * L.SLICE_SIZE + L.SEGMENT_SIZE), limit);
  }
  const mem = new HeapMemory(memory, options.limit);
  const zeroed = options.zeroed ?? options.memory === undefined;
  const base = initHeader(mem, {
    start,
    limit: mem.limit,
    maxThreads,
    checked: options.checked ?? false,
    freshFrom: zeroed ? 0 : mem.viewBytes,
  });
  return new Allocator(new HeapContext(mem, base));
}

/** Join the heap in `memory` (made by createAllocator with the same `start`) as a new thread. */
export function attach(memory: LinearMemory, options: AttachOptions = {}): Allocator {
  return new Allocator(openHeap(memory, options.start ?? 0), options.threadId);
}

function isPowerOfTwo(x: number): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x > 0 && x <= 2 ** 31 && (x & (x - 1)) === 0;
}

function checkCount(n: number): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) badArgument('count', n);
}

