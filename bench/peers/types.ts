// The shape every allocator takes in the benchmark: webmalloc itself and the peers it is compared with
// (dlmalloc in wasm, @thi.ng/malloc, plain JS typed arrays).

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * What the benchmark drives. Pointers are plain numbers; 0 means "no block" (out of memory, or a size that
 * cannot be served). None of the peers in this folder may be shared between workers: a multi-threaded
 * workload gets one instance per worker (so cross-thread frees, as in xmalloc, cannot be run on them).
 */
export interface BenchAllocator {
  readonly name: string;
  /** True when pointers are byte offsets into `u8` (linear memory); false for plain JS, whose pointers are ids. */
  readonly linear: boolean;
  /** True when one instance may be used from several workers at once. False for every peer here. */
  readonly shared: boolean;
  malloc(size: number): number;
  /** free(0) does nothing. */
  free(ptr: number): void;
  calloc(count: number, size: number): number;
  /** realloc(0, n) is malloc(n); realloc(p, 0) frees p and returns 0. */
  realloc(ptr: number, size: number): number;
  alignedAlloc(align: number, size: number): number;
  /** The whole linear memory. Replaced when the memory grows: read it again after each allocation. */
  readonly u8: Uint8Array;
  /** A view of `size` bytes of the block at `ptr`; works for every peer (for plain JS it is the block itself). */
  bytes(ptr: number, size: number): Uint8Array;
  /** Bytes this allocator holds from its host right now (see each peer for what that means). */
  footprint(): number;
}

/** The repository's root: the nearest folder above this module whose package.json is webmalloc's. Works both
 *  from the TypeScript sources (bench/peers/) and from the compiled build (build/bench/peers/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "webmalloc") return dir;
      } catch {
        // not a readable package.json: keep climbing
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error("bench/peers: cannot find the webmalloc repository root above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** Largest size any 32-bit peer can be asked for; larger (or negative, or fractional) requests get 0. */
export const MAX_SIZE_32 = 0xffff_ffff;

/** An integer in [0, MAX_SIZE_32]: `x >>> 0 === x` is false for negatives, fractions, NaN and >= 2^32. */
export function validSize(size: number): boolean {
  return size >>> 0 === size;
}
