// Reclaiming the heap of a thread that died without detaching (terminated, crashed): another thread finishes
// or undoes what the dead one had in flight, takes its pages over, and frees its slot.
//
// A thread can be stopped between any two instructions (in practice at an interrupt check: a function
// entry or a loop back-edge). So reclaim trusts nothing the dead thread kept for itself:
// - its page lists are ignored; its pages are found by their P_OWNER;
// - each page's counts are recomputed from its lists, which stay well formed at every instruction
//   boundary, because every link is one word written by one store;
// - the shared steps it had started are named by its in-flight records (T_CLAIM_*, T_RELEASE_*,
//   T_RELEASING, T_ABANDONING, T_BLOCK). Each record is written right after the CAS that starts its step
//   and cleared right after the atomic that completes it, with no interrupt check in between.

import { markAbandoned } from './abandoned.js';
import type { HeapContext } from './context.js';
import { Layout as L } from './layout.js';
import { collect, liveWordOf, releaseSpan } from './pages.js';
import { ID_SLOTS, markLeaving, releaseSlot } from './registry.js';
import { CLAIM_NORMAL, publishNormalSegment, releaseHugeSegments, releaseSlices, RELEASE_SEGMENTS } from './segments.js';
import { pushThreadFree } from './threadfree.js';
import { listBlocks, pageOfAddress, segments, spans } from './walk.js';

/**
 * Take over the heap of thread `id`, which must be dead: it is not checked and cannot be. A live thread's
 * heap would be corrupted. A thread that died inside detach() is taken over too. `selfW` is the acting
 * thread's record. Returns false (and does nothing) when `id` is no longer a thread of the heap: it
 * detached, or was reclaimed already.
 */
export function reclaimThread(ctx: HeapContext, selfW: number, id: number): boolean {
  if (!markLeaving(ctx, id, true)) return false;
  const slot = id % ID_SLOTS;
  const tw = ctx.threadW(slot);
  const tag = slot + 1;
  const m = ctx.mem.m;

  // 1. What it had in flight: a release, a claim, an abandonment.
  const releaseAt = m[tw + L.T_RELEASE_AT];
  if (releaseAt !== 0) finishRelease(ctx, selfW, releaseAt - 1, m[tw + L.T_RELEASE_COUNT]);
  else if (m[tw + L.T_RELEASING] !== 0) releaseFreedBlock(ctx, selfW, m[tw + L.T_RELEASING]);
  if (m[tw + L.T_CLAIM_SPAN] !== 0) undoSpanClaim(ctx, selfW, tag, m[tw + L.T_CLAIM_SPAN] - 1, m[tw + L.T_CLAIM_SLICES]);
  if (m[tw + L.T_CLAIM_SEGMENTS] !== 0) undoSegmentsClaim(ctx, selfW, m[tw + L.T_CLAIM_SEGMENTS] - 1, m[tw + L.T_CLAIM_COUNT]);
  const abandoning = m[tw + L.T_ABANDONING];
  if (abandoning !== 0 && Atomics.load(m, abandoning + L.P_OWNER) === L.ABANDONED) markAbandoned(ctx, abandoning);

  // 2. Its pages, by owner (they stay its until step 5): no notification wanted any more.
  const pages: number[] = [];
  for (const seg of segments(ctx)) {
    if (seg.kind !== L.SEG_NORMAL) continue;
    for (const span of spans(ctx, seg.index)) {
      if (span.kind !== L.KIND_SMALL || Atomics.load(m, span.dw + L.P_OWNER) !== tag) continue;
      Atomics.and(m, span.dw + L.P_THREAD_FREE, ~L.TF_DELAYED);
      m[span.dw + L.P_FLAGS] &= ~L.PF_IN_FULL;
      pages.push(span.dw);
    }
  }

  // 3. Blocks other threads handed it through its delayed list: on to their pages' thread-free lists.
  for (let b = Atomics.exchange(m, tw + L.T_DELAYED, 0); b !== 0; ) {
    const next = m[b];
    pushThreadFree(ctx, pageOfAddress(ctx, b * L.WORD), b);
    b = next;
  }

  // 4. Checked mode: a block caught between its live bit and a free list is finished as freed.
  if (ctx.checked && m[tw + L.T_BLOCK] !== 0) finishBlock(ctx, m[tw + L.T_BLOCK]);

  // 5. Each page: counts recomputed from its lists, then back to the pool or abandoned for adoption.
  for (const dw of pages) {
    repairPage(ctx, dw);
    collect(m, dw);
    if (m[dw + L.P_USED] === 0) releaseSpan(ctx, selfW, dw);
    else {
      Atomics.store(m, dw + L.P_OWNER, L.ABANDONED);
      markAbandoned(ctx, dw);
    }
  }
  for (const w of [L.T_RELEASE_AT, L.T_RELEASING, L.T_CLAIM_SPAN, L.T_CLAIM_SEGMENTS, L.T_ABANDONING, L.T_BLOCK]) m[tw + w] = 0;
  releaseSlot(ctx, slot);
  return true;
}

