// Pages: setting up a span as a page of one size class, carving fresh blocks from it in address order a few
// at a time, collecting the blocks freed into it, and giving a span back. Everything here is done by the
// page's owner with plain loads and stores, except taking the remote frees (a CAS of the page's flags, an
// exchange of each remote-bitmap word with bits).

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { nameRelease } from './inflight.js';
import { releaseSlices } from './segments.js';
import { alignUp, BIN_SIZE, BIN_SLICES, BLOCK_INVERSE, blockAlignment, START_SHIFT } from './sizeclass.js';

/**
 * The word of a segment bitmap (at byte `offset` of the segment header: REMOTE_BITMAP_OFFSET or
 * LIVE_BITMAP_OFFSET) that holds block `w`'s bit. One bit per 8-byte granule of the segment.
 */
export function bitmapWordOf(baseW: number, w: number, offset: number): number {
  const inSegment = (w - baseW) & L.SEGMENT_WORDS_MASK;
  return w - inSegment + offset / 4 + (inSegment >>> 6);
}

/** Block `w`'s bit within its bitmap word (either bitmap). */
export function bitOf(w: number): number {
  return 1 << ((w >>> 1) & 31);
}

/** Checked mode: the word of the live bitmap that holds block `w`'s bit. */
export function liveWordOf(baseW: number, w: number): number {
  return bitmapWordOf(baseW, w, L.LIVE_BITMAP_OFFSET);
}

/** The word of the remote bitmap that holds block `w`'s bit. */
export function remoteWordOf(baseW: number, w: number): number {
  return bitmapWordOf(baseW, w, L.REMOTE_BITMAP_OFFSET);
}

/** Checked mode: whether block `w`'s live bit is set (a plain read: for reclaim and check). */
export function isMarkedLive(m: Int32Array, baseW: number, w: number): boolean {
  return (m[liveWordOf(baseW, w)] & bitOf(w)) !== 0;
}

/**
 * The blocks of page `dw` whose bits are set in the remote bitmap: freed by other threads, not collected yet
 * (plain reads: for check, stats and reclaim, which take them as they are at the moment).
 */
export function pendingBlocks(m: Int32Array, baseW: number, dw: number): number[] {
  const out: number[] = [];
  for (let bw = remoteFrom(m, baseW, dw), to = remoteEnd(m, baseW, dw); bw < to; bw++) {
    for (let bits = m[bw]; bits !== 0; bits &= bits - 1) out.push(blockOfBit(baseW, bw, 31 - Math.clz32(bits & -bits)));
  }
  return out;
}

// The remote-bitmap words [remoteFrom, remoteEnd) cover page `dw`'s carved blocks. Two functions, not one
// returning a pair: an array returned by a call V8 does not inline is allocated, and collect() reads them for
// every page that other threads' frees flagged (one array each time gave every thread of hotpaths.test.ts's
// threads' case two or more garbage collections).

/** The first remote-bitmap word that covers page `dw`'s carved blocks. */
function remoteFrom(m: Int32Array, baseW: number, dw: number): number {
  return remoteWordOf(baseW, m[dw + L.P_AREA]);
}

/** The remote-bitmap word after the last that covers page `dw`'s carved blocks (remoteFrom's when none is carved). */
function remoteEnd(m: Int32Array, baseW: number, dw: number): number {
  const reserved = m[dw + L.P_RESERVED];
  if (reserved <= 0) return remoteFrom(m, baseW, dw);
  const last = m[dw + L.P_AREA] + (reserved - 1) * (m[dw + L.P_BLOCK_SIZE] >>> 2);
  return remoteWordOf(baseW, last) + 1;
}

/** The block (word index) that bit `i` of remote-bitmap word `bw` stands for. */
function blockOfBit(baseW: number, bw: number, i: number): number {
  const segW = bw - ((bw - baseW) & L.SEGMENT_WORDS_MASK); // the bitmap lies in its segment's header
  return segW + (bw - segW - L.REMOTE_BITMAP_OFFSET / 4) * 64 + i * 2;
}

/** Carve at most this many bytes of fresh blocks per refill (bounded time, locality), at least one block. */
const EXTEND_BYTES = 4096;
const EXTEND_MIN_BLOCKS = 4;

