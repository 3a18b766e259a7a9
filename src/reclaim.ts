// Reclaiming the heap of a thread that died without detaching (terminated, crashed): another thread takes
// its pages over, passes on what others handed it, repairs whatever it left half done, and frees its slot.
//
// A worker can be stopped between any two atomic operations (measured here: see docs/design.md). So
// reclaim trusts nothing the dead thread kept for itself:
// - its page lists are ignored; its pages are found by their P_OWNER;
// - each page's counts are recomputed from the page's own lists, which are well formed at every
//   instruction boundary, because every link is one word written by one store;
// - a shared object it left in an intermediate state (a claimed span not yet a page, a release not yet
//   published, a segment claimed and never set up) is found by sweeping the heap. Every live thread names
//   such an object in its in-flight record *before* the atomic step that creates the state (inflight.ts),
//   so an intermediate state that no other thread's record names can only be a dead thread's, and is
//   repaired: given back to the pool, or completed.

import { abandonedPages, abandonPage, isPublished, markClassSummary, publishAbandoned } from './abandoned.js';
import type { HeapContext } from './context.js';
import { Layout as L } from './layout.js';
import { collect, isMarkedLive, pendingBlocks, releaseSpan, writeCarvedBound } from './pages.js';
import { ID_SLOTS, markLeaving, releaseSlot } from './registry.js';
import { clearDescriptors, hugeHeadOf, hugeRunEnd, publishNormalSegment, releaseSegment, releaseSlices, runSlot } from './segments.js';
import { freeRemote } from './threadfree.js';
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
  // Segments claimed from here on are live threads' (a dead thread claims nothing): look at those below `top`,
  // with views that cover them (ctx.top() sees to that: other threads may have grown the memory a moment ago).
  const top = ctx.top();
  const m = ctx.mem.m;

  // 1. Its pages, by owner (they stay its until step 4): no notification wanted any more. A page it was
  //    abandoning or adopting is among them, or abandoned without its bit, which the sweep (step 5) sets.
  const pages: number[] = [];
  for (const seg of segments(ctx, top)) {
    if (seg.kind !== L.SEG_NORMAL) continue;
    for (const span of spans(ctx, seg.index)) {
      if (span.kind !== L.KIND_SMALL || Atomics.load(m, span.dw + L.P_OWNER) !== tag) continue;
      Atomics.and(m, span.dw + L.P_REMOTE, ~L.TF_DELAYED);
      // Not FRESH either: the thread may have died between freeing a block onto the page and clearing it.
      m[span.dw + L.P_FLAGS] &= ~(L.PF_IN_FULL | L.PF_FRESH);
      pages.push(span.dw);
    }
  }

  // 2. Blocks other threads handed it through its delayed list: on to their pages' remote bitmaps.
  for (let b = Atomics.exchange(m, tw + L.T_DELAYED, 0); b !== 0; ) {
    const next = m[b];
    freeRemote(ctx, pageOfAddress(ctx, b * L.WORD), b);
    b = next;
  }

  // 3. Checked mode: a block caught between its live bit and a free list is finished as freed.
  if (ctx.checked && m[tw + L.T_BLOCK] !== 0) finishBlock(ctx, m[tw + L.T_BLOCK]);

  // 4. Each page: counts recomputed from its lists, then back to the pool or abandoned for adoption.
  for (const dw of pages) {
    repairPage(ctx, dw);
    collect(ctx, dw, true);
    if (m[dw + L.P_USED] === 0) releaseSpan(ctx, selfW, dw);
    else abandonPage(ctx, selfW, dw);
  }

  // 5. Whatever it (or another dead thread) left half done in the shared structures.
  finishGrowth(ctx, Atomics.load(m, tw + L.T_CLAIM_SPAN));
  for (const w of [L.T_RELEASE_AT, L.T_RELEASING, L.T_CLAIM_SPAN, L.T_CLAIM_SEGMENTS, L.T_HANDOVER, L.T_BLOCK]) {
    Atomics.store(m, tw + w, 0);
  }
  sweepOrphans(ctx, selfW, slot, top);
  // Class summaries (a thread stopped inside abandonPage may have left one unset).
  for (const dw of abandonedPages(ctx)) if (Atomics.load(m, dw + L.P_OWNER) === L.ABANDONED) markClassSummary(ctx, dw);
  releaseSlot(ctx, slot);
  return true;
}

