// Abandoned pages: pages whose owner left while they still held live blocks, kept per size class on a
// lock-free stack that any thread needing that class pops from (adopting the page).
//
// The stack head is 64 bits: the top page's descriptor word index | a tag << 32 that every change
// increments, so that a pop racing with pop-push-pop of the same page (ABA) fails its CAS instead of
// installing a stale link.

import { Layout as L } from './layout.js';
import type { HeapContext } from './context.js';

const LOW = 0xffffffffn;

function headIndex(ctx: HeapContext, bin: number): number {
  return (ctx.abandonedW + bin * L.ABANDONED_WORDS) >>> 1;
}

function next(old: bigint, dw: number): bigint {
  return BigInt.asIntN(64, ((((old >> 32n) + 1n) & 0x7fffffffn) << 32n) | BigInt(dw));
}

export function pushAbandoned(ctx: HeapContext, bin: number, dw: number): void {
  const { m, m64 } = ctx.mem;
  const i = headIndex(ctx, bin);
  for (;;) {
    const old = Atomics.load(m64, i);
    m[dw + L.P_ABANDONED_NEXT] = Number(old & LOW);
    if (Atomics.compareExchange(m64, i, old, next(old, dw)) === old) return;
  }
}

/**
 * Pop one abandoned page of class `bin`; 0 when there is none. The page's owner becomes `ownerTag` in the
 * same straight-line code as the CAS, so that a thread dying right after still owns what it popped.
 */
export function popAbandoned(ctx: HeapContext, bin: number, ownerTag: number): number {
  const { m, m64 } = ctx.mem;
  const i = headIndex(ctx, bin);
  for (;;) {
    const old = Atomics.load(m64, i);
    const top = Number(old & LOW);
    if (top === 0) return 0;
    const after = m[top + L.P_ABANDONED_NEXT];
    if (Atomics.compareExchange(m64, i, old, next(old, after)) === old) {
      Atomics.store(m, top + L.P_OWNER, ownerTag);
      m[top + L.P_ABANDONED_NEXT] = 0;
      return top;
    }
  }
}

/** Pages on the abandoned stack of `bin` (a racy count when other threads push or pop). */
export function* abandonedPages(ctx: HeapContext, bin: number): Generator<number> {
  const { m, m64 } = ctx.mem;
  let dw = Number(Atomics.load(m64, headIndex(ctx, bin)) & LOW);
  let guard = 0;
  while (dw !== 0 && guard++ < 1 << 20) {
    yield dw;
    dw = m[dw + L.P_ABANDONED_NEXT];
  }
}