/** Write a span's descriptors: the head with `kind` (all its words), the later slices as TAIL pointing back. */
export function writeSpan(m: Int32Array, headW: number, kind: number, slices: number): void {
  // A free slice's descriptor is clear only in kind and owner.
  writeDescriptor(m, headW, kind, slices);
  for (let s = 1; s < slices; s++) writeTail(m, headW + s * L.DESC_WORDS, s);
}

/** Span `headW` of `n` slices grown to `to`: the slices after it become its tails, then its head counts them. */
export function growSpan(m: Int32Array, headW: number, n: number, to: number): void {
  for (let s = n; s < to; s++) writeTail(m, headW + s * L.DESC_WORDS, s);
  m[headW + L.P_SPAN] = to;
}

/**
 * The slices of large span `headW` (of `n`) after its first `keep` described as a large span of their own,
 * whose head gets the words a large span's head is read for before its block words are written (kind, span,
 * owner 0, and a carved bound of 0: with it the owner's free refuses any pointer, even when the owner word
 * comes to read LIVE_BLOCK, slot 0's tag; see heap.ts's free), all in its first line; its later slices,
 * tails already, get their new way back. Returns the rest's head. The caller then cuts the span (its P_SPAN
 * to `keep`).
 */
export function describeRest(m: Int32Array, headW: number, n: number, keep: number): number {
  const rest = headW + keep * L.DESC_WORDS;
  m[rest + L.P_KIND] = L.KIND_LARGE;
  m[rest + L.P_SPAN] = n - keep;
  m[rest + L.P_CARVED_BOUND] = 0;
  m[rest + L.P_OWNER] = 0;
  for (let s = 1; s < n - keep; s++) m[rest + s * L.DESC_WORDS + L.P_SPAN] = s;
  return rest;
}

/**
 * Span `headW` of `n` slices joined with the span of `k` slices right after it, both this thread's held
 * spans, with no record naming them: first the later span's tails lead back to `headW`, then `headW` counts
 * them, and only then does the later span's head become a tail, its kind stored last and atomically. A
 * reclaim sweeping meanwhile (reclaim.ts: it steps from head to head, reads kinds atomically, and takes a
 * tail no head before it covers for an orphan) that sees the new tail sees the count that covers it.
 */
export function joinSpans(ctx: HeapContext, headW: number, n: number, k: number): void {
  const m = ctx.mem.m;
  const next = headW + n * L.DESC_WORDS;
  for (let s = 1; s < k; s++) m[next + s * L.DESC_WORDS + L.P_SPAN] = n + s;
  m[headW + L.P_SPAN] = n + k;
  m[next + L.P_SPAN] = n;
  m[next + L.P_OWNER] = 0;
  ctx.mem.store(next + L.P_KIND, L.KIND_TAIL);
}

/**
 * Descriptor `w` made a tail, `back` slices after its span's head: its kind, the way back and its owner (0:
 * the owner's free takes a descriptor whose owner word holds its tag). Nothing reads a tail's other words
 * (every path steps to the head first), so they are left as they were: a held span's split and join
 * (spanblocks.ts) rewrite up to 14 tails, and writing all 17 words of each was most of a large malloc/free.
 */
function writeTail(m: Int32Array, w: number, back: number): void {
  m[w + L.P_KIND] = L.KIND_TAIL;
  m[w + L.P_SPAN] = back;
  m[w + L.P_OWNER] = 0;
}

/**
 * Write descriptor `w`: `kind` and `span`, every other word that has a name zero (nothing reads the unused
 * ones). Word by word: a loop over the descriptor's words took about 13 instructions a word (a sixth of a
 * huge malloc/free pair), and fill is a builtin call that costs more than the stores.
 */
