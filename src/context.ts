// The heap-wide facts every thread needs: the memory and where the heap's shared tables are. Written to the
// heap header once by `initHeader` (createAllocator); read back by `readHeader` (attach).

import { Layout as L } from './layout.js';
import { HeapMemory, MemoryError } from './memory.js';
import { NBINS } from './sizeclass.js';
import type { LinearMemory } from './types.js';

export class HeapContext {
  readonly mem: HeapMemory;
  /** Heap base: byte offset of segment 0 (64 KiB aligned). */
  readonly base: number;
  readonly checked: boolean;
  /** Segment header bytes (descriptors, and in checked mode the live bitmap). */
  readonly segmentHeader: number;
  readonly maxThreads: number;
  readonly maxSegments: number;
  /** Slices in the last possible segment (fewer than 16 when the limit cuts it). */
  readonly lastSegmentSlices: number;
  /** Absolute end of the heap (limit rounded down to a slice). */
  readonly heapLimit: number;
  /** Word indexes of the heap header and its tables. */
  readonly headerW: number;
  readonly segTableW: number;
  readonly summaryW: number;
  readonly abandonedW: number;
  readonly abandonedSummaryW: number;
  /** Words of a one-bit-per-segment bitmap. */
  readonly summaryWords: number;
  readonly threadsW: number;
  readonly emptyPageW: number;
  readonly headerBytes: number;

  constructor(mem: HeapMemory, base: number) {
    this.mem = mem;
    this.base = base;
    const m = mem.m;
    const rootW = (base + L.ROOT_OFFSET) >>> 2;
    if (m[rootW + L.R_MAGIC] !== L.MAGIC) throw new MemoryError(`no webmalloc heap at base ${base}`);
    if (m[rootW + L.R_VERSION] !== L.LAYOUT_VERSION) {
      throw new MemoryError(`heap layout version ${m[rootW + L.R_VERSION]}, this webmalloc reads ${L.LAYOUT_VERSION}`);
    }
    const h = m[rootW + L.R_HEADER] >>> 2;
    this.headerW = h;
    this.checked = (m[h + L.H_FLAGS] & L.HF_CHECKED) !== 0;
    this.segmentHeader = m[h + L.H_SEGMENT_HEADER];
    this.maxThreads = m[h + L.H_MAX_THREADS];
    this.maxSegments = m[h + L.H_MAX_SEGMENTS];
    this.heapLimit = m[h + L.H_LIMIT_SLICES] * L.SLICE_SIZE;
    const lastStart = base + (this.maxSegments - 1) * L.SEGMENT_SIZE;
    this.lastSegmentSlices = Math.min(L.SLICES_PER_SEGMENT, (this.heapLimit - lastStart) / L.SLICE_SIZE);
    this.segTableW = m[h + L.H_SEGMENT_TABLE] >>> 2;
    this.summaryW = m[h + L.H_SUMMARY] >>> 2;
    this.abandonedW = m[h + L.H_ABANDONED] >>> 2;
    this.abandonedSummaryW = m[h + L.H_ABANDONED_SUMMARY] >>> 2;
    this.summaryWords = Math.ceil(this.maxSegments / 32);
    this.threadsW = m[h + L.H_THREADS] >>> 2;
    this.emptyPageW = h + L.H_EMPTY_PAGE;
    this.headerBytes = m[h + L.H_HEADER_SIZE];
  }

  /** Byte address of segment `index`. */
  segmentAddress(index: number): number {
    return this.base + index * L.SEGMENT_SIZE;
  }

  /** Byte address of slice `slice` of segment `index` (slice 16: where the segment ends). */
  sliceAddress(index: number, slice: number): number {
    return this.base + index * L.SEGMENT_SIZE + slice * L.SLICE_SIZE;
  }

  /** The segment holding word index `w` (an address inside the heap, as a word index). */
  segmentOfWord(w: number): number {
    return Math.floor((w * L.WORD - this.base) / L.SEGMENT_SIZE);
  }

  /** The slice (within its segment) whose descriptor is at word index `dw`. */
  sliceOfDescriptor(dw: number): number {
    return (((dw * L.WORD - this.base) % L.SEGMENT_SIZE) - L.DESC_OFFSET) / L.DESC_SIZE;
  }

  /** Slices segment `index` has. */
  segmentSlices(index: number): number {
    return index === this.maxSegments - 1 ? this.lastSegmentSlices : L.SLICES_PER_SEGMENT;
  }

  /** Word index of the descriptor of slice `slice` in segment `index`. */
  descriptorW(index: number, slice: number): number {
    return (this.base + index * L.SEGMENT_SIZE + L.DESC_OFFSET + slice * L.DESC_SIZE) >>> 2;
  }

  /** Word index of thread slot `slot`'s record. */
  threadW(slot: number): number {
    return this.threadsW + slot * L.THREAD_WORDS;
  }

  /**
   * Segments claimed so far (an atomic read), with this thread's views made to cover them. Another thread may
   * have grown the memory since this one last looked, and a write through a view that does not reach that far
   * is lost without a word (a read gives undefined): so whatever goes from the shared tables to the segments
   * themselves reads the top here, then takes `mem.m` (the views it had before may be replaced).
   */
  top(): number {
    return this.covering(Atomics.load(this.mem.m, this.headerW + L.H_TOP));
  }

  /** top() from a plain read: for searches that only miss, this time, what was claimed just now. */
  topPlain(): number {
    return this.covering(this.mem.m[this.headerW + L.H_TOP]!);
  }

  /** `top`, once this thread's views cover the segments below it. */
  private covering(top: number): number {
    const end = this.base + top * L.SEGMENT_SIZE;
    if (end > this.mem.viewBytes) this.mem.ensure(Math.min(end, this.heapLimit));
    return top;
  }
}

