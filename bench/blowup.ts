// Memory that stays bounded (Hoard's "blowup"), and the cost of reclaiming a dead worker's heap.
// `node build/bench/blowup.js [--full]`: prints the ratios with the peak live bytes and the memory size,
// and writes bench/results/blowup.json. Run it alone (take /tmp/webmalloc-bench.lock).

import { mkdirSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { createAllocator, type LinearMemory } from 'webmalloc';
import { fileURLToPath } from 'node:url';
import { readArgs } from './args.js';

const full = readArgs(process.argv.slice(2), { full: { type: 'boolean' } }, 'node build/bench/blowup.js [--full]').values.full === true;
const MiB = 2 ** 20;
const workerUrl = new URL('./blowup-worker.js', import.meta.url);
const exit = (w: Worker) => new Promise<void>((resolve, reject) => { w.once('exit', () => resolve()); w.once('error', reject); });
const message = (w: Worker) => new Promise<unknown>((resolve) => w.once('message', resolve));
const results: Record<string, unknown>[] = [];
const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
const bytesOf = (m: LinearMemory) => (m instanceof WebAssembly.Memory ? m.buffer : m).byteLength;

function report(name: string, peakLive: number, memory: number, bound: string, ok: boolean, extra: Record<string, unknown> = {}) {
  const ratio = memory / peakLive;
  results.push({ name, peakLive, memory, ratio, bound, ok, ...extra });
  console.log(`${name.padEnd(42)} peak live ${mib(peakLive).padStart(11)}  memory ${mib(memory).padStart(11)}  ratio ${ratio.toFixed(2).padStart(6)}  (${bound}: ${ok ? 'met' : 'MISSED'})`);
}

// 1. Producer/consumer: blocks allocated in one worker, freed in another.
{
  const heap = createAllocator();
  const slots = 8;
  const batch = 1024;
  const size = 64;
  const batches = full ? 10_000 : 2_000;
  const ring = new Int32Array(new SharedArrayBuffer(4 * (2 + slots * batch)));
  const data = { memory: heap.memory, ring, slots, batch, batches, size };
  const t = performance.now();
  const ws = ['producer', 'consumer'].map((role) => new Worker(workerUrl, { workerData: { ...data, role } }));
  let memory = 0;
  const sample = setInterval(() => (memory = Math.max(memory, bytesOf(heap.memory))), 2);
  await Promise.all(ws.map(exit));
  clearInterval(sample);
  memory = Math.max(memory, bytesOf(heap.memory));
  const peakLive = (slots + 1) * batch * size; // at most `slots` batches in the ring plus the one being filled
  const ms = performance.now() - t;
  // The bound: 2x peak live plus a per-thread constant (the 4 MiB the heap starts with covers it).
  report(`producer/consumer (${((batches * batch) / 1e6).toFixed(1)}M blocks)`, peakLive, memory, '<= 2x + 4 MiB', memory <= 2 * peakLive + 4 * MiB, {
    blocks: batches * batch,
    ms,
  });
}

// 2. Phases: 100 MB of 32-byte blocks, all freed, then 100 MB of 4 KiB blocks.
{
  const heap = createAllocator();
  const phase = 100 * 1_000_000;
  const small: number[] = [];
  for (let n = 0; n < phase; n += 32) small.push(heap.malloc(32));
  const afterSmall = heap.stats().memorySize;
  for (const p of small) heap.free(p);
  const big: number[] = [];
  for (let n = 0; n < phase; n += 4096) big.push(heap.malloc(4096));
  const afterBig = heap.stats().memorySize;
  const peakLive = Math.max(small.length * 32, big.length * 4096);
  report('phases: 100 MB of 32 B, then of 4 KiB', peakLive, afterBig, 'phase 2 reuses phase 1', afterBig <= afterSmall, {
    memoryAfterPhase1: afterSmall,
  });
}

// 3. A long random workload whose size mix drifts.
{
  const heap = createAllocator();
  let x = 2024;
  const random = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const n = full ? 200_000 : 50_000;
  const ptrs = new Float64Array(n);
  const sizes = new Float64Array(n);
  let live = 0;
  let peakLive = 0;
  let memory = 0;
  for (let i = 0; i < 20 * n; i++) {
    const j = Math.floor(random() * n);
    if (ptrs[j] !== 0) {
      heap.free(ptrs[j]);
      live -= sizes[j];
    }
    const ph = Math.floor(i / (2 * n)) % 3;
    const size = ph === 0 ? 8 + Math.floor(random() * 504) : ph === 1 ? 16 + Math.floor(random() * random() * 16000) : 8 + Math.floor(random() * 120);
    ptrs[j] = heap.malloc(size);
    sizes[j] = heap.usableSize(ptrs[j]);
    live += sizes[j];
    peakLive = Math.max(peakLive, live);
    if (i % 16384 === 0) memory = Math.max(memory, heap.stats().memorySize);
  }
  memory = Math.max(memory, heap.stats().memorySize);
  report(`random long-running (${n / 1000}k slots, drifting)`, peakLive, memory, '<= 1.3x + 4 MiB', memory <= 1.3 * peakLive + 4 * MiB);
}

// 4. Reclaim cost: a worker fills the heap with live blocks and is terminated; another thread reclaims it.
{
  const heap = createAllocator();
  const rows: string[] = [];
  for (const bytes of full ? [16 * MiB, 64 * MiB, 256 * MiB] : [16 * MiB, 64 * MiB]) {
    const h = heap.handoff();
    const w = new Worker(workerUrl, { workerData: { role: 'hold', webmalloc: h, bytes } });
    await message(w);
    await w.terminate();
    const pages = heap.stats().pages;
    const t = performance.now();
    heap.reclaimHandoff(h);
    const ms = performance.now() - t;
    const s = heap.stats();
    results.push({ name: 'reclaim', heldBytes: bytes, pages, ms, memory: s.memorySize });
    rows.push(`${mib(bytes)} in ${pages} pages: ${ms.toFixed(1)} ms (${((ms * 1000) / pages).toFixed(1)} us per page), memory ${mib(s.memorySize)}`);
  }
  console.log(`reclaim of a terminated worker's heap: ${rows.join('; ')}`);
}

// build/bench/blowup.js -> bench/results/
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const out = `${dir}blowup.json`;
mkdirSync(dir, { recursive: true });
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, full, results }, null, 2));
console.log(`written to ${out}`);