function writeDescriptor(m: Int32Array, w: number, kind: number, span: number): void {
  m[w + L.P_KIND] = kind;
  m[w + L.P_SPAN] = span;
  m[w + L.P_BIN] = 0;
  m[w + L.P_BLOCK_SIZE] = 0;
  m[w + L.P_AREA] = 0;
  m[w + L.P_CAPACITY] = 0;
  m[w + L.P_RESERVED] = 0;
  m[w + L.P_CARVED_BOUND] = 0;
  m[w + L.P_USED] = 0;
  m[w + L.P_FREE] = 0;
  m[w + L.P_REMOTE] = 0;
  m[w + L.P_OWNER] = 0;
  m[w + L.P_NEXT] = 0;
  m[w + L.P_PREV] = 0;
  m[w + L.P_FLAGS] = 0;
  m[w + L.P_DIVISOR] = 0;
  m[w + L.P_SPARE] = 0;
}

/** Set up the span at segment `index`, slice `first` as an empty page of class `bin` owned by `ownerTag`. */
export function initSmallPage(
  ctx: HeapContext,
  index: number,
  first: number,
  bin: number,
  ownerTag: number,
  fresh: boolean,
): number {
  const m = ctx.mem.m;
  const slices = BIN_SLICES[bin];
  const size = BIN_SIZE[bin];
  const seg = ctx.segmentAddress(index);
  const spanStart = seg + first * L.SLICE_SIZE;
  const area = first === 0 ? seg + alignUp(ctx.segmentHeader, blockAlignment(size)) : spanStart;
  const dw = ctx.descriptorW(index, first);
  writeSpan(m, dw, L.KIND_SMALL, slices);
  m[dw + L.P_BIN] = bin;
  m[dw + L.P_BLOCK_SIZE] = size;
  m[dw + L.P_DIVISOR] = BLOCK_INVERSE[bin];
  writeCarvedBound(m, dw); // nothing carved yet: free refuses every address
  m[dw + L.P_AREA] = area >>> 2;
  m[dw + L.P_CAPACITY] = Math.floor((spanStart + slices * L.SLICE_SIZE - area) / size);
  m[dw + L.P_FLAGS] = fresh ? L.PF_FRESH : 0;
  // The span's bits start clear: a segment that held a huge block has that block's data in its header, and
  // a double free from another thread may have set a bit since the span's last page gave it back. Memory
  // never used before reads as zero.
  const baseW = ctx.base / L.WORD;
  const lastW = (spanStart + slices * L.SLICE_SIZE) / L.WORD - 2;
  if (!fresh) clearBits(ctx, remoteWordOf(baseW, spanStart / L.WORD), remoteWordOf(baseW, lastW) + 1);
  if (ctx.checked) clearBits(ctx, liveWordOf(baseW, spanStart / L.WORD), liveWordOf(baseW, lastW) + 1);
  Atomics.store(m, dw + L.P_OWNER, ownerTag);
  return dw;
}

/** Words [from, to) of a bitmap set to zero (256 of them for a slice). */
function clearBits(ctx: HeapContext, from: number, to: number): void {
  ctx.mem.zero(from * L.WORD, to * L.WORD);
}

/**
 * Make blocks available on page `dw`'s empty free list: the blocks other threads freed, else fresh blocks
 * carved from the area. The free list stays empty only when the page is full.
 */
export function refill(ctx: HeapContext, dw: number): void {
  if (collect(ctx, dw) > 0) return;
  extend(ctx.mem.m, dw);
}

/**
 * Move the blocks other threads freed into page `dw` (their bits in the remote bitmap) onto its free list;
 * returns how many. The owner calls it whenever the page's free list runs dry, mostly to find nothing: that
 * test is a plain read of TF_PENDING (a flag set just now is seen the next time). The flag is cleared before
 * the bitmap is read, so a bit set after the read sets it again (threadfree.ts). The reads of the words are
 * plain too: they follow that CAS, which V8 compiles as a full barrier. Each word with bits is taken with one
 * exchange; a bit that names no carved block of the page (a double free that raced with the page's reuse)
 * is dropped. Over a WebAssembly.Memory, wasm does the taking (wasmops.ts: an exchange there is one
 * instruction, where JS's Atomics.exchange is a builtin call of about 130). `unflagged`: read the bitmap even
 * when the page is not flagged, for the bit of a freer that died before flagging it (collect(), detach,
 * reclaim).
 */
