// Statistics: a snapshot of where every byte of the memory is, made by walking the heap's metadata (the
// fast paths keep no counters). Exact when no thread allocates or frees meanwhile.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { abandonedPages } from './abandoned.js';
import { liveSlots } from './registry.js';
import { BIN_SIZE } from './sizeclass.js';
import type { BinStats, HeapStats } from './types.js';
import { pendingBlocks } from './pages.js';
import { delayedByPage, pageOfAddress, segmentEnd, segments, spans } from './walk.js';

export function heapStats(ctx: HeapContext): HeapStats {
  const m = ctx.mem.m;
  const memorySize = ctx.mem.byteLength();
  const bins: BinStats[] = BIN_SIZE.map((blockSize) => ({ blockSize, pages: 0, liveBlocks: 0, freeBlocks: 0 }));
  const delayed = delayedByPage(ctx, (p) => pageOfAddress(ctx, p));
  const s: HeapStats = {
    memorySize,
    belowHeap: ctx.base,
    metadata: 0,
    liveBytes: 0,
    liveBlocks: 0,
    freeInPages: 0,
    pageWaste: 0,
    freeSlices: 0,
    unclaimed: 0,
    segments: 0,
    pages: 0,
    abandonedPages: 0,
    largeBlocks: 0,
    hugeBlocks: 0,
    threadsAttached: liveSlots(ctx).length,
    bins,
  };
  let claimedEnd = ctx.base;
  for (const seg of segments(ctx)) {
    s.segments++;
    claimedEnd = segmentEnd(ctx, seg.index);
    if (seg.kind === L.SEG_HUGE_TAIL) continue; // counted with its first segment
    s.metadata += ctx.segmentHeader;
    if (seg.kind === L.SEG_HUGE_CACHED || seg.kind === L.SEG_HUGE_SETUP || seg.kind === L.SEG_HUGE_HELD) {
      // a freed huge block's segments, free until the next huge block (or the pool) takes them; such a run
      // that a thread has just taken; or one a thread holds for its next huge block
      s.freeSlices += segmentEnd(ctx, seg.index + seg.arg - 1) - ctx.segmentAddress(seg.index) - ctx.segmentHeader;
      continue;
    }
    if (seg.kind === L.SEG_HUGE) {
      const dw = ctx.descriptorW(seg.index, 0);
      const usable = m[dw + L.P_BLOCK_SIZE] >>> 0; // unsigned: a huge block may be 2 GiB or more
      const spanBytes = segmentEnd(ctx, seg.index + seg.arg - 1) - ctx.segmentAddress(seg.index) - ctx.segmentHeader;
      s.hugeBlocks++;
      s.liveBlocks++;
      s.liveBytes += usable;
      s.pageWaste += spanBytes - usable;
      continue;
    }
    for (const span of spans(ctx, seg.index)) {
      switch (span.kind) {
        case L.KIND_FREE:
          s.freeSlices += span.bytes;
          break;
        case L.KIND_META:
          s.metadata += span.bytes;
          break;
        case L.KIND_LARGE: {
          if (Atomics.load(m, span.dw + L.P_OWNER) !== L.LIVE_BLOCK) {
            s.freeSlices += span.bytes; // held for a thread's next large block (heldspans.ts), or being released
            break;
          }
          const usable = m[span.dw + L.P_BLOCK_SIZE];
          s.largeBlocks++;
          s.liveBlocks++;
          s.liveBytes += usable;
          s.pageWaste += span.bytes - usable;
          break;
        }
        case L.KIND_SMALL: {
          const dw = span.dw;
          const size = m[dw + L.P_BLOCK_SIZE];
          const capacity = m[dw + L.P_CAPACITY];
          const awaiting = pendingBlocks(m, ctx.base / L.WORD, dw).length;
          const live = Math.max(0, m[dw + L.P_USED] - awaiting - (delayed.get(dw) ?? 0));
          const bin = bins[m[dw + L.P_BIN]];
          s.pages++;
          s.liveBlocks += live;
          s.liveBytes += live * size;
          s.freeInPages += (capacity - live) * size;
          s.pageWaste += span.bytes - capacity * size;
          if (bin) {
            bin.pages++;
            bin.liveBlocks += live;
            bin.freeBlocks += capacity - live;
          }
          break;
        }
        default:
          s.pageWaste += span.bytes; // a damaged descriptor: check() names it
      }
    }
  }
  s.unclaimed = Math.max(0, memorySize - claimedEnd);
  s.abandonedPages = abandonedPages(ctx).length;
  return s;
}
