// The cross-thread free protocol: how a block freed by a thread that does not own its page gets back to
// the owner, with no lock and without writing into the block.
//
//   remote bitmap (segment header): one bit per 8-byte granule; set: a block starts there, another thread
//                                   freed it, and the owner has not taken it yet
//   page.P_REMOTE = TF_PENDING (the page may have bits set) | TF_DELAYED (the page is on its owner's full list)
//
// A non-owner sets the block's bit with one atomic OR, then makes sure the page says TF_PENDING (a CAS only
// when it does not already). The OR's old value tells a block freed twice before its owner took it back:
// that free changes nothing and is refused. The owner looks at a page's flag whenever its free list runs
// dry ("collect", pages.ts): it clears TF_PENDING, then takes each bitmap word with bits by one exchange.
// A bit set after that clear sets the flag again, so nothing waits unseen.
//
// Why not mimalloc's thread_free list, linked through the freed blocks (as webmalloc did up to layout 15):
// the freeing thread wrote the link into the block, so the block's line moved to the freer's core, and the
// owner's collect walked those links one miss at a time. With the bitmap the freer only reads the block (if
// at all) and writes one word of bits shared by 32 granules. Producer/consumer pairs (xmalloc) on the
// 2-core machine: 19-23 ns per call instead of 34 (docs/design.md, "Remote frees in a bitmap").
//
// A full page sits on the owner's full list, where the owner does not look; it carries TF_DELAYED. The first
// remote free to such a page clears the flag and pushes the block onto the owner thread's `delayed` list
// instead (linked through the blocks: that list is rare), which the owner drains in its slow path: freeing
// that block locally moves the page back into its bin queue. Later remote frees go to the bitmap as usual.
// The owner does not clear the flag when its own free brings the page back: the page, queued, then tells it
// of the next remote free the same way, and parking it again while no remote free came needs no atomic.
// A freer that set its bit and then finds the page parked (the owner collected, found the page full and
// parked it between the freer's OR and its look at the flag) takes its bit back with an atomic AND and goes
// the delayed way, unless the owner took the bit meanwhile: then the block is on the page's free list already.
//
// Over a WebAssembly.Memory the common case runs in wasm (wasmops.ts), whose atomics are single
// instructions where V8's Atomics calls are builtin calls of about 130 instructions each.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';
import { bitOf, remoteWordOf } from './pages.js';

/**
 * What freeRemote did: FREED, or FREED_TWICE (refused: the block's bit was set already, so it was freed and
 * not taken back); and from setBit (and wasmops.ts's setRemoteBit) also DELAYED: the page is on its owner's
 * full list, and the block's bit is clear (never set, or taken back). A const enum, so that the values are
 * literals in freeRemote's bytecode (a module's const is a context slot, loaded and checked at each use).
 */
export const enum Remote {
  FREED = 0,
  DELAYED = 1,
  FREED_TWICE = 2,
}

/**
 * Free block `w` (a word index) of page `dw` from a thread that does not own the page. Small in bytecode, so
 * that V8 inlines it into the free that calls it; the rare parked page goes to freeDelayed.
 */
export function freeRemote(ctx: HeapContext, dw: number, w: number): number {
  // The bitmap's word and bit are worked out in wasm, or by setBitOf: fewer bytes of bytecode here.
  const wasmSetBit = ctx.mem.setRemoteBit;
  const done = wasmSetBit !== undefined ? wasmSetBit(dw + L.P_REMOTE, w, ctx.base >>> 2) : setBitOf(ctx, dw, w);
  return done === Remote.DELAYED ? freeDelayed(ctx, dw, w) : done;
}

/** setBit for block `w` of page `dw`. */
function setBitOf(ctx: HeapContext, dw: number, w: number): number {
  return setBit(ctx.mem.m, dw + L.P_REMOTE, remoteWordOf(ctx.base >>> 2, w), bitOf(w));
}

/** freeRemote's block `w`, whose page is on its owner's full list (its bit taken back). */
function freeDelayed(ctx: HeapContext, dw: number, w: number): number {
  const m = ctx.mem.m;
  const rw = dw + L.P_REMOTE;
  const bw = remoteWordOf(ctx.base >>> 2, w);
  const bit = bitOf(w);
  let done = Remote.DELAYED;
  while (done === Remote.DELAYED) {
    // The page is on its owner's full list: whoever clears the flag tells the owner, through its delayed list.
    const flags = Atomics.load(m, rw);
    if ((flags & L.TF_DELAYED) === 0 || Atomics.compareExchange(m, rw, flags, flags & ~L.TF_DELAYED) !== flags) {
      done = setBit(m, rw, bw, bit); // told by another thread meanwhile, or the flags moved: the bitmap again
      continue;
    }
    const owner = Atomics.load(m, dw + L.P_OWNER);
    if (owner === L.ABANDONED) {
      done = setBit(m, rw, bw, bit); // abandoned meanwhile (it has no full list then): the bitmap
      continue;
    }
    pushBlock(m, ctx.threadW(owner - 1) + L.T_DELAYED, w);
    return Remote.FREED;
  }
  return done;
}

/**
 * Set bit `bit` of remote-bitmap word `bw`, then make sure the page's flags (word `rw`) say TF_PENDING. The
 * flags are read after the OR, atomically: an owner that cleared TF_PENDING before that read takes the bit
 * in the scan that follows its clear, or finds the flag set again. Returns Remote.FREED, Remote.FREED_TWICE
 * (the bit was set: nothing changed), or Remote.DELAYED when the page carries TF_DELAYED (the bit taken back
 * first, unless the owner took it already: then the block is on the page's free list, and that is Remote.FREED).
 * wasmops.ts's setRemoteBit does the same.
 */
function setBit(m: Int32Array, rw: number, bw: number, bit: number): number {
  if ((Atomics.or(m, bw, bit) & bit) !== 0) return Remote.FREED_TWICE;
  let flags = Atomics.load(m, rw);
  for (;;) {
    if ((flags & L.TF_PENDING) !== 0) return Remote.FREED;
    if ((flags & L.TF_DELAYED) !== 0) break;
    const seen = Atomics.compareExchange(m, rw, flags, flags | L.TF_PENDING);
    if (seen === flags) return Remote.FREED;
    flags = seen;
  }
  return (Atomics.and(m, bw, ~bit) & bit) !== 0 ? Remote.DELAYED : Remote.FREED;
}

/** Push block `w` onto the lock-free list whose head is word `headW` (the block's first word links). */
function pushBlock(m: Int32Array, headW: number, w: number): void {
  let head = m[headW];
  for (;;) {
    m[w] = head;
    const seen = Atomics.compareExchange(m, headW, head, w);
    if (seen === head) return;
    head = seen;
  }
}
