// The cross-thread free protocol: how a block freed by a thread that does not own its page gets back to
// the owner, with one compare-and-swap and no lock.
//
//   page.thread_free = head of a list of blocks | TF_DELAYED
//
// Blocks are named by word index (byte offset / 4): 8-byte aligned blocks have even indexes, which leaves
// the low bit for the flag.
//
// A non-owner pushes the block onto its page's thread_free list. The owner takes the whole list in one
// step when its free list runs dry ("collect"). A full page sits on the owner's full list, where the owner
// does not look; it carries TF_DELAYED. The first remote free to such a page clears the flag and pushes the
// block onto the owner thread's `delayed` list instead, which the owner drains in its slow path: freeing
// that block locally moves the page back into its bin queue. Later remote frees go to the page as usual.
//
// The lists' heads are first read plainly, and a failed CAS hands over the value it found: V8 makes every
// Atomics call a builtin call of about 130 instructions, so a remote free costs one of them, not two. A
// stale first read only makes the CAS fail once. Over a WebAssembly.Memory the push onto a page's list runs
// in wasm (wasmops.ts), whose CAS is one instruction; a page flagged for its owner's delayed list is left to
// the JS code below.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';

/** Free block `w` (a word index) of page `dw` from a thread that does not own the page. */
export function pushThreadFree(ctx: HeapContext, dw: number, w: number): void {
  const mem = ctx.mem;
  const wasmPush = mem.pushThreadFree;
  if (wasmPush !== undefined && wasmPush(dw, w) === 0) return;
  const m = mem.m;
  const tfw = dw + L.P_THREAD_FREE;
  let tf = m[tfw];
  for (;;) {
    if ((tf & L.TF_DELAYED) !== 0) {
      const seen = Atomics.compareExchange(m, tfw, tf, tf & ~L.TF_DELAYED);
      if (seen !== tf) {
        tf = seen;
        continue;
      }
      const owner = Atomics.load(m, dw + L.P_OWNER);
      if (owner !== L.ABANDONED) {
        pushBlock(m, ctx.threadW(owner - 1) + L.T_DELAYED, w);
        return;
      }
      tf = Atomics.load(m, tfw);
      continue; // abandoned meanwhile: the page's own list is the place
    }
    m[w] = tf;
    const seen = Atomics.compareExchange(m, tfw, tf, w);
    if (seen === tf) return;
    tf = seen;
  }
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

/**
 * Take a page's whole thread_free list, keeping its flag. Returns the list's head (0 if empty). The owner
 * calls it whenever a page's free list runs dry, mostly finding nothing: that test is a plain read (a block
 * pushed just now waits for the next time).
 */
export function takeThreadFree(m: Int32Array, dw: number): number {
  const tfw = dw + L.P_THREAD_FREE;
  let tf = m[tfw];
  for (;;) {
    const head = tf & ~L.TF_DELAYED;
    if (head === 0) return 0;
    const seen = Atomics.compareExchange(m, tfw, tf, tf & L.TF_DELAYED);
    if (seen === tf) return head;
    tf = seen;
  }
}
