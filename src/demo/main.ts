// `npm start`: several workers share one webmalloc heap under a mixed workload (mostly small blocks, some
// buffers, a few large ones; a quarter of all blocks handed to another worker and freed there). Prints
// throughput and the heap's statistics every second, then a summary. Options: --workers N --seconds S.

import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { createAllocator } from '../index.js';
import { COUNTERS, C_ALLOCS, C_FREES, C_CROSS, C_BYTES, C_ERRORS, HANDOFF_SLOTS } from './workload.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name} takes a positive integer`);
  return v;
}

const workers = option('workers', Math.max(4, availableParallelism()));
const seconds = option('seconds', 10);
const heap = createAllocator();
const handoff = new Int32Array(new SharedArrayBuffer(HANDOFF_SLOTS * 4));
const counters = new Float64Array(new SharedArrayBuffer(workers * COUNTERS * 8));
const stop = new Int32Array(new SharedArrayBuffer(4));

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
console.log(`webmalloc demo: ${workers} workers, ${seconds} s, one shared heap (${mib(heap.stats().memorySize)} to start)`);
console.log('time  Mops/s  allocs/s per worker           cross-frees  memory     live       in pages  pages');

const started = performance.now();
const threads = Array.from({ length: workers }, (_, id) =>
  new Worker(new URL('./worker.js', import.meta.url), { workerData: { memory: heap.memory, handoff, counters, stop, id, workers } }),
);
const done = threads.map((w) => new Promise<void>((resolve, reject) => {
  w.on('error', reject);
  w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
}));

const total = (c: number) => { let s = 0; for (let w = 0; w < workers; w++) s += counters[w * COUNTERS + c]; return s; };
let lastOps = 0;
let lastT = started;
let peakMemory = 0;
let peakLive = 0;
const timer = setInterval(() => {
  const now = performance.now();
  const ops = total(C_ALLOCS) + total(C_FREES);
  const s = heap.stats(); // a snapshot taken while the workers run: close, not exact
  peakMemory = Math.max(peakMemory, s.memorySize);
  peakLive = Math.max(peakLive, s.liveBytes);
  const per = Array.from({ length: workers }, (_, w) => (counters[w * COUNTERS + C_ALLOCS] / ((now - started) / 1000) / 1e6).toFixed(2)).join(' ');
  console.log(
    `${((now - started) / 1000).toFixed(0).padStart(3)} s ${((ops - lastOps) / (now - lastT) / 1e3).toFixed(2).padStart(7)}  ${per.padEnd(30)} ${String(total(C_CROSS)).padStart(11)}  ${mib(s.memorySize).padEnd(10)} ${mib(s.liveBytes).padEnd(10)} ${mib(s.freeInPages).padEnd(9)} ${s.pages}`,
  );
  lastOps = ops;
  lastT = now;
}, 1000);

setTimeout(() => Atomics.store(stop, 0, 1), seconds * 1000);
await Promise.all(done);
clearInterval(timer);
const elapsed = (performance.now() - started) / 1000;

// Blocks still parked in the hand-off slots belong to nobody now: free them here.
for (let i = 0; i < handoff.length; i++) {
  const p = Atomics.exchange(handoff, i, 0) >>> 0;
  if (p !== 0) heap.free(p);
}
heap.collect(); // give back this thread's unused pages and the workers' abandoned pages that emptied
const after = heap.stats();
const check = heap.check();
const allocs = total(C_ALLOCS);
const errors = total(C_ERRORS);
console.log('\nsummary');
console.log(`  operations      ${(allocs + total(C_FREES)).toLocaleString()} in ${elapsed.toFixed(1)} s = ${((allocs + total(C_FREES)) / elapsed / 1e6).toFixed(2)} M/s (${workers} workers)`);
console.log(`  allocated       ${allocs.toLocaleString()} blocks, ${mib(total(C_BYTES))} in all; ${total(C_CROSS).toLocaleString()} freed by another worker`);
console.log(`  content checks  ${errors === 0 ? 'every block kept its pattern until freed' : `${errors} blocks were damaged`}`);
console.log(`  peak memory     ${mib(peakMemory)} for a peak of ${mib(peakLive)} live (sampled once a second)`);
console.log(`  after collect() live ${after.liveBytes} bytes in ${after.liveBlocks} blocks; ${after.pages} pages (${after.abandonedPages} abandoned by the workers), ${mib(after.freeSlices)} free slices of ${mib(after.memorySize)}`);
console.log(`  heap check      ${check.ok ? 'ok' : `FAILED\n    ${check.errors.join('\n    ')}`}`);
if (!check.ok || errors !== 0 || after.liveBlocks !== 0) process.exitCode = 1;