/**
 * The dead thread's claim record names slices `claim` (segment * 16 + slice + 1). If they are the new tails of
 * a live large block whose span grew in place and whose head counts them already, its usable size may not be
 * written yet: it is written now, as the thread would have. (Tails its head does not count yet are released
 * by the sweep.) Nobody else touches slices the record names.
 */
function finishGrowth(ctx: HeapContext, claim: number): void {
  if (claim === 0) return;
  const m = ctx.mem.m;
  const index = (claim - 1) >>> 4;
  const slice = (claim - 1) & 15;
  const tailW = ctx.descriptorW(index, slice);
  if (slice === 0 || m[tailW + L.P_KIND] !== L.KIND_TAIL) return;
  const head = slice - m[tailW + L.P_SPAN];
  const dw = ctx.descriptorW(index, head);
  if (head < 0 || m[dw + L.P_KIND] !== L.KIND_LARGE || Atomics.load(m, dw + L.P_OWNER) !== L.LIVE_BLOCK) return;
  if (head + m[dw + L.P_SPAN] <= slice) return;
  m[dw + L.P_BLOCK_SIZE] = ctx.sliceAddress(index, head + m[dw + L.P_SPAN]) - m[dw + L.P_AREA] * L.WORD;
}

/**
 * `used` from the list: every carved block not on `free` counts as in use. The carved bound from the count
 * carved (a thread that died inside extend may have written the one and not the other).
 */
function repairPage(ctx: HeapContext, dw: number): void {
  const m = ctx.mem.m;
  writeCarvedBound(m, dw);
  const reserved = m[dw + L.P_RESERVED];
  const used = reserved - listBlocks(m, m[dw + L.P_FREE], reserved).length;
  let lost = used !== m[dw + L.P_USED];
  if (ctx.checked && !lost) {
    // A block the thread was collecting or handing may be on no list and not marked live either.
    const waiting = pendingBlocks(m, ctx.base / L.WORD, dw).length;
    lost = liveBlocks(ctx, dw) < used - waiting;
  }
  m[dw + L.P_USED] = used;
  // The blocks it was handing stay counted as in use: lost to it, never handed out twice.
  if (lost) m[dw + L.P_FLAGS] |= L.PF_LOST_BLOCKS;
}

function liveBlocks(ctx: HeapContext, dw: number): number {
  const m = ctx.mem.m;
  const words = m[dw + L.P_BLOCK_SIZE] / L.WORD;
  const baseW = ctx.base / L.WORD;
  let n = 0;
  for (let q = 0, w = m[dw + L.P_AREA]; q < m[dw + L.P_RESERVED]; q++, w += words) if (isMarkedLive(m, baseW, w)) n++;
  return n;
}

/**
 * Checked mode: block `w` was between its live bit and a list (being allocated or freed). If it is not live
 * and on no list, the operation did not reach its end: the block is free, so it goes where a free goes.
 */
function finishBlock(ctx: HeapContext, w: number): void {
  const m = ctx.mem.m;
  const dw = pageOfAddress(ctx, w * L.WORD);
  if (dw === 0 || m[dw + L.P_KIND] !== L.KIND_SMALL) return;
  if (isMarkedLive(m, ctx.base / L.WORD, w)) return; // live: it reached its caller, or was about to
  if (listBlocks(m, m[dw + L.P_FREE], m[dw + L.P_RESERVED]).includes(w)) return;
  if (pendingBlocks(m, ctx.base / L.WORD, dw).includes(w)) return;
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    if (listBlocks(m, Atomics.load(m, ctx.threadW(slot) + L.T_DELAYED), 1 << 24).includes(w)) return;
  }
  freeRemote(ctx, dw, w);
}

// ---------------------------------------------------------------------------------------------------------
// The sweep

/** What the in-flight records of live threads (all but `dead`) name: spans of slices (segment * 16 + slice, from and to) and heads. */
interface Named {
  spans: number[];
  heads: Set<number>;
}

/** Whether a record in `named` names slice `at` (segment * 16 + slice). */
function namesSlice(named: Named, at: number): boolean {
  for (let i = 0; i < named.spans.length; i += 2) if (at >= named.spans[i]! && at < named.spans[i + 1]!) return true;
  return false;
}

