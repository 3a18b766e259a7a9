// What the machine gives the benchmark right now: CPU model, cores, Node, load, and how well plain computation
// (no allocator, no shared memory) scales to 2 and 4 workers. Thread-scaling targets (larson) are judged
// against that: on a shared machine whose other tenants take a core, nothing scales, webmalloc included.
//
//   node build/bench/machine.js     prints the JSON

import { cpus, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  loadavg: number[];
}

export function machineInfo(): MachineInfo {
  const c = cpus();
  return {
    cpu: c[0]?.model.trim() ?? 'unknown',
    cores: c.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavg: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

// A worker that spins a fixed xorshift loop and reports how long it took (after a short warm-up).
const SPIN = `
const { parentPort, workerData } = require('node:worker_threads');
const sab = new Int32Array(workerData.go);
let x = 1;
const spin = (n) => { for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; } };
spin(1e6);
Atomics.add(sab, 1, 1);
while (Atomics.load(sab, 0) === 0) Atomics.wait(sab, 0, 0); // (a wait may return without a notify)
const t0 = Number(process.hrtime.bigint());
spin(workerData.n);
parentPort.postMessage([t0, Number(process.hrtime.bigint()), x]);
`;

async function spinWall(workers: number, n: number): Promise<number> {
  const go = new SharedArrayBuffer(8);
  const ctrl = new Int32Array(go);
  const ws = Array.from({ length: workers }, () => new Worker(SPIN, { eval: true, workerData: { go, n } }));
  const done = ws.map((w) => new Promise<number[]>((resolve, reject) => w.once('message', resolve).once('error', reject)));
  while (Atomics.load(ctrl, 1) < workers) await new Promise((r) => setTimeout(r, 2));
  Atomics.store(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
  const times = await Promise.all(done);
  await Promise.all(ws.map((w) => w.terminate()));
  return Math.max(...times.map((t) => t[1]!)) - Math.min(...times.map((t) => t[0]!));
}

/** Throughput of N workers spinning / of one worker, median of `trials`. */
export async function parallelScaling(trials = 3, n = 4e7): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const one: number[] = [];
  const many: Record<number, number[]> = { 2: [], 4: [] };
  for (let t = 0; t < trials; t++) {
    one.push(await spinWall(1, n));
    for (const k of [2, 4]) many[k]!.push(await spinWall(k, n)); // each worker does the same work as the one alone
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const k of [2, 4]) out[String(k)] = Number(((k * med(one)) / med(many[k]!)).toFixed(2));
  return out;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  console.log(JSON.stringify({ ...machineInfo(), parallelScaling: await parallelScaling() }));
}