/** `used` from the lists: every carved block not on `free` or `local_free` counts as in use. */
function repairPage(ctx: HeapContext, dw: number): void {
  const m = ctx.mem.m;
  const reserved = m[dw + L.P_RESERVED];
  const free = listBlocks(m, m[dw + L.P_FREE], reserved).length;
  const local = listBlocks(m, m[dw + L.P_LOCAL_FREE], reserved).length;
  const used = reserved - free - local;
  let lost = used !== m[dw + L.P_USED];
  if (ctx.checked && !lost) {
    // A block the thread was collecting or handing may be on no list and not marked live either.
    const waiting = listBlocks(m, Atomics.load(m, dw + L.P_THREAD_FREE) & ~L.TF_DELAYED, reserved).length;
    lost = liveBlocks(ctx, dw) < used - waiting;
  }
  m[dw + L.P_USED] = used;
  // The blocks it was handing stay counted as in use: lost to it, never handed out twice.
  if (lost) m[dw + L.P_FLAGS] |= L.PF_LOST_BLOCKS;
}

function liveBlocks(ctx: HeapContext, dw: number): number {
  const m = ctx.mem.m;
  const words = m[dw + L.P_BLOCK_SIZE] / L.WORD;
  const area = m[dw + L.P_AREA];
  const baseW = ctx.base / L.WORD;
  let n = 0;
  for (let q = 0, w = area; q < m[dw + L.P_RESERVED]; q++, w += words) n += (m[liveWordOf(baseW, w)] >>> ((w >>> 1) & 31)) & 1;
  return n;
}

/** A release it had started and not published: finish it. */
function finishRelease(ctx: HeapContext, selfW: number, at: number, count: number): void {
  const index = Math.floor(at / L.SLICES_PER_SEGMENT);
  const first = at % L.SLICES_PER_SEGMENT;
  if ((count & RELEASE_SEGMENTS) !== 0) {
    releaseHugeSegments(ctx, selfW, index, count & 0xffff); // the ones not yet given back, last first
    return;
  }
  const dw = ctx.descriptorW(index, first);
  ctx.mem.m.fill(0, dw, dw + count * L.DESC_WORDS);
  ctx.mem.m[selfW + L.T_RELEASE_COUNT] = count;
  ctx.mem.m[selfW + L.T_RELEASE_AT] = at + 1;
  releaseSlices(ctx, selfW, index, first, count);
}

/** A large or huge block it had won the release of (its state swapped to free) but not begun to release. */
function releaseFreedBlock(ctx: HeapContext, selfW: number, dw: number): void {
  const m = ctx.mem.m;
  const kind = m[dw + L.P_KIND];
  if (Atomics.load(m, dw + L.P_OWNER) !== 0) return;
  if (kind === L.KIND_LARGE) releaseSpan(ctx, selfW, dw);
  else if (kind === L.KIND_HUGE) releaseHugeSegments(ctx, selfW, Math.floor((dw * L.WORD - ctx.base) / L.SEGMENT_SIZE), m[dw + L.P_SPAN]);
}

