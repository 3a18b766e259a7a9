// The demo's workload, shared by its main thread and workers: counters layout and the mix of block sizes.

export const COUNTERS = 8;
export const C_ALLOCS = 0;
export const C_FREES = 1;
export const C_CROSS = 2;
export const C_BYTES = 3;
export const C_ERRORS = 4;
export const HANDOFF_SLOTS = 1024;

/**
 * A request size: 85% small objects (8..256 B), 14% buffers (256 B..64 KiB, mostly short), 0.9% large
 * blocks (64 KiB..1 MiB), 0.1% huge ones (1..4 MiB).
 */
export function requestSize(r: number, r2: number): number {
  if (r < 0.85) return 8 + Math.floor(r2 * 248);
  if (r < 0.99) return 256 + Math.floor(r2 * r2 * 65280);
  if (r < 0.999) return 65536 + Math.floor(r2 * 983040);
  return 1048576 + Math.floor(r2 * 3145728);
}
