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

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';

/** Free block `w` (a word index) of page `dw` from a thread that does not own the page. */
export function pushThreadFree(ctx: HeapContext, dw: number, w: number): void {
  const m = ctx.mem.m;
  const tfw = dw + L.P_THREAD_FREE;
  for (;;) {
    const tf = Atomics.load(m, tfw);
    if ((tf & L.TF_DELAYED) !== 0) {
      if (Atomics.compareExchange(m, tfw, tf, tf & ~L.TF_DELAYED) !== tf) continue;
      const owner = Atomics.load(m, dw + L.P_OWNER);
      if (owner !== L.ABANDONED) {
        pushBlock(m, ctx.threadW(owner - 1) + L.T_DELAYED, w);
        return;
      }
      continue; // abandoned meanwhile: the page's own list is the place
    }
    m[w] = tf;
    if (Atomics.compareExchange(m, tfw, tf, w) === tf) return;
  }
}

/** Push block `w` onto the lock-free list whose head is word `headW` (the block's first word links). */
function pushBlock(m: Int32Array, headW: number, w: number): void {
  for (;;) {
    const head = Atomics.load(m, headW);
    m[w] = head;
    if (Atomics.compareExchange(m, headW, head, w) === head) return;
  }
}

/** Take a page's whole thread_free list, keeping its flag. Returns the list's head (0 if empty). */
export function takeThreadFree(m: Int32Array, dw: number): number {
  const tfw = dw + L.P_THREAD_FREE;
  for (;;) {
    const tf = Atomics.load(m, tfw);
    const head = tf & ~L.TF_DELAYED;
    if (head === 0) return 0;
    if (Atomics.compareExchange(m, tfw, tf, tf & L.TF_DELAYED) === tf) return head;
  }
}
