// The linear memory under the heap: what kind it is, how far it may grow, how it grows, and the
// fixed-length typed-array views over it (renewed whenever this thread sees the memory has grown), and
// copying and clearing ranges of it (in wasm when it is a WebAssembly.Memory: wasmops.ts). Length-tracking
// views over a growable SharedArrayBuffer are ~60x slower in V8, so they are never used.

import type { LinearMemory } from './types.js';
import { Layout as L } from './layout.js';
import {
  wasmOps,
  type AtomicCompareExchange,
  type AtomicOr,
  type AtomicStore,
  type BeginCheckedFree,
  type BeginLargeFree,
  type CollectRemoteBits,
  type CopyBytes,
  type FillBytes,
  type FreeBlock,
  type FreeCheckedBlock,
  type SetLiveBit,
  type SetRemoteBit,
} from './wasmops.js';

const WASM_PAGE = 65536;
/** Up to this many bytes, zero() clears with a loop of word stores (a fill call costs ~70 ns before it starts). */
const SHORT_ZERO = 256;

/** Thrown when a memory or option cannot be used at all (not for ordinary out-of-memory, which returns 0). */
export class MemoryError extends Error {
  override name = 'MemoryError';
}

export class HeapMemory {
  readonly memory: LinearMemory;
  /** Largest byte length the memory may reach (absolute), a multiple of 64 KiB. */
  readonly limit: number;
  /** A non-shared WebAssembly.Memory: growing it detaches its buffer, and every view over it. */
  readonly detachable: boolean;
  buffer: ArrayBufferLike;
  /** Words of the memory as far as this thread's views reach. */
  m: Int32Array;
  u8: Uint8Array;
  /** The same bytes as doubles: the fastest way to clear memory (see zero). */
  f64: Float64Array;
  /** Bytes the views cover. */
  viewBytes = 0;
  /** wasm's memory.copy and memory.fill over the memory when it is a WebAssembly.Memory (see wasmops.ts). */
  private readonly wasmCopy: CopyBytes | undefined;
  private readonly wasmFill: FillBytes | undefined;
  /** A remote free's bit, and the owner's taking of such bits, in wasm over a WebAssembly.Memory (threadfree.ts
   *  and pages.ts use them; see wasmops.ts). */
  readonly setRemoteBit: SetRemoteBit | undefined;
  readonly collectRemoteBits: CollectRemoteBits | undefined;
  /** Checked mode's atomics on the live bitmap, in wasm over a WebAssembly.Memory (heap.ts). */
  readonly setLiveBit: SetLiveBit | undefined;
  readonly beginCheckedFree: BeginCheckedFree | undefined;
  /** wasm's atomic store, compare-exchange and or (see store, compareExchange and or). */
  private readonly wasmStore: AtomicStore | undefined;
  private readonly wasmCompareExchange: AtomicCompareExchange | undefined;
  private readonly wasmOr: AtomicOr | undefined;
  /** A large block's free (spanblocks.ts): its record, its segment's state and its owner word, in one call. */
  readonly beginLargeFree: BeginLargeFree | undefined;
  /** The free of a small block, whole, in wasm over a WebAssembly.Memory (heap.ts's free): unchecked, checked. */
  readonly freeBlock: FreeBlock | undefined;
  readonly freeCheckedBlock: FreeCheckedBlock | undefined;

