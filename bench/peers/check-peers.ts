// Checks that every peer behaves like an allocator (contents survive, blocks do not overlap, alignment holds,
// realloc keeps data, wasm memory growth renews u8), then times pairs-64 from JS for each: a smoke test of
// the peers, not the benchmark. Run: node build/bench/peers/check-peers.js [--no-timing]
// (ends with the line "N passed, N failed"; exit code 1 when a peer failed).

import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createDlmallocWasmSync, DlmallocWasm, dlmallocWasmStatus } from "./dlmalloc-wasm.js";
import { PlainJs } from "./plain-js.js";
import { ThingMalloc } from "./thing-malloc.js";
import type { BenchAllocator } from "./types.js";

function fail(peer: BenchAllocator, what: string): never {
  throw new Error(`${peer.name}: ${what}`);
}

/** xorshift32 with a fixed seed: the same requests on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function fill(a: BenchAllocator, p: number, n: number, tag: number): void {
  const b = a.bytes(p, n);
  for (let i = 0; i < n; i++) b[i] = (tag + i) & 255;
}

function verify(a: BenchAllocator, p: number, n: number, tag: number, what: string): void {
  const b = a.bytes(p, n);
  for (let i = 0; i < n; i++) if (b[i] !== ((tag + i) & 255)) fail(a, `${what}: byte ${i} of block ${p} changed`);
}

function checkPeer(a: BenchAllocator): void {
  const next = rng(12345);
  const live = new Map<number, { n: number; tag: number }>();
  for (let step = 0; step < 4000; step++) {
    const r = next();
    if (live.size < 300 && (r & 3) !== 0) {
      const n = 1 + (next() % 2000);
      const kind = r % 3;
      let p: number;
      if (kind === 0) {
        p = a.malloc(n);
      } else if (kind === 1) {
        p = a.calloc(n, 1);
        if (p && a.bytes(p, n).some((x) => x !== 0)) fail(a, "calloc gave non-zero bytes");
      } else {
        const align = 16 << (next() % 9);
        p = a.alignedAlloc(align, n);
        if (a.linear && p % align !== 0) fail(a, `alignedAlloc(${align}) gave ${p}`);
      }
      if (!p) fail(a, `allocation of ${n} bytes failed`);
      if (live.has(p)) fail(a, `pointer ${p} handed out twice`);
      fill(a, p, n, step);
      live.set(p, { n, tag: step });
    } else if (live.size > 0) {
      const keys = [...live.keys()];
      const p = keys[next() % keys.length]!;
      const { n, tag } = live.get(p)!;
      verify(a, p, n, tag, "before free/realloc");
      live.delete(p);
      if ((r & 4) !== 0) {
        a.free(p);
      } else {
        const m = 1 + (next() % 4000);
        const q = a.realloc(p, m);
        if (!q) fail(a, `realloc to ${m} failed`);
        verify(a, q, Math.min(n, m), tag, "after realloc");
        fill(a, q, m, step);
        live.set(q, { n: m, tag: step });
      }
    }
  }
  for (const [p, { n, tag }] of live) verify(a, p, n, tag, "at the end");
  for (const p of live.keys()) a.free(p);
  // zero-size and edge requests behave like C's
  const z = a.malloc(0);
  if (!z) fail(a, "malloc(0) returned 0");
  a.free(z);
  a.free(0);
  const g = a.realloc(0, 10);
  if (!g) fail(a, "realloc(0, 10) returned 0");
  if (a.realloc(g, 0) !== 0) fail(a, "realloc(p, 0) did not return 0");
  if (a.malloc(-1) !== 0 || a.malloc(2 ** 33) !== 0) fail(a, "impossible sizes were not refused");
}

function checkGrowth(a: BenchAllocator): void {
  // Allocate well past the initial memory: u8 must follow the growth.
  const before = a.u8.byteLength;
  const ps: number[] = [];
  for (let i = 0; i < 40; i++) {
    const p = a.malloc(1 << 20);
    if (!p) fail(a, "1 MiB allocation failed");
    a.u8[p] = i;
    a.u8[p + (1 << 20) - 1] = i;
    ps.push(p);
  }
  if (a.u8.byteLength <= before) fail(a, "memory did not grow");
  ps.forEach((p, i) => {
    if (a.u8[p] !== i || a.u8[p + (1 << 20) - 1] !== i) fail(a, "contents lost across growth");
  });
  for (const p of ps) a.free(p);
}

function timePairs(a: BenchAllocator, size: number, iterations: number): number {
  let acc = 0;
  const t0 = process.hrtime.bigint();
  if (a.linear) {
    for (let i = 0; i < iterations; i++) {
      const p = a.malloc(size);
      const u8 = a.u8;
      u8[p] = i;
      u8[p + size - 1] = i >> 8;
      acc += u8[p]!;
      a.free(p);
    }
  } else {
    for (let i = 0; i < iterations; i++) {
      const p = a.malloc(size);
      const b = a.bytes(p, size);
      b[0] = i;
      b[size - 1] = i >> 8;
      acc += b[0]!;
      a.free(p);
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (acc < 0) console.log(acc);
  return ns / (2 * iterations);
}

const makers: [string, () => BenchAllocator][] = [
  ["dlmalloc-wasm", () => createDlmallocWasmSync()],
  ["thing-malloc", () => new ThingMalloc({ size: 64 << 20 })],
  ["plain-js", () => new PlainJs()],
];

// Timing runs each peer in a process of its own: sharing one timing loop between peers makes its call sites
// polymorphic and slows every peer after the first (the real benchmark should isolate peers the same way).
const timeOne = process.argv.indexOf("--time-one");
if (timeOne >= 0) {
  const name = process.argv[timeOne + 1];
  const make = makers.find(([n]) => n === name)?.[1];
  if (!make) throw new Error(`no peer named ${name}`);
  const a = make();
  timePairs(a, 64, 200_000); // warm up (JIT)
  const ns = timePairs(a, 64, 2_000_000);
  console.log(JSON.stringify({ peer: name, workload: "pairs-64", from: "js", ns_per_op: Number(ns.toFixed(3)) }));
  if (a instanceof DlmallocWasm) {
    a.pairsInWasm(64, 200_000);
    const t0 = process.hrtime.bigint();
    a.pairsInWasm(64, 2_000_000);
    const w = Number(process.hrtime.bigint() - t0) / 4_000_000;
    console.log(JSON.stringify({ peer: name, workload: "pairs-64", from: "wasm", ns_per_op: Number(w.toFixed(3)) }));
  }
} else {
  const status = dlmallocWasmStatus();
  if (!status.ok) console.error(`note: dlmalloc-wasm module not up to date (${status.reason})`);
  let failed = 0;
  for (const [name, make] of makers) {
    try {
      checkPeer(make());
      if (name === "dlmalloc-wasm") checkGrowth(make());
      console.log(`ok   ${name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${(e as Error).message}`);
    }
  }
  if (!process.argv.includes("--no-timing")) {
    for (const [name] of makers)
      execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--time-one", name], { stdio: "inherit" });
  }
  console.log(`${makers.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
