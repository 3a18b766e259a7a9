// Heap validation: every invariant of docs/design.md that can be read off the memory, checked without
// trusting any link or count. Meant for a quiet heap (no thread allocating or freeing meanwhile).

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { abandonedPages, summaryHas } from './abandoned.js';
import { BIN_SIZE, BIN_SLICES, BLOCK_INVERSE, NBINS, START_SHIFT, blockAlignment } from './sizeclass.js';
import type { CheckResult } from './types.js';
import { isMarkedLive, pendingBlocks } from './pages.js';
import { hugeRunEnd, runCount, runSlot } from './segments.js';
import { liveSlots } from './registry.js';
import { delayedByPage, listBlocks, pageOfAddress, segmentEnd, spans } from './walk.js';

const MAX_ERRORS = 100;

export function checkHeap(ctx: HeapContext): CheckResult {
  const errors: string[] = [];
  const fail = (msg: string) => {
    if (errors.length < MAX_ERRORS) errors.push(msg);
  };
  try {
    checkAll(ctx, fail);
  } catch (e) {
    fail(`check stopped: ${(e as Error).message}`);
  }
  return { ok: errors.length === 0, errors };
}

function checkAll(ctx: HeapContext, fail: (msg: string) => void): void {
  const top = ctx.top();
  const m = ctx.mem.m;
  const root = (ctx.base + L.ROOT_OFFSET) >>> 2;
  if (m[root + L.R_MAGIC] !== L.MAGIC) fail('root record: bad magic');
  const h = ctx.headerW;
  if (m[h + L.H_BASE] !== ctx.base) fail(`heap header: base ${m[h + L.H_BASE]} != ${ctx.base}`);
  if (top < 1 || top > ctx.maxSegments) {
    fail(`heap header: ${top} segments claimed, at most ${ctx.maxSegments} fit`);
    return;
  }
  const claimedEnd = segmentEnd(ctx, top - 1);
  if (ctx.mem.byteLength() < claimedEnd) fail(`memory is ${ctx.mem.byteLength()} bytes, segments reach ${claimedEnd}`);

  // Page lists of live threads: every owned page is listed once, in its owner's queue or full list.
  const listed = new Map<number, string>();
  for (let slot = 0; slot < ctx.maxThreads; slot++) {
    const tw = ctx.threadW(slot);
    const state = Atomics.load(m, tw + L.T_STATE) & 3;
    if (state === L.TS_FREE) continue;
    const owner = slot + 1;
    if (state === L.TS_LEAVING) continue; // being detached or reclaimed right now
    for (let bin = 0; bin < NBINS; bin++) {
      let prev = 0;
      let n = 0;
      for (let dw = m[tw + L.T_QUEUES + bin]; dw !== ctx.emptyPageW; dw = m[dw + L.P_NEXT]) {
        const where = `thread ${slot} queue of class ${bin}`;
        if (dw === 0 || !isDescriptor(ctx, dw)) {
          fail(`${where}: link ${dw} is not a page descriptor`);
          break;
        }
        if (listed.has(dw)) {
          fail(`${where}: page ${pageName(ctx, dw)} listed twice (also in ${listed.get(dw)})`);
          break;
        }
        listed.set(dw, where);
        if (m[dw + L.P_KIND] !== L.KIND_SMALL || m[dw + L.P_BIN] !== bin) fail(`${where}: page ${pageName(ctx, dw)} is not of that class`);
        if (m[dw + L.P_OWNER] !== owner) fail(`${where}: page ${pageName(ctx, dw)} has owner ${m[dw + L.P_OWNER] - 1}`);
        if (m[dw + L.P_PREV] !== prev) fail(`${where}: page ${pageName(ctx, dw)} has a wrong back link`);
        if ((m[dw + L.P_FLAGS] & L.PF_IN_FULL) !== 0) fail(`${where}: page ${pageName(ctx, dw)} is flagged full`);
        prev = dw;
        if (m[dw + L.P_NEXT] === 0) break;
        if (++n > 1 << 16) {
          fail(`${where}: does not end`);
          break;
        }
      }
      if (m[tw + L.T_QUEUE_TAILS + bin] !== prev) fail(`thread ${slot} queue of class ${bin}: wrong tail`);
    }
    let prev = 0;
    let n = 0;
    for (let dw = m[tw + L.T_FULL]; dw !== 0; dw = m[dw + L.P_NEXT]) {
      const where = `thread ${slot} full list`;
      if (!isDescriptor(ctx, dw) || listed.has(dw)) {
        fail(`${where}: link ${dw} is not a page descriptor, or is listed twice`);
        break;
      }
      listed.set(dw, where);
      if (m[dw + L.P_KIND] !== L.KIND_SMALL) fail(`${where}: page ${pageName(ctx, dw)} is not a small page`);
      if (m[dw + L.P_OWNER] !== owner) fail(`${where}: page ${pageName(ctx, dw)} has owner ${m[dw + L.P_OWNER] - 1}`);
      if (m[dw + L.P_PREV] !== prev) fail(`${where}: page ${pageName(ctx, dw)} has a wrong back link`);
      if ((m[dw + L.P_FLAGS] & L.PF_IN_FULL) === 0) fail(`${where}: page ${pageName(ctx, dw)} is not flagged full`);
      prev = dw;
      if (++n > 1 << 16) {
        fail(`${where}: does not end`);
        break;
      }
    }
  }
  for (const dw of abandonedPages(ctx)) {
    const where = `abandoned page ${pageName(ctx, dw)}`;
    if (listed.has(dw)) fail(`${where}: also in ${listed.get(dw)}`);
    listed.set(dw, 'the abandoned pages');
    if (m[dw + L.P_KIND] !== L.KIND_SMALL) {
      fail(`${where}: not a small page (kind ${m[dw + L.P_KIND]})`);
      continue;
    }
    if (m[dw + L.P_OWNER] !== L.ABANDONED) fail(`${where}: is marked abandoned but has owner ${m[dw + L.P_OWNER] - 1}`);
    const index = ctx.segmentOfWord(dw);
    if (!summaryHas(ctx, m[dw + L.P_BIN], index)) fail(`${where}: its class's summary does not name segment ${index}`);
  }

  const delayed = delayedByPage(ctx, (p) => pageOfAddress(ctx, p));
  const summaryBit = (i: number) => (Atomics.load(m, ctx.summaryW + (i >>> 5)) >>> (i & 31)) & 1;
  const checkHugeTails = (index: number, k: number) => {
    for (let j = 1; j < k && index + j < top; j++) {
      if (Atomics.load(m, ctx.segTableW + (index + j) * L.S_WORDS) !== L.SEG_HUGE_TAIL) {
        fail(`segment ${index}: segment ${index + j} is not marked as part of its huge run`);
      }
    }
  };
  const attached = new Set(liveSlots(ctx));
  let runEnd = 0; // where the run covering the segment before ends (see hugeRunEnd)
  for (let index = 0; index < ctx.maxSegments; index++) {
    const sw = ctx.segTableW + index * L.S_WORDS;
    const kindWord = Atomics.load(m, sw + L.S_KIND);
    const kind = kindWord & 0xff;
    const arg = runCount(kindWord);
    const tailCovered = index < runEnd;
    runEnd = hugeRunEnd(kindWord, index, runEnd);
    const slicesWord = Atomics.load(m, sw + L.S_SLICES);
    const name = `segment ${index}`;
    if (index >= top) {
      if (kindWord !== L.SEG_UNCLAIMED || slicesWord !== 0) fail(`${name}: beyond the claimed segments but not empty`);
      continue;
    }
    if (kind === L.SEG_HUGE_TAIL) {
      if (arg !== 0) fail(`${name}: huge tail with argument ${arg} (tails have none)`);
      if (!tailCovered) fail(`${name}: huge tail without its huge block`);
      continue;
    }
    if (kind === L.SEG_HUGE_SETUP) {
      // Claimed by a thread that is setting a block up in it, joining it or releasing it right now, or
      // that died doing so (reclaim() releases it then).
      fail(`${name}: a huge run of ${arg} segments claimed by thread slot ${runSlot(kindWord)}, which no block or cache holds`);
      continue;
    }
    if (kind === L.SEG_HUGE_CACHED || kind === L.SEG_HUGE_HELD) {
      // A freed huge block's segments kept whole: no free slices, and its tails point back here. A held run
      // (held.ts) is kept by an attached thread for its next huge block, and counts its tails exactly.
      const what = kind === L.SEG_HUGE_HELD ? 'held' : 'cached';
      const slot = runSlot(kindWord);
      if (kind === L.SEG_HUGE_HELD && !attached.has(slot)) {
        fail(`${name}: a huge run of ${arg} segments held by thread slot ${slot}, which is not attached`);
      }
      if (arg < 1 || index + arg > top) fail(`${name}: ${what} huge run of ${arg} segments past the claimed ones`);
      if ((slicesWord & L.ALL_SLICES) !== 0) fail(`${name}: ${what} huge run has free slices`);
      checkHugeTails(index, arg);
      const next = index + arg < top ? Atomics.load(m, ctx.segTableW + (index + arg) * L.S_WORDS) & 0xff : -1;
      if (kind === L.SEG_HUGE_HELD && next === L.SEG_HUGE_TAIL) fail(`${name}: held huge run of ${arg} segments is followed by a tail it does not count`);
      continue;
    }
    if (kind === L.SEG_HUGE) {
      const dw = ctx.descriptorW(index, 0);
      const k = arg;
      const seg = ctx.segmentAddress(index);
      const area = m[dw + L.P_AREA] * L.WORD;
      const usable = m[dw + L.P_BLOCK_SIZE] >>> 0; // unsigned: a huge block may be 2 GiB or more
      if (k < 1 || index + k > top) fail(`${name}: huge block of ${k} segments past the claimed ones`);
      if (m[dw + L.P_KIND] !== L.KIND_HUGE || m[dw + L.P_SPAN] !== k) fail(`${name}: huge block descriptor does not match the segment table`);
      if (m[dw + L.P_OWNER] !== L.LIVE_BLOCK) fail(`${name}: huge block is not live`);
      if (area < seg + ctx.segmentHeader || area + usable !== segmentEnd(ctx, index + k - 1)) {
        fail(`${name}: huge block ${area} (+${usable}) does not fit its segments`);
      }
      if ((slicesWord & L.ALL_SLICES) !== 0) fail(`${name}: huge block segment has free slices`);
      checkHugeTails(index, k);
      continue;
    }
    if (kind !== L.SEG_NORMAL) {
      fail(`${name}: unknown kind ${kind}`);
      continue;
    }
    const slices = ctx.segmentSlices(index);
    let free = 0;
    let covered = 0;
    for (const span of spans(ctx, index)) {
      const n = span.kind === L.KIND_FREE ? 1 : m[span.dw + L.P_SPAN];
      const where = `${name} slice ${span.slice}`;
      if (span.kind === L.KIND_TAIL || n < 1 || span.slice + n > slices) {
        fail(`${where}: descriptor kind ${span.kind} spans ${n} slices: not a span head`);
        covered |= 1 << span.slice;
        continue;
      }
      const mask = ((1 << n) - 1) << span.slice;
      covered |= mask;
      if (span.kind === L.KIND_FREE) free |= mask;
      for (let t = 1; t < n; t++) {
        const tw = span.dw + t * L.DESC_WORDS;
        if (m[tw + L.P_KIND] !== L.KIND_TAIL || m[tw + L.P_SPAN] !== t) fail(`${where}: slice ${span.slice + t} is not a tail of the span`);
        // The owner's free takes a descriptor whose owner word holds the thread's tag for a small page's head.
        else if (m[tw + L.P_OWNER] !== 0) fail(`${where}: tail slice ${span.slice + t} names an owner (${m[tw + L.P_OWNER]})`);
      }
      if (span.kind === L.KIND_FREE && m[span.dw + L.P_OWNER] !== 0) fail(`${where}: free slice names an owner (${m[span.dw + L.P_OWNER]})`);
      if (span.kind === L.KIND_SMALL) checkPage(ctx, span.dw, span.start, span.bytes, where, listed, delayed, fail);
      else if (span.kind === L.KIND_LARGE) {
        const area = m[span.dw + L.P_AREA] * L.WORD;
        const owner = m[span.dw + L.P_OWNER];
        const holder = owner - L.LARGE_HELD; // a freed block's span held for the thread's next one (heldspans.ts)
        const held = holder >= 0 && holder < ctx.maxThreads;
        if (owner !== L.LIVE_BLOCK && !held) fail(`${where}: large block is not live`);
        if (held && !attached.has(holder)) {
          fail(`${where}: a large span held by thread slot ${holder}, which is not attached`);
        }
        if (area < span.start || area + m[span.dw + L.P_BLOCK_SIZE] !== span.start + span.bytes) fail(`${where}: large block does not fit its span`);
      } else if (span.kind === L.KIND_META) {
        if (index !== 0 || span.slice !== 0) fail(`${where}: heap header span outside segment 0`);
      } else if (span.kind !== L.KIND_FREE) fail(`${where}: unknown page kind ${span.kind}`);
    }
    const all = (1 << slices) - 1;
    if (covered !== all) fail(`${name}: slices not covered by spans (${(all & ~covered).toString(2)})`);
    if ((slicesWord & L.ALL_SLICES) !== free) {
      fail(`${name}: free-slice bits ${(slicesWord & L.ALL_SLICES).toString(2)} but free descriptors ${free.toString(2)}`);
    }
    if (free !== 0 && summaryBit(index) === 0) fail(`${name}: has free slices but the summary does not say so`);
  }
  for (const [dw, where] of listed) {
    if (m[dw + L.P_KIND] !== L.KIND_SMALL) fail(`${where}: page ${pageName(ctx, dw)} is not a live page`);
  }
}

