// JS and wasm share blocks (issue 5, item 3): a C library module (test/wasm/shared.c, a WASI reactor built
// with wasm/webmalloc.c) and JavaScript allocate, read, write, reallocate and free each other's blocks
// through one webmalloc heap.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { WebmallocError } from 'webmalloc';
import { ensureBuilt, fill, holds, pattern, prebuilt, wasi } from './wasm/helpers.js';

interface Shared {
  make(n: number, seed: number): number;
  holds(p: number, n: number, seed: number): number;
  check_and_free(p: number, n: number, seed: number): number;
  regrow(p: number, oldN: number, n: number, seed: number): number;
  release(p: number): void;
  usable(p: number): number;
  heap_check(): number;
  upper(s: number): number;
  list_make(n: number): number;
  list_sum_and_free(head: number): bigint;
  many(n: number): number;
}

before(() => ensureBuilt());

async function load(checked = true) {
  const inst = await wasi.instantiateWasi(prebuilt('shared.wasm'), { checked });
  assert.equal(inst.command, false, 'shared.wasm is a reactor');
  const c = inst.exports as unknown as Shared;
  const a = inst.allocator;
  const u32 = (p: number) => p >>> 0; // wasm returns pointers as signed i32
  return { inst, c, a, u32, live0: a.stats().liveBlocks };
}

describe('JS and C share one heap', () => {
  it('JS reads, checks and frees blocks C allocated', async () => {
    const { c, a, u32, live0 } = await load();
    const blocks: [number, number, number][] = [];
    for (let i = 0; i < 300; i++) {
      const n = 1 + ((i * 7919) % (i % 10 === 0 ? 200000 : 700));
      const p = u32(c.make(n, i));
      assert.ok(p !== 0);
      blocks.push([p, n, i]);
    }
    for (const [p, n, seed] of blocks) {
      assert.ok(holds(a.u8, p, n, seed), `block ${p} of ${n}`);
      assert.ok(a.usableSize(p) >= n);
      a.free(p);
    }
    assert.equal(a.stats().liveBlocks, live0);
    assert.ok(a.check().ok);
    assert.equal(c.heap_check(), 0);
  });

  it('C checks and frees blocks JS allocated and filled', async () => {
    const { c, a, live0 } = await load();
    for (let i = 0; i < 300; i++) {
      const n = 1 + ((i * 104729) % (i % 10 === 0 ? 300000 : 900));
      const p = i % 3 === 0 ? a.calloc(n, 1) : i % 3 === 1 ? a.malloc(n) : a.alignedAlloc(256, n);
      fill(a.u8, p, n, i + 1);
      assert.equal(c.usable(p) >>> 0, a.usableSize(p));
      assert.equal(c.check_and_free(p, n, i + 1), 1);
    }
    assert.equal(a.stats().liveBlocks, live0);
    assert.ok(a.check().ok);
  });

  it("each side reallocs the other's blocks, keeping the contents", async () => {
    const { c, a, u32, live0 } = await load();
    // JS block, C realloc (grow, then shrink)
    let p = a.malloc(100);
    fill(a.u8, p, 100, 9);
    p = u32(c.regrow(p, 100, 50000, 9));
    assert.ok(p !== 0 && holds(a.u8, p, 50000, 9));
    p = u32(c.regrow(p, 50000, 10, 9));
    assert.ok(p !== 0 && holds(a.u8, p, 10, 9));
    // C block, JS realloc
    let q = u32(c.make(64, 3));
    q = a.realloc(q, 3 << 20);
    assert.ok(holds(a.u8, q, 64, 3));
    fill(a.u8, q, 3 << 20, 4);
    assert.equal(c.check_and_free(q, 3 << 20, 4), 1);
    c.release(p);
    assert.equal(a.stats().liveBlocks, live0);
  });

  it('strings: JS writes one, C makes an upper-case copy, JS reads it; each frees the other', async () => {
    const { c, a, u32, live0 } = await load();
    const text = 'hello from JavaScript, ' + 'x'.repeat(1000);
    const bytes = new TextEncoder().encode(text);
    const s = a.malloc(bytes.length + 1);
    a.u8.set(bytes, s);
    a.u8[s + bytes.length] = 0;
    const t = u32(c.upper(s));
    const got = new TextDecoder().decode(a.u8.slice(t, t + bytes.length));
    assert.equal(got, text.toUpperCase());
    assert.equal(a.u8[t + bytes.length], 0);
    c.release(s);
    a.free(t);
    assert.equal(a.stats().liveBlocks, live0);
  });

  it('linked lists: built by one side, walked and freed by the other', async () => {
    const { c, a, u32, live0 } = await load();
    // C builds, JS walks and frees
    let node = u32(c.list_make(2000));
    let sum = 0;
    let count = 0;
    while (node !== 0) {
      const view = new DataView(a.u8.buffer);
      sum += view.getInt32(node, true);
      const next = view.getUint32(node + 4, true);
      a.free(node);
      node = next;
      count++;
    }
    assert.equal(count, 2000);
    assert.equal(sum, (2000 * 2001) / 2);
    // JS builds, C walks and frees
    let head = 0;
    for (let i = 1; i <= 3000; i++) {
      const x = a.malloc(8);
      const view = new DataView(a.u8.buffer);
      view.setInt32(x, i, true);
      view.setUint32(x + 4, head, true);
      head = x;
    }
    assert.equal(c.list_sum_and_free(head), BigInt((3000 * 3001) / 2));
    assert.equal(a.stats().liveBlocks, live0);
    assert.ok(a.check().ok);
  });

  it('an array of C blocks: JS checks and frees every one, then the array', async () => {
    const { c, a, u32, live0 } = await load();
    const n = 2000;
    const arr = u32(c.many(n));
    const ptrs = new Uint32Array(a.u8.buffer, arr, n).slice();
    for (let i = 0; i < n; i++) {
      assert.ok(holds(a.u8, ptrs[i], i + 1, i), `block ${i}`);
      a.free(ptrs[i]);
    }
    a.free(arr);
    assert.equal(a.stats().liveBlocks, live0);
  });

  it('a block C allocates grows the memory; JS sees it', async () => {
    const { c, a, u32, inst } = await load();
    const before = inst.memory.buffer.byteLength;
    const p = u32(c.make(40 << 20, 5));
    assert.ok(p !== 0);
    assert.ok(inst.memory.buffer.byteLength > before);
    assert.ok(holds(a.u8, p, 1000, 5));
    const last = (40 << 20) - 1;
    assert.equal(a.u8[p + last], pattern(5, last));
    a.free(p);
  });

  it('JS misuse of a C block throws in JS and changes nothing', async () => {
    const { c, a, u32 } = await load();
    const p = u32(c.make(48, 1));
    a.free(p);
    assert.throws(
      () => a.free(p),
      (e: unknown) => e instanceof WebmallocError && e.code === 'DOUBLE_FREE' && e.pointer === p,
    );
    assert.throws(() => a.free(p + 8), WebmallocError);
    assert.ok(a.check().ok);
  });
});
