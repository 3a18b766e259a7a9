// Walking the heap's metadata: segments and the spans in them, the blocks on a page's lists, the blocks
// waiting on threads' delayed lists. Shared by stats and check; reads only, and never trusts a link.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { runCount } from './segments.js';

export interface Span {
  /** Segment index and first slice. */
  segment: number;
  slice: number;
  /** Descriptor word index of the head. */
  dw: number;
  kind: number;
  /** Bytes of the span usable for blocks (a span in slice 0 excludes the segment header). */
  bytes: number;
  /** Address where the span's block memory starts. */
  start: number;
}

/** Segments: index, kind (SEG_*), and argument, for every claimed segment (up to `top`, default: all now). */
export function* segments(ctx: HeapContext, top = ctx.top()): Generator<{ index: number; kind: number; arg: number }> {
  const m = ctx.mem.m;
  top = Math.min(top, ctx.maxSegments);
  for (let index = 0; index < top; index++) {
    const s = Atomics.load(m, ctx.segTableW + index * L.S_WORDS + L.S_KIND);
    yield { index, kind: s & 0xff, arg: runCount(s) };
  }
}

/** Byte end of segment `index` (the limit cuts the last one). */
export function segmentEnd(ctx: HeapContext, index: number): number {
  return Math.min(ctx.segmentAddress(index) + L.SEGMENT_SIZE, ctx.heapLimit);
}

/**
 * The spans of a normal segment: one entry per head descriptor and per free slice (kind FREE, one slice).
 * Stops at a descriptor that makes no sense (check reports those separately).
 */
export function* spans(ctx: HeapContext, index: number): Generator<Span> {
  const m = ctx.mem.m;
  const slices = ctx.segmentSlices(index);
  const seg = ctx.segmentAddress(index);
  for (let s = 0; s < slices; ) {
    const dw = ctx.descriptorW(index, s);
    const kind = m[dw + L.P_KIND];
    let n = kind === L.KIND_FREE ? 1 : m[dw + L.P_SPAN];
    if (kind === L.KIND_TAIL || n < 1 || s + n > slices) n = 1;
    const spanStart = seg + s * L.SLICE_SIZE;
    const start = s === 0 ? seg + ctx.segmentHeader : spanStart;
    yield { segment: index, slice: s, dw, kind, bytes: spanStart + n * L.SLICE_SIZE - start, start };
    s += n;
  }
}

/**
 * Blocks (word indexes) of a list starting at `head`, at most `max` + 1 (a longer list is cut: a cycle or
 * corruption); a link outside the memory ends it, and is the last entry.
 */
export function listBlocks(m: Int32Array, head: number, max: number): number[] {
  const out: number[] = [];
  for (let b = head; b !== 0 && out.length <= max; b = m[b]) {
    out.push(b);
    if (b < 0 || b >= m.length) break;
  }
  return out;
}

/** How many blocks of each page sit on threads' delayed lists (counted as used by their pages). */
export function delayedByPage(ctx: HeapContext, pageOf: (p: number) => number): Map<number, number> {
  const m = ctx.mem.m;
  const counts = new Map<number, number>();
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    const head = Atomics.load(m, ctx.threadW(slot) + L.T_DELAYED);
    for (const b of listBlocks(m, head, 1 << 24)) {
      const dw = pageOf(b * L.WORD);
      counts.set(dw, (counts.get(dw) ?? 0) + 1);
    }
  }
  return counts;
}

/** Descriptor of the page a block address falls in (no validation beyond staying in bounds); 0 if none. */
export function pageOfAddress(ctx: HeapContext, p: number): number {
  const m = ctx.mem.m;
  const off = p - ctx.base;
  if (off < 0 || p >= ctx.mem.viewBytes) return 0;
  const index = Math.floor(off / L.SEGMENT_SIZE);
  if (index >= ctx.top()) return 0;
  let dw = ctx.descriptorW(index, (off >>> L.SLICE_SHIFT) & 15);
  if (m[dw + L.P_KIND] === L.KIND_TAIL) dw -= m[dw + L.P_SPAN] * L.DESC_WORDS;
  return dw;
}