  constructor(memory: LinearMemory, limit?: number) {
    this.memory = memory;
    const buffer = HeapMemory.bufferOf(memory);
    let max: number;
    if (memory instanceof WebAssembly.Memory) {
      // A wasm memory grows up to its declared maximum, or the engine's 4 GiB when it has none.
      max = L.MAX_ADDRESS;
    } else if (isGrowable(buffer)) {
      max = maxByteLength(buffer);
    } else {
      max = buffer.byteLength;
    }
    if (limit !== undefined) max = Math.min(max, limit);
    this.limit = Math.floor(Math.min(max, L.MAX_ADDRESS) / L.SLICE_SIZE) * L.SLICE_SIZE;
    this.buffer = buffer;
    this.detachable = memory instanceof WebAssembly.Memory && !(typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer);
    this.m = new Int32Array(0);
    this.u8 = new Uint8Array(0);
    this.f64 = new Float64Array(0);
    this.refresh();
    const ops = wasmOps(memory);
    this.wasmCopy = ops?.copy;
    this.wasmFill = ops?.fill;
    this.setRemoteBit = ops?.setRemoteBit;
    this.collectRemoteBits = ops?.collectRemoteBits;
    this.setLiveBit = ops?.setLiveBit;
    this.beginCheckedFree = ops?.beginCheckedFree;
    this.wasmStore = ops?.atomicStore;
    this.wasmCompareExchange = ops?.atomicCompareExchange;
    this.wasmOr = ops?.atomicOr;
    this.beginLargeFree = ops?.beginLargeFree;
    this.freeBlock = ops?.freeBlock;
    this.freeCheckedBlock = ops?.freeCheckedBlock;
  }

  /**
   * Atomics.store of word `w`, in wasm over a WebAssembly.Memory: one locked instruction, where a JS Atomics
   * call is a builtin call. For the in-flight records (inflight.ts), the atomics of large and huge blocks'
   * malloc and free (spanblocks.ts), and of abandoning and adopting pages (abandoned.ts).
   */
  store(w: number, value: number): void {
    if (this.wasmStore !== undefined) this.wasmStore(w, value);
    else Atomics.store(this.m, w, value);
  }

  /** Atomics.compareExchange of word `w` (the old value), in wasm over a WebAssembly.Memory (as store). */
  compareExchange(w: number, expected: number, value: number): number {
    return this.wasmCompareExchange !== undefined ? this.wasmCompareExchange(w, expected, value) : Atomics.compareExchange(this.m, w, expected, value);
  }

  /** Atomics.or of word `w` (the old value), in wasm over a WebAssembly.Memory (as store). */
  or(w: number, bits: number): number {
    return this.wasmOr !== undefined ? this.wasmOr(w, bits) : Atomics.or(this.m, w, bits);
  }

  static bufferOf(memory: LinearMemory): ArrayBufferLike {
    return memory instanceof WebAssembly.Memory ? memory.buffer : memory;
  }

  get shared(): boolean {
    return typeof SharedArrayBuffer !== 'undefined' && this.buffer instanceof SharedArrayBuffer;
  }

  /** The memory's byte length now (it may have been grown by another thread). */
  byteLength(): number {
    return HeapMemory.bufferOf(this.memory).byteLength;
  }

  /** Renew the views so that they cover the whole memory as it is now. */
  refresh(): void {
    const buffer = HeapMemory.bufferOf(this.memory);
    const bytes = Math.floor(Math.min(buffer.byteLength, L.MAX_ADDRESS) / 8) * 8; // no bitwise ops: may exceed 2^31
    if (buffer === this.buffer && bytes === this.viewBytes) return;
    this.buffer = buffer;
    this.viewBytes = bytes;
    this.u8 = new Uint8Array(buffer, 0, bytes);
    this.m = new Int32Array(buffer, 0, bytes / 4); // not >>> 2: bytes may be 2^32 (a full 4 GiB memory)
    this.f64 = new Float64Array(buffer, 0, bytes / 8);
  }

  /** Copy `n` bytes from `from` to `to` (within the views; the ranges may overlap). */
  copy(to: number, from: number, n: number): void {
    if (this.wasmCopy !== undefined) this.wasmCopy(to, from, n);
    else this.u8.copyWithin(to, from, from + n);
  }

