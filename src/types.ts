// The public types of webmalloc: options, the memory kinds it manages, and the statistics it reports.

/** A memory webmalloc can manage. Shared kinds can be used from several workers at once. */
export type LinearMemory = SharedArrayBuffer | ArrayBuffer | WebAssembly.Memory;

export interface CreateOptions {
  /** The memory to manage. Default: a new shared WebAssembly.Memory (up to `limit`); where the engine has none,
   *  a growable SharedArrayBuffer, and without shared memory a growable ArrayBuffer. */
  memory?: LinearMemory;
  /** First byte the allocator may use; everything below is never touched (a wasm module's data and stack).
   *  The heap itself starts at the next 64 KiB boundary. Default 0. */
  start?: number;
  /** Highest byte offset (exclusive) the heap may grow to. Default: what the memory allows, at most 4 GiB. */
  limit?: number;
  /** Initial size in bytes of a memory created here. Default 4 MiB. */
  initial?: number;
  /** Most workers attached at once (thread slots). Default 64, at most 1024. */
  maxThreads?: number;
  /** Track every block's state so that every double free is caught (costs some speed). Fixed for the heap's life. */
  checked?: boolean;
  /** Whether the given memory reads as zero above `start` (lets calloc skip clearing). Default: true for a
   *  memory created here, false for a given one. */
  zeroed?: boolean;
}

export interface AttachOptions {
  /** The `start` the heap was created with. Default 0. */
  start?: number;
  /**
   * A thread slot reserved for this thread by {@link Allocator.handoff} in the thread that spawned it, so
   * that the spawner knows the id before the worker runs and can reclaim it whenever it dies.
   */
  threadId?: number;
}

/** What a worker needs to join a heap, and what its spawner needs to reclaim it: see Allocator.handoff(). */
export interface WorkerHandoff {
  memory: LinearMemory;
  start: number;
  /** The thread slot reserved for the worker (attach takes it). */
  threadId: number;
}

/** Per size class figures, part of {@link HeapStats}. */
export interface BinStats {
  blockSize: number;
  pages: number;
  liveBlocks: number;
  freeBlocks: number;
}

/**
 * A snapshot of the heap, made by walking its metadata. Exact when no other thread is allocating or freeing;
 * otherwise a close estimate. The byte figures add up: memorySize = belowHeap + metadata + liveBytes +
 * freeInPages + pageWaste + freeSlices + unclaimed.
 */
export interface HeapStats {
  /** byteLength of the memory now. */
  memorySize: number;
  /** Bytes below the heap's base (the `start` region and alignment padding). */
  belowHeap: number;
  /** Heap header, thread registry and segment headers. */
  metadata: number;
  /** Bytes of blocks handed out and not freed (block sizes, not requested sizes). */
  liveBytes: number;
  liveBlocks: number;
  /** Bytes of free blocks inside pages in use (free lists, not yet carved, awaiting collection). */
  freeInPages: number;
  /** Bytes inside page spans that no block can occupy (alignment and tail waste, large-block slack). */
  pageWaste: number;
  /**
   * Bytes of free 64 KiB slices in claimed segments, ready for any size class or thread; of the spans of freed
   * large blocks a thread holds for its next one; and of the segments of freed huge blocks, kept whole for the
   * next huge block until the memory would have to grow.
   */
  freeSlices: number;
  /** Bytes of the memory above the heap's claimed segments. */
  unclaimed: number;
  /** Number of 1 MiB segments claimed. */
  segments: number;
  pages: number;
  abandonedPages: number;
  largeBlocks: number;
  hugeBlocks: number;
  threadsAttached: number;
  bins: BinStats[];
}

/** The result of {@link Allocator.check}: empty `errors` means the heap is consistent. */
export interface CheckResult {
  ok: boolean;
  errors: string[];
}