function checkPage(
  ctx: HeapContext,
  dw: number,
  start: number,
  bytes: number,
  where: string,
  listed: Map<number, string>,
  delayed: Map<number, number>,
  fail: (msg: string) => void,
): void {
  const m = ctx.mem.m;
  const bin = m[dw + L.P_BIN];
  if (bin >= NBINS) return fail(`${where}: size class ${bin} does not exist`);
  const size = BIN_SIZE[bin];
  const area = m[dw + L.P_AREA] * L.WORD;
  const capacity = m[dw + L.P_CAPACITY];
  const reserved = m[dw + L.P_RESERVED];
  const used = m[dw + L.P_USED];
  const spanEnd = start + bytes;
  if (m[dw + L.P_BLOCK_SIZE] !== size) fail(`${where}: block size ${m[dw + L.P_BLOCK_SIZE]} is not class ${bin}'s ${size}`);
  if (m[dw + L.P_DIVISOR] !== BLOCK_INVERSE[bin]) fail(`${where}: divisor ${m[dw + L.P_DIVISOR]} is not class ${bin}'s`);
  const bound = m[dw + L.P_CARVED_BOUND];
  if ((bound & 31) !== START_SHIFT[bin]) fail(`${where}: carved bound ${bound}: shift ${bound & 31} is not class ${bin}'s ${START_SHIFT[bin]}`);
  if (bound >>> 5 !== reserved) fail(`${where}: carved bound ${bound} does not match ${reserved} blocks carved`);
  if (m[dw + L.P_SPAN] !== BIN_SLICES[bin]) fail(`${where}: page spans ${m[dw + L.P_SPAN]} slices, class ${bin} takes ${BIN_SLICES[bin]}`);
  if (area < start || area % blockAlignment(size) !== 0) fail(`${where}: block area ${area} misplaced`);
  if (capacity !== Math.floor((spanEnd - area) / size)) fail(`${where}: capacity ${capacity} wrong`);
  if (reserved > capacity) return fail(`${where}: ${reserved} blocks carved, capacity ${capacity}`);
  const owner = m[dw + L.P_OWNER];
  if (owner !== L.ABANDONED && (owner < 1 || owner > ctx.maxThreads)) fail(`${where}: owner ${owner} is neither a thread slot nor ABANDONED`);
  else if (!listed.has(dw)) fail(`${where}: page is in no thread's lists${owner === L.ABANDONED ? ', and abandoned but not marked so' : ' nor abandoned'}`);

  // Every block on the free list and every bit of the remote bitmap: inside the carved part, at a block
  // start, once.
  const seen = new Uint8Array(reserved);
  const sets: [string, number[]][] = [
    ['the free list', listBlocks(m, m[dw + L.P_FREE], reserved)],
    ['the remote bitmap', pendingBlocks(m, ctx.base / L.WORD, dw)],
  ];
  const counts: number[] = [];
  for (const [name, blocks] of sets) {
    let n = 0;
    for (const b of blocks) {
      const rel = b * L.WORD - area;
      const q = rel / size;
      if (rel < 0 || !Number.isInteger(q) || q >= reserved) {
        fail(`${where}: ${name} holds ${b * L.WORD}, not a carved block of the page`);
        break;
      }
      if (seen[q]) {
        fail(`${where}: block ${b * L.WORD} is on the free list twice, or both on it and in the remote bitmap`);
        break;
      }
      seen[q] = 1;
      n++;
    }
    if (blocks.length > reserved) fail(`${where}: ${name} holds more than the page's blocks (a cycle?)`);
    counts.push(n);
  }
  const [freeN, threadN] = counts;
  if (used !== reserved - freeN) fail(`${where}: used count ${used}, but ${reserved} carved - ${freeN} free = ${reserved - freeN}`);
  const waiting = threadN + (delayed.get(dw) ?? 0);
  if (waiting > used) fail(`${where}: ${waiting} blocks await collection, more than ${used} in use`);
  if (ctx.checked) {
    // Live bits: exactly the carved blocks that are on no list (delayed blocks are not live either).
    let liveBits = 0;
    for (let q = 0; q < reserved; q++) {
      const b = area + q * size;
      const w = b / L.WORD;
      const live = isMarkedLive(m, ctx.base / L.WORD, w);
      liveBits += live ? 1 : 0;
      if (live && seen[q]) fail(`${where}: block ${b} is marked live but is on a free list`);
    }
    const lost = (m[dw + L.P_FLAGS] & L.PF_LOST_BLOCKS) !== 0; // blocks a dead owner was handing: counted live, maybe unmarked
    if (lost ? liveBits > used - waiting : liveBits !== used - waiting) {
      fail(`${where}: ${liveBits} blocks marked live, ${used - waiting} expected`);
    }
  }
}

function isDescriptor(ctx: HeapContext, dw: number): boolean {
  const byte = dw * L.WORD;
  const off = byte - ctx.base;
  if (off < 0 || byte >= ctx.mem.viewBytes) return false;
  const inSeg = off % L.SEGMENT_SIZE;
  return inSeg >= L.DESC_OFFSET && inSeg < L.DESC_OFFSET + L.SLICES_PER_SEGMENT * L.DESC_SIZE && (inSeg - L.DESC_OFFSET) % L.DESC_SIZE === 0;
}

function pageName(ctx: HeapContext, dw: number): string {
  return `${ctx.segmentOfWord(dw)}:${ctx.sliceOfDescriptor(dw)}`;
}
