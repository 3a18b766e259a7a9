// A demo worker: attaches to the shared heap and runs the mixed workload until told to stop. Each block
// carries a pattern naming its owner; whoever frees it (this worker or another) checks the pattern first.

import { workerData } from 'node:worker_threads';
import { attach } from '../index.js';
import { COUNTERS, C_ALLOCS, C_FREES, C_CROSS, C_BYTES, C_ERRORS, requestSize } from './workload.js';

const { memory, handoff, counters, stop, id } = workerData as {
  memory: SharedArrayBuffer; handoff: Int32Array; counters: Float64Array; stop: Int32Array; id: number;
};
const heap = attach(memory);
const base = id * COUNTERS;
let seed = (id + 1) * 0x9e3779b9;
const random = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0) >>> 0) / 2 ** 32;

const LIVE = 4000; // blocks this worker keeps at most
const live = new Float64Array(LIVE);
let count = 0;
let allocs = 0, frees = 0, cross = 0, bytes = 0, errors = 0;

/**
 * Stamp a block: its first 8 bytes (all blocks have them) hold the maker's id and the size asked for, the
 * rest of its first 64 bytes repeat a byte derived from the address. `u8` is renewed once per batch.
 */
let u8 = heap.u8;
function stamp(p: number, size: number): void {
  u8[p] = id;
  u8[p + 1] = size >>> 24;
  u8[p + 2] = size >>> 16;
  u8[p + 3] = size >>> 8;
  u8[p + 4] = size;
  u8[p + 5] = u8[p + 6] = u8[p + 7] = 0xa5;
  u8.fill((p >>> 3) & 0xff, p + 8, p + Math.min(size, 64));
}
function verify(p: number): boolean {
  if (u8.length < p + 64) u8 = heap.u8; // another worker grew the memory
  const size = ((u8[p + 1] << 24) | (u8[p + 2] << 16) | (u8[p + 3] << 8) | u8[p + 4]) >>> 0;
  if (u8[p + 5] !== 0xa5 || u8[p + 7] !== 0xa5 || size > heap.usableSize(p)) return false;
  const tag = (p >>> 3) & 0xff;
  for (let i = p + 8; i < p + Math.min(size, 64); i++) if (u8[i] !== tag) return false;
  return true;
}
function release(p: number, foreign: boolean): void {
  if (!verify(p)) errors++;
  heap.free(p);
  frees++;
  if (foreign) cross++;
}

while (Atomics.load(stop, 0) === 0) {
  for (let i = 0; i < 2000; i++) {
    const size = requestSize(random(), random());
    const p = heap.malloc(size);
    if (p === 0) continue; // the memory is full: frees below make room
    if (u8.length < p + size) u8 = heap.u8; // the memory grew
    stamp(p, size);
    allocs++;
    bytes += size;
    if (random() < 0.25) {
      // Hand it to whichever worker takes this slot next; free what was parked there.
      const q = Atomics.exchange(handoff, Math.floor(random() * handoff.length), p) >>> 0;
      if (q !== 0) release(q, true);
    } else if (count < LIVE) {
      live[count++] = p;
    } else {
      const j = Math.floor(random() * LIVE);
      release(live[j], false);
      live[j] = p;
    }
    // Objects die young: free a random live one now and then.
    if (count > 0 && random() < 0.3) {
      const j = Math.floor(random() * count);
      release(live[j], false);
      live[j] = live[--count];
    }
  }
  counters[base + C_ALLOCS] = allocs;
  counters[base + C_FREES] = frees;
  counters[base + C_CROSS] = cross;
  counters[base + C_BYTES] = bytes;
  counters[base + C_ERRORS] = errors;
}
u8 = heap.u8;
for (let j = 0; j < count; j++) release(live[j], false);
counters[base + C_FREES] = frees;
counters[base + C_ERRORS] = errors;
heap.detach();