export interface HeapGeometry {
  start: number;
  limit: number;
  maxThreads: number;
  checked: boolean;
  /** Memory at and above this offset reads as zero. */
  freshFrom: number;
}

/**
 * Lay a new heap out in `mem`: segment 0's header, the root record, the heap header and its tables (a META
 * span at the start of segment 0), and the rest of segment 0 as free slices. Returns the heap base.
 */
export function initHeader(mem: HeapMemory, g: HeapGeometry): number {
  const base = Math.ceil(g.start / L.SLICE_SIZE) * L.SLICE_SIZE;
  const limit = Math.min(mem.limit, Math.floor(g.limit / L.SLICE_SIZE) * L.SLICE_SIZE);
  const maxSegments = Math.min(L.MAX_SEGMENTS, Math.ceil((limit - base) / L.SEGMENT_SIZE));
  const segmentHeader = g.checked ? L.SEGMENT_HEADER_CHECKED : L.SEGMENT_HEADER_PLAIN;

  // Heap header layout: fixed words, segment table, summary bitmap, abandoned pages, thread table.
  const header = base + segmentHeader;
  let at = header + L.H_FIXED_WORDS * L.WORD;
  const segTable = at;
  at += maxSegments * L.S_WORDS * L.WORD;
  const summary = at;
  at += Math.ceil(maxSegments / 32) * L.WORD;
  const abandoned = at;
  at += Math.ceil((maxSegments * L.SLICES_PER_SEGMENT) / 32) * L.WORD;
  const abandonedSummary = at;
  at += NBINS * Math.ceil(maxSegments / 32) * L.WORD;
  at = (at + 63) & ~63;
  const threads = at;
  at += g.maxThreads * L.THREAD_SIZE;
  const headerSize = at - header;
  const metaSlices = Math.ceil((at - base) / L.SLICE_SIZE);
  if (maxSegments < 1 || metaSlices >= Math.min(L.SLICES_PER_SEGMENT, (limit - base) / L.SLICE_SIZE)) {
    throw new MemoryError(
      `the memory is too small for a heap: ${limit - base} bytes from base ${base}, need more than ${metaSlices * L.SLICE_SIZE}`,
    );
  }
  const firstSegmentEnd = Math.min(base + L.SEGMENT_SIZE, limit);
  if (!mem.ensure(firstSegmentEnd)) throw new MemoryError(`cannot grow the memory to ${firstSegmentEnd} bytes`);

  const m = mem.m;
  // Segment 0's header and the heap header start out zero, whatever the memory held.
  mem.zero(base, at);
  const h = header >>> 2;
  m[h + L.H_FLAGS] = g.checked ? L.HF_CHECKED : 0;
  m[h + L.H_BASE] = base;
  m[h + L.H_LIMIT_SLICES] = limit / L.SLICE_SIZE;
  m[h + L.H_SEGMENT_HEADER] = segmentHeader;
  m[h + L.H_MAX_THREADS] = g.maxThreads;
  m[h + L.H_MAX_SEGMENTS] = maxSegments;
  m[h + L.H_TOP] = 1;
  m[h + L.H_FRESH_FROM] = Math.max(g.freshFrom, at);
  m[h + L.H_HEADER_SIZE] = headerSize;
  m[h + L.H_SEGMENT_TABLE] = segTable;
  m[h + L.H_THREADS] = threads;
  m[h + L.H_ABANDONED] = abandoned;
  m[h + L.H_ABANDONED_SUMMARY] = abandonedSummary;
  m[h + L.H_SUMMARY] = summary;

  // Segment 0: META descriptors over the header, the remaining slices free.
  const slices = Math.min(L.SLICES_PER_SEGMENT, (firstSegmentEnd - base) / L.SLICE_SIZE);
  for (let s = 0; s < metaSlices; s++) {
    const d = (base + L.DESC_OFFSET + s * L.DESC_SIZE) >>> 2;
    m[d + L.P_KIND] = s === 0 ? L.KIND_META : L.KIND_TAIL;
    m[d + L.P_SPAN] = s === 0 ? metaSlices : s;
  }
  const allSlices = (1 << slices) - 1;
  const metaMask = (1 << metaSlices) - 1;
  // Slices below H_FRESH_FROM held data before (or are the header): mark them used-before.
  const freshFrom = m[h + L.H_FRESH_FROM];
  let dirty = 0;
  for (let s = 0; s < slices; s++) if (base + s * L.SLICE_SIZE < freshFrom) dirty |= 1 << s;
  const st = segTable >>> 2;
  m[st + L.S_KIND] = L.SEG_NORMAL;
  m[st + L.S_SLICES] = ((allSlices & ~metaMask) | (dirty << L.DIRTY_SHIFT)) >>> 0;
  m[summary >>> 2] = 1;

  // The root record last: attach finds a complete heap or none.
  const r = (base + L.ROOT_OFFSET) >>> 2;
  m[r + L.R_HEADER] = header;
  m[r + L.R_VERSION] = L.LAYOUT_VERSION;
  Atomics.store(m, r + L.R_MAGIC, L.MAGIC);
  return base;
}

/** Open the heap in `memory` whose `start` was given at creation. */
export function openHeap(memory: LinearMemory, start: number): HeapContext {
  const mem = new HeapMemory(memory);
  const base = Math.ceil(start / L.SLICE_SIZE) * L.SLICE_SIZE;
  if (mem.viewBytes < base + L.SEGMENT_HEADER_PLAIN) throw new MemoryError(`no webmalloc heap at base ${base}`);
  return new HeapContext(mem, base);
}
