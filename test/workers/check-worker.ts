// Worker for test/check.test.ts: attaches to a (copied) heap, applies byte writes that corrupt it, runs
// check() and posts the result. check() runs in a worker so that a check() that loops forever on a corrupted
// heap (a free-list cycle) can be stopped by terminating the worker, and reported as a failure.
//
// `node --test build/test/` also runs this file on the main thread as if it were a test file: it then does
// nothing.

import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { attach } from 'webmalloc';

export interface CheckWorkerData {
  memory: SharedArrayBuffer;
  start: number;
  writes: { offset: number; bytes: Uint8Array }[];
}

export interface CheckWorkerResult {
  attachError?: string;
  threw?: string;
  ok?: boolean;
  errors?: string[];
}

function run(d: CheckWorkerData): CheckWorkerResult {
  let a;
  try {
    a = attach(d.memory, { start: d.start });
  } catch (e) {
    return { attachError: String((e as Error)?.stack ?? e) };
  }
  const u8 = new Uint8Array(d.memory);
  for (const w of d.writes) u8.set(w.bytes, w.offset);
  try {
    const r = a.check();
    return { ok: r.ok, errors: [...r.errors] };
  } catch (e) {
    return { threw: String((e as Error)?.stack ?? e) };
  }
}

if (!isMainThread && parentPort !== null) {
  parentPort.postMessage(run(workerData as CheckWorkerData));
}