export function collect(ctx: HeapContext, dw: number, unflagged = false): number {
  const m = ctx.mem.m;
  const rw = dw + L.P_REMOTE;
  let flags = m[rw];
  const flagged = (flags & L.TF_PENDING) !== 0;
  if (!flagged && !unflagged) return 0;
  if (flagged) {
    // Only the owner clears the flag, so a failed CAS (another thread's flag moved) still finds it set.
    for (let seen = 0; (seen = Atomics.compareExchange(m, rw, flags, flags & ~L.TF_PENDING)) !== flags; ) flags = seen;
  }
  const baseW = ctx.base >>> 2;
  const from = remoteFrom(m, baseW, dw);
  const to = remoteEnd(m, baseW, dw);
  const wasmCollect = ctx.mem.collectRemoteBits;
  if (wasmCollect !== undefined) return wasmCollect(dw, from, to, blockOfBit(baseW, from, 0) - from * 64);
  const area = m[dw + L.P_AREA];
  const divisor = m[dw + L.P_DIVISOR];
  const bound = m[dw + L.P_CARVED_BOUND];
  const carved = bound >>> 5;
  let free = m[dw + L.P_FREE];
  let n = 0;
  // Last word first, highest bit first: the list then runs up through memory, as extend's does (see the wasm
  // module's collectRemoteBits).
  for (let bw = to - 1; bw >= from; bw--) {
    if (m[bw] === 0) continue;
    for (let bits = Atomics.exchange(m, bw, 0); bits !== 0; ) {
      const bit = 31 - Math.clz32(bits);
      bits ^= 1 << bit;
      const w = blockOfBit(baseW, bw, bit);
      const x = Math.imul(w - area, divisor); // Heap.isCarvedBlock's test
      if (((x >>> bound) | (x << (32 - bound))) >>> 0 >= carved) continue;
      m[w] = free;
      free = w;
      n++;
    }
  }
  if (n === 0) return 0;
  m[dw + L.P_FREE] = free;
  m[dw + L.P_USED] -= n;
  m[dw + L.P_FLAGS] &= ~L.PF_FRESH;
  return n;
}

/** Carve up to EXTEND_BYTES of never-used blocks onto the (empty) free list, in address order. */
function extend(m: Int32Array, dw: number): void {
  const reserved = m[dw + L.P_RESERVED];
  const left = m[dw + L.P_CAPACITY] - reserved;
  if (left === 0) return;
  const size = m[dw + L.P_BLOCK_SIZE];
  const words = size >>> 2;
  const n = Math.min(left, Math.max(EXTEND_MIN_BLOCKS, Math.floor(EXTEND_BYTES / size)));
  const first = m[dw + L.P_AREA] + reserved * words;
  let b = first;
  for (let i = 1; i < n; i++) {
    m[b] = b + words;
    b += words;
  }
  m[b] = 0;
  // Before the list: a carved block is never beyond `reserved`.
  m[dw + L.P_RESERVED] = reserved + n;
  writeCarvedBound(m, dw);
  m[dw + L.P_FREE] = first;
}

/**
 * Page `dw`'s bound for free's block-start test from its count of blocks carved: P_RESERVED << 5 | s (see
 * Heap.isCarvedBlock). Written with the class, after the count by extend, and again by reclaim for a thread
 * that died between.
 */
export function writeCarvedBound(m: Int32Array, dw: number): void {
  m[dw + L.P_CARVED_BOUND] = (m[dw + L.P_RESERVED] << 5) | START_SHIFT[m[dw + L.P_BIN]];
}

/**
 * Give the span of page or large block `dw` back to the shared pool; recorded in the acting thread's record
 * (`threadW`) until it is published. The descriptors say so first: the slices given back FREE.
 */
export function releaseSpan(ctx: HeapContext, threadW: number, dw: number): void {
  const m = ctx.mem.m;
  const slices = m[dw + L.P_SPAN];
  const index = ctx.segmentOfWord(dw);
  const first = ctx.sliceOfDescriptor(dw);
  nameRelease(ctx.mem, threadW, index, first, slices, false);
  m.fill(0, dw, dw + slices * L.DESC_WORDS);
  releaseSlices(ctx, threadW, index, first, slices);
}
