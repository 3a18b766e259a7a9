// A benchmark worker (started by measure.ts): sets up its part of a multi-thread workload, says READY, then
// runs one round each time the GO word changes, timing itself, until STOP (a worker past the round's ACTIVE
// count only counts itself done). At the end it frees what it holds and (webmalloc) detaches.

import { workerData } from 'node:worker_threads';
import { attachContender, makeContender, WebmallocBench } from './contenders.js';
import { FloorAllocator, type FloorName } from './floors.js';
import { C, footprintOf, jsBaseline, W, type WorkerData } from './measure.js';
import { recompile } from './placement.js';
import type { BenchAllocator } from './peers/types.js';
import { larsonBody, primeBody, singleBody, xmConsumer, xmLocal, xmProducer, type Body } from './workloads.js';

const d = workerData as WorkerData;
const ctrl = new Int32Array(d.control);
const fig = new Float64Array(d.figures);
const at = d.index * W.WORDS;
const baseline = jsBaseline();
const a: BenchAllocator = d.memory
  ? attachContender(d.spec.contender, d.memory)
  : d.floor
    ? new FloorAllocator(d.spec.contender as FloorName, d.floor)
    : makeContender(d.spec.contender, d.poolBytes);

let body: Body;
let release = (): void => {};
switch (d.role) {
  case 'single':
    // A single-thread workload in each of several workers, each on blocks of its own.
    body = singleBody(d.spec.workload, a, d.spec.blocks);
    break;
  case 'larson': {
    const l = larsonBody(a, d.index);
    body = l.run;
    release = l.release;
    break;
  }
  case 'producer':
    body = xmProducer(a, new Int32Array(d.ring!), new Float64Array(d.ringBytes!), d.index);
    break;
  case 'consumer':
    body = xmConsumer(a, new Int32Array(d.ring!));
    break;
  case 'local':
    body = xmLocal(a, d.index);
    break;
}

primeBody(body);

const probe = (live: number): void => {
  fig[at + W.PEAK] = Math.max(fig[at + W.PEAK]!, live);
  // webmalloc: the main thread reads the heap's size
  if (!(a instanceof WebmallocBench)) fig[at + W.FOOTPRINT] = Math.max(fig[at + W.FOOTPRINT]!, footprintOf(a, baseline));
};

/**
 * The start barrier: the round's clock starts when its last worker has woken, not its first. Waking a worker
 * from Atomics.wait took up to 5 ms on this machine (of rounds of about 50 ms), during which the others ran
 * alone and the round counted as theirs. So each active worker counts itself arrived and spins until all
 * have (a benchmark's barrier, not the allocator's: the allocator never waits). A worker that never arrives
 * (it failed) releases the others after a second; the main thread reports the failure.
 */
function startTogether(active: number): void {
  Atomics.add(ctrl, C.ARRIVED, 1);
  const deadline = performance.now() + 1000;
  while (Atomics.load(ctrl, C.ARRIVED) < active && performance.now() < deadline);
}

Atomics.add(ctrl, C.READY, 1);
Atomics.notify(ctrl, C.READY);
let seen = 0;
for (;;) {
  // A round runs once per change of GO. Atomics.wait returned now and then without one (Node 20; a few
  // times in a hundred larson x4 runs at most): the worker ran a round more, DONE went past the number of
  // workers, and the main thread waited for it forever.
  let go = Atomics.load(ctrl, C.GO);
  while (go === seen) {
    Atomics.wait(ctrl, C.GO, seen);
    go = Atomics.load(ctrl, C.GO);
  }
  seen = go;
  fig[at + W.SEEN] = seen;
  if (Atomics.load(ctrl, C.STOP) === 1) break;
  if (Atomics.load(ctrl, C.RECOMPILE) === 1) recompile(body);
  const active = Atomics.load(ctrl, C.ACTIVE);
  if ((d.index - Atomics.load(ctrl, C.FIRST) + d.workers) % d.workers >= active) {
    // not in this round (larson-turns: a round of one worker)
    fig[at + W.ROUNDS]++;
    Atomics.add(ctrl, C.DONE, 1);
    Atomics.notify(ctrl, C.DONE);
    continue;
  }
  const reps = Atomics.load(ctrl, C.REPS);
  const withProbe = Atomics.load(ctrl, C.PROBE) === 1;
  startTogether(active);
  const t0 = Number(process.hrtime.bigint());
  const ops = withProbe ? body(reps, probe) : body(reps);
  const t1 = Number(process.hrtime.bigint());
  fig[at + W.START] = t0;
  fig[at + W.END] = t1;
  fig[at + W.OPS] = ops;
  fig[at + W.ROUNDS]++;
  Atomics.add(ctrl, C.DONE, 1);
  Atomics.notify(ctrl, C.DONE);
}
release();
if (a instanceof WebmallocBench) a.heap.detach();