/** A span it claimed from the pool: keep what became a page or a block, give back the rest. */
function undoSpanClaim(ctx: HeapContext, selfW: number, tag: number, at: number, slices: number): void {
  const m = ctx.mem.m;
  const index = Math.floor(at / L.SLICES_PER_SEGMENT);
  const first = at % L.SLICES_PER_SEGMENT;
  if ((Atomics.load(m, ctx.segTableW + index * L.S_WORDS) & 0xff) !== L.SEG_NORMAL) return; // undoSegmentsClaim's
  const dw = ctx.descriptorW(index, first);
  const kind = m[dw + L.P_KIND];
  const owner = Atomics.load(m, dw + L.P_OWNER);
  const kept = (kind === L.KIND_SMALL && owner === tag) || (kind === L.KIND_LARGE && owner === L.LIVE_BLOCK);
  if (kept) {
    // It became a page (taken over below) or a block that may have reached its caller: make its tails whole.
    for (let s = 1; s < slices; s++) {
      m[dw + s * L.DESC_WORDS + L.P_KIND] = L.KIND_TAIL;
      m[dw + s * L.DESC_WORDS + L.P_SPAN] = s;
    }
    m[dw + L.P_SPAN] = slices;
    return;
  }
  m.fill(0, dw, dw + slices * L.DESC_WORDS);
  m[selfW + L.T_RELEASE_COUNT] = slices;
  m[selfW + L.T_RELEASE_AT] = at + 1;
  releaseSlices(ctx, selfW, index, first, slices);
}

/** Whole segments it claimed: for normal use (publish those it did not), or for a huge block (release unless live). */
function undoSegmentsClaim(ctx: HeapContext, selfW: number, first: number, countWord: number): void {
  const m = ctx.mem.m;
  const count = countWord & 0xffff;
  if ((countWord & CLAIM_NORMAL) !== 0) {
    for (let j = 0; j < count; j++) {
      if ((Atomics.load(m, ctx.segTableW + (first + j) * L.S_WORDS) & 0xff) === L.SEG_UNCLAIMED) publishNormalSegment(ctx, first + j, 0);
    }
    return;
  }
  if (count === 0) return;
  const dw = ctx.descriptorW(first, 0);
  const head = Atomics.load(m, ctx.segTableW + first * L.S_WORDS);
  if ((head & 0xff) === L.SEG_HUGE && m[dw + L.P_KIND] === L.KIND_HUGE && Atomics.load(m, dw + L.P_OWNER) === L.LIVE_BLOCK) return;
  releaseHugeSegments(ctx, selfW, first, count);
}

/**
 * Checked mode: block `w` was between its live bit and a list (being allocated or freed). If it is not live
 * and on no list, the operation did not reach its end: the block is free, so it goes where a free goes.
 */
function finishBlock(ctx: HeapContext, w: number): void {
  const m = ctx.mem.m;
  const dw = pageOfAddress(ctx, w * L.WORD);
  if (dw === 0 || m[dw + L.P_KIND] !== L.KIND_SMALL) return;
  if ((m[liveWordOf(ctx.base / L.WORD, w)] >>> ((w >>> 1) & 31)) & 1) return; // live: it reached its caller, or was about to
  const reserved = m[dw + L.P_RESERVED];
  const lists = [m[dw + L.P_FREE], m[dw + L.P_LOCAL_FREE], Atomics.load(m, dw + L.P_THREAD_FREE) & ~L.TF_DELAYED];
  for (const head of lists) if (listBlocks(m, head, reserved).includes(w)) return;
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    if (listBlocks(m, Atomics.load(m, ctx.threadW(slot) + L.T_DELAYED), 1 << 24).includes(w)) return;
  }
  pushThreadFree(ctx, dw, w);
}