function namedByOthers(ctx: HeapContext, dead: number): Named {
  const m = ctx.mem.m;
  const named: Named = { spans: [], heads: new Set() };
  const addSlices = (at: number, n: number) => named.spans.push(at, at + n);
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    const tw = ctx.threadW(slot);
    if (slot === dead || (Atomics.load(m, tw + L.T_STATE) & 3) === L.TS_FREE) continue;
    const span = Atomics.load(m, tw + L.T_CLAIM_SPAN);
    if (span !== 0) addSlices(span - 1, Atomics.load(m, tw + L.T_CLAIM_SLICES));
    const segs = Atomics.load(m, tw + L.T_CLAIM_SEGMENTS);
    if (segs !== 0) addSlices((segs - 1) * L.SLICES_PER_SEGMENT, (Atomics.load(m, tw + L.T_CLAIM_COUNT) & 0xffff) * L.SLICES_PER_SEGMENT);
    const release = Atomics.load(m, tw + L.T_RELEASE_AT);
    if (release !== 0) {
      const count = Atomics.load(m, tw + L.T_RELEASE_COUNT);
      if (count & L.RELEASE_SEGMENTS) addSlices(release - 1, (count & 0xffff) * L.SLICES_PER_SEGMENT);
      else addSlices(release - 1, count);
    }
    const releasing = Atomics.load(m, tw + L.T_RELEASING);
    if (releasing !== 0) named.heads.add(releasing);
    const handover = Atomics.load(m, tw + L.T_HANDOVER);
    if (handover !== 0) named.heads.add(handover);
  }
  return named;
}

/**
 * Repair every intermediate state in the heap that no live thread names: each candidate is observed, checked
 * against the records read afterwards, and observed again before it is repaired (a live thread names an object
 * before it changes it, and completes it before it clears the name).
 */