  /**
   * Set bytes [from, to) to zero (within the views). Over a WebAssembly.Memory, wasm's memory.fill does it
   * (64 KiB in about 1.6 us here). Over a SharedArrayBuffer, V8 fills a Uint8Array one byte at a time
   * (0.56 ns per byte measured here, 2 KiB in 1.15 us); a Float64Array fills 8 bytes per store (2 KiB in
   * 0.25 us, 64 KiB in 4 us), and short ranges are cheaper as a loop than as a call.
   */
  zero(from: number, to: number): void {
    if (this.wasmFill !== undefined && to - from > SHORT_ZERO) return this.wasmFill(from, 0, to - from);
    const a = Math.min(Math.ceil(from / 8) * 8, to);
    const b = Math.max(Math.floor(to / 8) * 8, a);
    const u8 = this.u8;
    for (let i = from; i < a; i++) u8[i] = 0;
    if (b - a <= SHORT_ZERO) {
      const m = this.m;
      for (let w = a / 4, end = b / 4; w < end; w++) m[w] = 0;
    } else {
      this.f64.fill(0, a / 8, b / 8);
    }
    for (let i = b; i < to; i++) u8[i] = 0;
  }

  /**
   * Make the memory at least `bytes` long (growing it if needed and allowed) and the views cover it.
   * Several threads may grow at once: each asks for what it needs; a refusal that another thread's growth
   * already satisfied is not a failure. Returns false when the memory cannot reach `bytes`; nothing changes.
   */
  ensure(bytes: number): boolean {
    if (bytes > this.limit) return false;
    if (this.viewBytes >= bytes) return true;
    let buffer = HeapMemory.bufferOf(this.memory);
    if (buffer.byteLength < bytes && this.memory instanceof WebAssembly.Memory && this.shared) {
      // Another thread may have grown a shared wasm memory: this thread's `buffer` keeps the old length until
      // V8 syncs it, and grow(0) makes it do so now.
      this.memory.grow(0);
      buffer = this.memory.buffer;
    }
    if (buffer.byteLength < bytes) {
      try {
        if (this.memory instanceof WebAssembly.Memory) {
          const pages = Math.ceil((bytes - buffer.byteLength) / WASM_PAGE);
          this.memory.grow(pages);
        } else if (isGrowable(buffer)) {
          if ('grow' in buffer) (buffer as unknown as { grow(n: number): void }).grow(bytes);
          else (buffer as unknown as { resize(n: number): void }).resize(bytes);
        }
      } catch {
        // The engine refused, or a racing grower got there first: the length below decides.
      }
    }
    this.refresh();
    return this.viewBytes >= bytes;
  }
}

/**
 * The memory createAllocator makes when it is given none, `initial` bytes growable up to `limit`: a shared
 * WebAssembly.Memory where the engine has one, else a growable SharedArrayBuffer, and without shared memory
 * a growable ArrayBuffer.
 */
export function createMemory(initial: number, limit: number): LinearMemory {
  const init = Math.min(initial, limit);
  if (typeof SharedArrayBuffer !== 'undefined') {
    // A shared wasm memory where the engine has one: its copies and clears run as memmove and memset
    // (wasmops.ts), ten times faster than typed arrays over a SharedArrayBuffer, and wasm code can use it as is.
    if (typeof WebAssembly !== 'undefined') {
      const maximum = Math.floor(limit / WASM_PAGE);
      try {
        return new WebAssembly.Memory({ initial: Math.min(Math.ceil(init / WASM_PAGE), maximum), maximum, shared: true });
      } catch {
        // no shared wasm memory here, or not that large a reservation: a growable SharedArrayBuffer then
      }
    }
    return new SharedArrayBuffer(init, { maxByteLength: limit } as never);
  }
  return new ArrayBuffer(init, { maxByteLength: limit } as never);
}

function isGrowable(buffer: ArrayBufferLike): boolean {
  const b = buffer as { growable?: boolean; resizable?: boolean };
  return b.growable === true || b.resizable === true;
}

function maxByteLength(buffer: ArrayBufferLike): number {
  return (buffer as unknown as { maxByteLength: number }).maxByteLength;
}