function sweepOrphans(ctx: HeapContext, selfW: number, dead: number, top: number): void {
  const m = ctx.mem.m;
  const isOrphan = (at: number, dw: number, still: () => boolean): boolean => {
    if (!still()) return false;
    const named = namedByOthers(ctx, dead);
    return !namesSlice(named, at) && !named.heads.has(dw) && still();
  };
  let runEnd = 0; // where the run covering the segment before ends (see hugeRunEnd)
  for (let index = 0; index < top; index++) {
    const kindOf = () => Atomics.load(m, ctx.segTableW + index * L.S_WORDS + L.S_KIND);
    const kindWord = kindOf();
    const kind = kindWord & 0xff;
    const at = index * L.SLICES_PER_SEGMENT;
    const tailCovered = index < runEnd;
    runEnd = hugeRunEnd(kindWord, index, runEnd);
    if (kind === L.SEG_UNCLAIMED) {
      // Claimed (from the top, or whole and free for a huge block) and never set up.
      if (isOrphan(at, 0, () => kindOf() === L.SEG_UNCLAIMED)) {
        clearDescriptors(ctx, index); // a huge block's descriptor may have been written
        publishNormalSegment(ctx, index, 0);
      }
      continue;
    }
    if (kind === L.SEG_HUGE_SETUP || kind === L.SEG_HUGE_HELD) {
      // A cached run claimed to set a block up in, to be joined or to be released (a huge block's free is
      // one CAS: it leaves nothing half done), or a run a thread holds for its next huge block. The word
      // names the thread; the dead one's go (nobody else changes such a word), with the tails after them:
      // the run's own, neighbours joined to it, and runs freed into it, up to the next head (a split's
      // rest, which stays cached; a huge block set up in a held run, which is live).
      if (runSlot(kindWord) === dead) {
        let end = index + 1;
        while (end < top && Atomics.load(m, ctx.segTableW + end * L.S_WORDS) === L.SEG_HUGE_TAIL) end++;
        for (let j = end - 1; j >= index; j--) releaseSegment(ctx, j);
      }
      continue;
    }
    if (kind === L.SEG_HUGE_TAIL) {
      // A tail no run covers: of a huge block whose release stopped half way, or of a run whose join did.
      // (Tails the pass has seen covered are skipped: a huge block's tails would otherwise each scan back.)
      if (tailCovered) continue;
      if (isOrphan(at, 0, () => kindOf() === kindWord && hugeHeadOf(ctx, index) < 0)) releaseSegment(ctx, index);
      continue;
    }
    if (kind !== L.SEG_NORMAL) continue;
    const slicesW = ctx.segTableW + index * L.S_WORDS + L.S_SLICES;
    // Summary bits are hints that searchers drop and restore; a thread stopped in between can leave one
    // missing. Setting one is always harmless.
    if ((Atomics.load(m, slicesW) & L.ALL_SLICES) !== 0) Atomics.or(m, ctx.summaryW + (index >>> 5), 1 << (index & 31));
    const slices = ctx.segmentSlices(index);
    for (let s = 0; s < slices; ) {
      const dw = ctx.descriptorW(index, s);
      // Atomic loads: a live thread's split or join of its held spans names nothing in its record, and stores
      // last, atomically, the word that makes a slice a later one of another span (see spanblocks.ts's
      // holdRest and pages.ts's joinSpans); read so, it comes with the words stored before it.
      const k = Atomics.load(m, dw + L.P_KIND);
      const n = Atomics.load(m, dw + L.P_SPAN);
      const isFree = () => (Atomics.load(m, slicesW) & (1 << s)) !== 0;
      if (k === L.KIND_FREE || k === L.KIND_TAIL) {
        // A slice no span covers and the pool does not have: claimed and never described, or a release not published.
        if (!isFree() && !coveredByEarlierSpan(ctx, index, s)) {
          if (isOrphan(at + s, dw, () => !isFree() && Atomics.load(m, dw + L.P_KIND) === k)) {
            m.fill(0, dw, dw + L.DESC_WORDS);
            releaseSlices(ctx, selfW, index, s, 1);
          }
        }
        s++;
        continue;
      }
      if (k === L.KIND_HUGE) {
        // A huge block's descriptor in a segment the segment table still calls NORMAL: its setup stopped
        // before the table was written. Clear it; the slices are then orphans like any other.
        if (isOrphan(at + s, dw, () => m[dw + L.P_KIND] === L.KIND_HUGE && (kindOf() & 0xff) === L.SEG_NORMAL)) {
          m.fill(0, dw, dw + L.DESC_WORDS);
          continue; // look at the slice again, now FREE
        }
        s++;
        continue;
      }
      const span = n >= 1 && s + n <= slices ? n : 1;
      const owner = Atomics.load(m, dw + L.P_OWNER);
      if (k === L.KIND_SMALL && owner === L.ABANDONED && !isPublished(ctx, dw)) {
        // Abandoned without its bit (its abandoner or adopter stopped between the two): nobody can take it.
        const still = () => Atomics.load(m, dw + L.P_OWNER) === L.ABANDONED && !isPublished(ctx, dw);
        if (isOrphan(at + s, dw, still)) publishAbandoned(ctx, dw);
      }
      if (k === L.KIND_LARGE && owner === (L.LARGE_HELD | dead)) {
        // A span it held for its next large block (heldspans.ts): nobody else changes such a word.
        m.fill(0, dw, dw + span * L.DESC_WORDS);
        releaseSlices(ctx, selfW, index, s, span);
      }
      if ((k === L.KIND_SMALL || k === L.KIND_LARGE) && owner === 0) {
        // A page or block being set up (owner not yet stored), or a large block whose release stopped.
        if (isOrphan(at + s, dw, () => Atomics.load(m, dw + L.P_KIND) === k && Atomics.load(m, dw + L.P_OWNER) === 0)) {
          m.fill(0, dw, dw + span * L.DESC_WORDS);
          releaseSlices(ctx, selfW, index, s, span);
        }
      }
      s += span;
    }
  }
}

/** Whether slice `s` of segment `index` lies inside a span whose head comes before it. */
function coveredByEarlierSpan(ctx: HeapContext, index: number, s: number): boolean {
  const m = ctx.mem.m;
  for (let h = s - 1; h >= 0; h--) {
    const dw = ctx.descriptorW(index, h);
    const k = Atomics.load(m, dw + L.P_KIND);
    if (k === L.KIND_SMALL || k === L.KIND_LARGE || k === L.KIND_META) return h + Atomics.load(m, dw + L.P_SPAN) > s;
    if (k === L.KIND_FREE) return false;
  }
  return false;
}
