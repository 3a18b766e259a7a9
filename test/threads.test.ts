// Workers come and go: detach hands pages over, reclaim takes a dead worker's heap over, thread slots are
// reused, and memory stays bounded under producer/consumer, phase changes and a long random workload.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { attach, createAllocator, spawnWorker, type Allocator } from 'webmalloc';
import { assertBalanced, assertCheckOk, assertPattern, assertZero, blockTagHolds, bufferOf, descriptorWordOf, fillPattern, heapHeaderWord, KiB, MiB, rng } from './helpers.js';

const workerUrl = new URL('./workers/threads-worker.js', import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const onMessage = (w: Worker) => new Promise<unknown>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
const onExit = (w: Worker) => new Promise<void>((resolve) => w.once('exit', () => resolve()));

describe('detach', () => {
  it("keeps a leaving thread's live blocks valid, returns its empty pages, and lets others adopt the rest", async () => {
    const heap = createAllocator();
    const w = new Worker(workerUrl, { workerData: { role: 'leave-holding', memory: heap.memory, count: 3000, seed: 7 } });
    const exited = onExit(w); // listen from the start: the worker may be gone by the time its message is read
    const blocks = (await onMessage(w)) as { p: number; n: number; seed: number }[];
    await exited;
    const s = heap.stats();
    assert.equal(s.threadsAttached, 1, 'the worker left its slot');
    assert.ok(s.abandonedPages > 0, 'pages with live blocks were abandoned');
    assert.equal(s.liveBlocks, blocks.length, 'exactly the blocks it kept are live');
    assertCheckOk(heap);
    for (const b of blocks) assertPattern(heap.u8, b.p, b.n, b.seed, `block ${b.p} left by the worker`);
    // This thread adopts abandoned pages of a class it needs instead of taking new ones.
    const before = s.memorySize;
    const mine = [];
    for (let i = 0; i < 200; i++) mine.push(heap.malloc(1 + (i % 2000)));
    assert.equal(heap.stats().memorySize, before, 'no growth: abandoned pages were adopted');
    for (const b of blocks) heap.free(b.p);
    for (const p of mine) heap.free(p);
    heap.collect();
    const after = heap.stats();
    assert.equal(after.liveBlocks, 0);
    assert.equal(after.abandonedPages, 0, 'emptied abandoned pages went back to the pool');
    assert.equal(after.pages, 0);
    assertBalanced(after);
    assertCheckOk(heap);
  });

  it('makes later calls on the detached instance throw, and frees its slot for the next thread', () => {
    const heap = createAllocator({ maxThreads: 2 });
    const b = attach(heap.memory);
    const p = b.malloc(100);
    b.detach();
    assert.throws(() => b.malloc(8), /detached/);
    assert.throws(() => b.free(p), /detached/);
    const c = attach(heap.memory); // the slot is free again (maxThreads 2)
    assert.notEqual(c.threadId, b.threadId, 'a reused slot gets a new thread id');
    c.free(p);
    c.detach();
    assertCheckOk(heap);
  });
});

describe('reclaim', () => {
  for (const checked of [false, true]) {
    it(`takes over workers that die without detaching${checked ? ' (checked heap)' : ''}: check() passes after each`, async () => {
      const heap = createAllocator({ checked });
      const slots = new Int32Array(new SharedArrayBuffer(4 * 512));
      const errors = new Int32Array(new SharedArrayBuffer(4)); // blocks whose tag changed while live (the worker's)
      const rounds = checked ? 12 : 25;
      let reclaimed = 0;
      const r = rng(checked ? 99 : 42);
      for (let round = 0; round < rounds; round++) {
        const handoffs = [0, 1, 2].map(() => heap.handoff());
        const pauses = handoffs.map(() => new Int32Array(new SharedArrayBuffer(8)));
        const ws = handoffs.map(
          (h, k) => new Worker(workerUrl, { workerData: { role: 'churn', webmalloc: h, slots, seed: round * 3 + k, pause: pauses[k], errors } }),
        );
        await Promise.all(ws.map(onMessage));
        await sleep(r() * 40);
        // Each worker dies at its next stop between operations, its heap in use and never detached.
        await Promise.all(
          ws.map(async (w, k) => {
            const seen = Atomics.load(pauses[k], 0);
            while (Atomics.load(pauses[k], 0) === seen) await sleep(0);
            await w.terminate();
          }),
        );
        for (const h of handoffs) if (heap.reclaimHandoff(h)) reclaimed++;
        assertCheckOk(heap, `check() after round ${round}`);
        assert.equal(heap.stats().threadsAttached, 1, 'every dead worker was reclaimed');
      }
      assert.equal(reclaimed, rounds * 3);
      assert.equal(Atomics.load(errors, 0), 0, 'no live block was handed out again or written into');
      for (let i = 0; i < slots.length; i++) {
        const p = Atomics.exchange(slots, i, 0) >>> 0;
        if (p === 0) continue;
        // A handed-over block's tag (see the churn worker): the same at both ends, its size after the first.
        assert.ok(blockTagHolds(heap.u8, p, heap.usableSize(p)), `the tag of the block at ${p} in slot ${i}`);
        heap.free(p);
      }
      heap.collect();
      assertBalanced(heap.stats());
      assertCheckOk(heap);
    });
  }

  for (const checked of [false, true]) {
    it(`takes over workers terminated at any instruction, one after another${checked ? ' (checked heap)' : ''}: check() passes after each`, async () => {
      const heap = createAllocator({ checked });
      const slots = new Int32Array(new SharedArrayBuffer(4 * 64));
      for (let i = 0; i < (checked ? 40 : 80); i++) {
        const h = heap.handoff();
        const w = new Worker(workerUrl, { workerData: { role: 'churn', webmalloc: h, slots, seed: 5000 + i } });
        await onMessage(w);
        await sleep(i % 5);
        await w.terminate(); // wherever it is: between any two operations, inside malloc or free
        assert.equal(heap.reclaimHandoff(h), true);
        assertCheckOk(heap, `check() after killing worker ${i}`);
      }
    });

    it(`takes over workers terminated at any instruction while others keep allocating${checked ? ' (checked heap)' : ''}`, async () => {
      const heap = createAllocator({ checked });
      const slots = new Int32Array(new SharedArrayBuffer(4 * 256));
      const errors = new Int32Array(new SharedArrayBuffer(4)); // blocks whose tag changed while live (the worker's)
      const r = rng(checked ? 7 : 8);
      const start = (seed: number) => {
        const h = heap.handoff();
        const w = new Worker(workerUrl, { workerData: { role: 'churn', webmalloc: h, slots, seed, errors } });
        return { h, w, ready: onMessage(w) };
      };
      const live = [start(1), start(2), start(3)];
      await Promise.all(live.map((x) => x.ready));
      for (let i = 0; i < (checked ? 40 : 80); i++) {
        await sleep(r() * 15);
        const k = i % 3;
        await live[k].w.terminate();
        assert.equal(heap.reclaimHandoff(live[k].h), true, 'reclaimed while two other workers run');
        live[k] = start(100 + i);
        await live[k].ready;
      }
      await Promise.all(live.map((x) => x.w.terminate()));
      for (const x of live) heap.reclaimHandoff(x.h);
      assertCheckOk(heap);
      assert.equal(heap.stats().threadsAttached, 1);
      assert.equal(Atomics.load(errors, 0), 0, 'no live block was handed out again or written into');
    });
  }

  it('returns false for a thread that detached or was reclaimed already, and refuses to reclaim itself', () => {
    const heap = createAllocator();
    const b = attach(heap.memory);
    const id = b.threadId;
    b.detach();
    assert.equal(heap.reclaim(id), false);
    assert.equal(heap.reclaim(123456), false);
    assert.throws(() => heap.reclaim(heap.threadId), RangeError);
  });

  it("a thread that died between freeing onto a fresh page and clearing the page's fresh flag: calloc still clears", () => {
    // Built from the documented layout (docs/design.md): descriptor of slice i at segment + 128 * i, P_FLAGS
    // is word 13, PF_FRESH is 2. The dying thread frees a dirty block onto a page that was fresh; the flag
    // is set again by hand, as a thread killed before it cleared the flag would leave it.
    const heap = createAllocator();
    const dying = attach(heap.memory);
    const [p, keep] = [dying.malloc(64), dying.malloc(64)]; // `keep` stays live: the page is abandoned, not released
    assert.equal(Math.floor(p / 65536), Math.floor(keep / 65536), 'both blocks on one page');
    dying.u8.fill(0xff, p, p + 64);
    dying.free(p);
    const flagsW = descriptorWordOf(heap, p) + 13;
    new Int32Array(bufferOf(heap.memory))[flagsW] |= 2;
    assert.equal(heap.reclaim(dying.threadId), true);
    const q = heap.calloc(1, 64); // adopts the abandoned page and pops the dirty block
    assert.equal(q, p, 'the dirty block came back');
    assertZero(heap.u8, q, 64, 'calloc block from a reclaimed page');
    heap.free(q);
    heap.free(keep);
    assertCheckOk(heap);
  });

  it("a thread that died between a page's count of blocks carved and its carved bound: reclaim makes them agree", () => {
    // From the documented layout (docs/design.md): a page's descriptor is at segment + 128 * slice, its count
    // carved (P_RESERVED) in word 6, the bound of free's block-start test (P_CARVED_BOUND) in word 7, for
    // 64-byte blocks (2^4 words) the count << 5 | 4. extend writes the count, then the bound: a thread killed
    // between them leaves the old bound, by which the blocks just carved are no blocks.
    const heap = createAllocator();
    const dying = attach(heap.memory);
    const p = dying.malloc(64);
    const keep = dying.malloc(64); // stays live: the page is abandoned, not released
    const m = new Int32Array(bufferOf(heap.memory));
    const dw = descriptorWordOf(heap, p);
    const carved = m[dw + 6]!;
    assert.ok(carved >= 2 && m[dw + 7] === ((carved << 5) | 4), `${carved} blocks carved, bound ${m[dw + 7]}`);
    m[dw + 7] = ((carved - 1) << 5) | 4; // as if the last extend had got no further than the count
    assert.throws(() => heap.free(p + 16 * 4 * (carved - 1)), /invalid pointer/, 'the last block carved is no block by the old bound');
    assert.equal(heap.reclaim(dying.threadId), true);
    assert.equal(m[dw + 7], (carved << 5) | 4, 'the bound from the count');
    assertCheckOk(heap, 'check() after reclaim');
    heap.free(p);
    heap.free(keep);
    assertCheckOk(heap);
  });

  it('a thread that died between a page\'s owner and its abandoned bit (abandoning or adopting it): reclaim republishes the page', () => {
    // From the documented layout (docs/design.md): the heap header's word 12 holds the abandoned bitmap's
    // byte offset (one bit per slice: segment * 16 + slice); a page's descriptor is at segment + 128 * slice,
    // its owner in word 10 (ABANDONED = 0xffff).
    for (const how of ['abandoning', 'adopting']) {
      const heap = createAllocator();
      const dying = attach(heap.memory);
      const m = new Int32Array(bufferOf(heap.memory));
      const bitmapW = heapHeaderWord(heap, 12) / 4;
      let p: number;
      if (how === 'abandoning') {
        p = dying.malloc(64);
        m[descriptorWordOf(heap, p) + 10] = 0xffff; // owner ABANDONED, no bit yet
      } else {
        const leaver = attach(heap.memory);
        p = leaver.malloc(64);
        leaver.detach(); // the page is abandoned, its bit set
        const slice = Math.floor((p - heap.heapBase) / 65536);
        m[bitmapW + (slice >>> 5)] &= ~(1 << (slice & 31)); // the dying thread won the bit, not yet the owner
      }
      assert.equal(heap.stats().abandonedPages, 0, `${how}: nobody can find the page now`);
      assert.equal(heap.reclaim(dying.threadId), true);
      assertCheckOk(heap, `${how}: check() after reclaim`);
      assert.equal(heap.stats().abandonedPages, 1, `${how}: the page is abandoned and can be found again`);
      heap.free(p);
      heap.collect();
      assertCheckOk(heap, `${how}: check() at the end`);
    }
  });

  /**
   * `thread` allocates huge blocks of 8 and 4 segments, one after the other, and frees them: two cached runs.
   * Built from the documented layout (docs/design.md): the root record at base + 2048 holds the heap header's
   * offset in word 2, the header the segment table's in word 10; 2 words per segment, the first
   * SEG_* | argument << 8 with HUGE_CACHED 4. Returns the table (m, tableW), the runs' first segment and the
   * first block's address.
   */
  function twoCachedRuns(heap: Allocator, thread: Allocator, what: string) {
    const h = thread.malloc(7.5 * MiB); // 8 segments
    const h2 = thread.malloc(3.5 * MiB); // the next 4
    thread.free(h);
    thread.collect(); // the run the thread held goes to the cache
    thread.free(h2);
    thread.collect();
    const m = new Int32Array(bufferOf(heap.memory));
    const tableW = heapHeaderWord(heap, 10) / 4;
    const first = Math.floor((h - heap.heapBase) / MiB);
    assert.equal(m[tableW + 2 * first], 4 | (8 << 8), `${what}: the freed block's segments are cached`);
    assert.equal(m[tableW + 2 * (first + 8)], 4 | (4 << 8), `${what}: and so are its neighbour's`);
    return { m, tableW, first, h };
  }

  it('a thread that died taking, splitting or joining the cached segments of freed huge blocks: reclaim gives them back', () => {
    // The layout as in twoCachedRuns, with HUGE_TAIL 3 (argument 0), HUGE_SETUP 5 (a run a thread has
    // claimed, whose slot is in bits 21 and up) and HUGE_HELD 6 (a run a thread holds, slot likewise). Each
    // state is one a thread leaves when it stops between two steps of segments.ts or of its held runs (heap.ts).
    const [TAIL, CACHED, SETUP, HELD] = [3, 4, 5, 6];
    const states: Record<string, (set: (j: number, kind: number, arg: number) => void) => void> = {
      'a cached run claimed, its block not set up': (set) => set(0, SETUP, 8),
      'a cached run claimed and split, its block not set up': (set) => {
        set(0, SETUP, 3);
        set(3, CACHED, 5);
      },
      'a split: the rest published, the head not yet shrunk': (set) => {
        set(0, SETUP, 8);
        set(3, CACHED, 5);
      },
      "a join: the neighbour's head made a tail, the run not yet published": (set) => {
        set(0, SETUP, 8);
        set(8, TAIL, 0);
      },
      'a join and a split: the rest published inside the joined neighbour': (set) => {
        set(0, SETUP, 8);
        set(8, TAIL, 0);
        set(10, CACHED, 2);
      },
      'two held runs': (set) => {
        set(0, HELD, 8);
        set(8, HELD, 4);
      },
      'a block freed into a held run: its head made a tail, the count not yet grown': (set) => {
        set(0, HELD, 8);
        set(8, TAIL, 0);
      },
      'a block being set up at the end of a held run: the count shrunk, not yet published': (set) => {
        set(0, HELD, 5);
        set(8, HELD, 4);
      },
    };
    for (const [what, make] of Object.entries(states)) {
      const heap = createAllocator();
      const dying = attach(heap.memory);
      const { m, tableW, first, h } = twoCachedRuns(heap, dying, what);
      const slot = dying.threadId % 1024;
      make((j, kind, arg) => (m[tableW + 2 * (first + j)] = kind | (arg << 8) | (kind === SETUP || kind === HELD ? slot << 21 : 0)));
      const size = heap.stats().memorySize;
      assert.equal(heap.reclaim(dying.threadId), true);
      assertCheckOk(heap, `${what}: check() after reclaim`);
      const p = heap.malloc(11.5 * MiB); // all 12 segments
      assert.equal(p, h, `${what}: the segments serve a block again`);
      assert.equal(heap.stats().memorySize, size, `${what}: without growing the memory`);
      heap.free(p);
      assertCheckOk(heap, `${what}: check() at the end`);
    }
  });

  it('a thread that died holding the span of a large block it freed, splitting one or joining two: reclaim gives them back', () => {
    // From the documented layout (docs/design.md): the descriptor of slice i of a segment at segment + 128 * i,
    // P_KIND word 0 (FREE 0, LARGE 2, TAIL 4), P_SPAN word 1, P_AREA word 4, P_OWNER word 10 (LARGE_HELD | slot
    // = 0x10000 | slot). Each state is one a thread leaves when it stops between two steps of cutting a held
    // span of 5 slices after its first 2 (spanblocks.ts's holdRest: the rest described, named held, then the
    // cut), of joining the two held spans of 2 and 3 slices again (pages.ts's joinSpans: the second's tails
    // lead back to the first, the first counts them, then the second's head becomes a tail), or of a growth
    // (tails that no head counts yet).
    const rest = (m: Int32Array, w: number) => {
      m[w + 2 * 32] = 2; // the rest's head: LARGE, 3 slices; its tails 1 and 2 slices back
      m[w + 2 * 32 + 1] = 3;
      m[w + 3 * 32 + 1] = 1;
      m[w + 4 * 32 + 1] = 2;
    };
    const twoHeld = (m: Int32Array, w: number, held: number) => {
      rest(m, w);
      m[w + 2 * 32 + 10] = held;
      m[w + 1] = 2;
    };
    const states: Record<string, (m: Int32Array, w: number, held: number) => void> = {
      'a held span': () => {},
      'a cut: the rest described, its owner not yet named': rest,
      'a cut: the rest named held, the head not yet cut': (m, w, held) => {
        rest(m, w);
        m[w + 2 * 32 + 10] = held;
      },
      'a cut: two held spans': twoHeld,
      "a join: the second span's tails leading back to the first": (m, w, held) => {
        twoHeld(m, w, held);
        m[w + 3 * 32 + 1] = 3;
        m[w + 4 * 32 + 1] = 4;
      },
      "a join: the first span counting them, the second's head not yet a tail": (m, w, held) => {
        twoHeld(m, w, held);
        m[w + 3 * 32 + 1] = 3;
        m[w + 4 * 32 + 1] = 4;
        m[w + 1] = 5;
      },
      'tails no head counts (a growth stopped half way)': (m, w) => (m[w + 1] = 2),
    };
    for (const [what, make] of Object.entries(states)) {
      const heap = createAllocator();
      const dying = attach(heap.memory);
      const p = dying.malloc(300 * KiB);
      const m = new Int32Array(bufferOf(heap.memory));
      const w = descriptorWordOf(heap, p);
      assert.equal(m[w + 1], 5, `${what}: a span of 5 slices`);
      dying.free(p);
      const held = 0x10000 | dying.threadId % 1024;
      assert.equal(m[w + 10], held, `${what}: held`);
      make(m, w, held);
      const size = heap.stats().memorySize;
      assert.equal(heap.reclaim(dying.threadId), true);
      assertCheckOk(heap, `${what}: check() after reclaim`);
      assert.equal(m[w], 0, `${what}: the span is free`);
      const q = heap.malloc(300 * KiB);
      assert.equal(q, p, `${what}: the slices serve a block again`);
      assert.equal(heap.stats().memorySize, size, `${what}: without growing the memory`);
      heap.free(q);
      assertCheckOk(heap, `${what}: check() at the end`);
    }
  });

  it('a thread that died growing a live large block in place (realloc): reclaim makes its span and usable size agree', () => {
    // The layout as in the test before; P_BLOCK_SIZE is word 3. The block grows from 2 slices to 5: the slices
    // are claimed (named first in the thread's record: the heap header's word 11 holds the thread table's
    // offset, 1024 bytes per slot, T_CLAIM_SPAN word 4 = segment * 16 + slice + 1, T_CLAIM_SLICES word 5)
    // and made its tails, then its head counts them, then its usable size is written, then the record is
    // cleared.
    for (const counted of [false, true]) {
      const what = counted ? 'the head counts the new tails, the size not written' : 'tails written, the head not counting them';
      const heap = createAllocator();
      const dying = attach(heap.memory);
      const p = dying.malloc(300 * KiB);
      fillPattern(heap.u8, p, 300 * KiB, 4);
      const m = new Int32Array(bufferOf(heap.memory));
      const spanStart = p - ((p - heap.heapBase) % (64 * KiB));
      const w = descriptorWordOf(heap, p);
      assert.equal(m[w + 1], 5, `${what}: a span of 5 slices`);
      if (!counted) m[w + 1] = 2;
      m[w + 3] = spanStart + 2 * 64 * KiB - p; // the usable size it had with 2 slices
      const record = heapHeaderWord(heap, 11) / 4 + (dying.threadId % 1024) * 256;
      const slice = Math.floor((spanStart - heap.heapBase) / (64 * KiB)) + 2; // segment * 16 + slice
      m[record + 5] = 3;
      m[record + 4] = slice + 1;
      assert.equal(heap.reclaim(dying.threadId), true);
      assertCheckOk(heap, `${what}: check() after reclaim`);
      assert.equal(heap.usableSize(p), spanStart + (counted ? 5 : 2) * 64 * KiB - p, `${what}: the size its span gives`);
      assertPattern(heap.u8, p, counted ? 300 * KiB : 2 * 64 * KiB - (p - spanStart), 4, `${what}: the block`);
      heap.free(p);
      assertCheckOk(heap, `${what}: check() at the end`);
    }
  });

  it("reclaim leaves a live thread's claim of cached huge segments alone, joined neighbours included", () => {
    // The layout as in twoCachedRuns. A live thread's claim names the thread in its SETUP word, and covers
    // the tails after it up to the first segment that is not a tail, however many it joined.
    const [TAIL, CACHED, SETUP] = [3, 4, 5];
    const heap = createAllocator();
    const working = attach(heap.memory);
    const dying = attach(heap.memory);
    const { m, tableW, first, h } = twoCachedRuns(heap, dying, 'set-up');
    const claimed = SETUP | (8 << 8) | ((working.threadId % 1024) << 21);
    m[tableW + 2 * first] = claimed; // `working` claimed the run
    m[tableW + 2 * (first + 8)] = TAIL; // and joined its neighbour
    assert.equal(heap.reclaim(dying.threadId), true);
    assert.equal(m[tableW + 2 * first], claimed, 'the claim is untouched');
    for (let j = 1; j < 12; j++) assert.equal(m[tableW + 2 * (first + j)], TAIL, `segment ${j} of the joined run is untouched`);
    m[tableW + 2 * first] = CACHED | (12 << 8); // `working` gives the joined run back
    assertCheckOk(heap, 'check() once the run is given back');
    const p = heap.malloc(11.5 * MiB);
    assert.equal(p, h, 'the joined run serves a block');
    heap.free(p);
    working.detach();
    assertCheckOk(heap, 'check() at the end');
  });

  it('spawnWorker reclaims 200 terminated workers: slots free, memory bounded, heap valid', async () => {
    const heap = createAllocator();
    const slots = new Int32Array(new SharedArrayBuffer(4 * 64));
    for (let i = 0; i < 200; i++) {
      const pause = new Int32Array(new SharedArrayBuffer(8));
      const w = spawnWorker(heap, Worker, workerUrl, { workerData: { role: 'churn', slots, seed: 1000 + i, pause } });
      await onMessage(w);
      const seen = Atomics.load(pause, 0) + (i % 3);
      while (Atomics.load(pause, 0) <= seen) await sleep(0);
      await w.terminate();
    }
    await sleep(20);
    const s = heap.stats();
    assert.equal(s.threadsAttached, 1, 'all 200 workers were reclaimed');
    // What each killed worker held stays live (nobody can free it); beyond that, memory must not grow per worker.
    assert.ok(s.memorySize <= s.liveBytes * 2 + 64 * MiB, `memory ${s.memorySize} for ${s.liveBytes} live bytes`);
    assertCheckOk(heap);
  });
});

describe('thread slots are reused', () => {
  it('10,000 attach/detach cycles: memory flat, check() clean, ids unique', () => {
    const heap = createAllocator({ maxThreads: 4 });
    const warm = attach(heap.memory);
    warm.free(warm.malloc(1000));
    warm.detach();
    const before = heap.stats().memorySize;
    const ids = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const t = attach(heap.memory);
      ids.add(t.threadId);
      const p = t.malloc(100 + (i % 500));
      t.free(t.malloc(24));
      heap.free(p); // freed by another thread
      t.detach();
    }
    assert.equal(ids.size, 10_000, 'each attach got a fresh id');
    const s = heap.stats();
    assert.equal(s.memorySize, before, 'memory did not grow');
    assert.equal(s.threadsAttached, 1);
    heap.collect();
    assert.equal(heap.stats().liveBlocks, 0);
    assertCheckOk(heap);
  });
});

describe('bounded memory', () => {
  it('producer/consumer: one worker allocates, another frees; memory within 2x peak live plus a constant', async () => {
    const heap = createAllocator();
    const capacity = 4096;
    const size = 64;
    const ring = new Int32Array(new SharedArrayBuffer(4 * (2 + capacity)));
    const data = { memory: heap.memory, ring, capacity, count: 1_000_000, size };
    const ws = ['producer', 'consumer'].map((role) => new Worker(workerUrl, { workerData: { ...data, role } }));
    const exited = Promise.all(ws.map(onExit));
    await Promise.all(ws.map(onMessage));
    await exited;
    const peakLive = capacity * 64;
    const s = heap.stats();
    assert.ok(s.memorySize <= 2 * peakLive + 4 * MiB, `memory ${s.memorySize} for a peak of ${peakLive} live bytes`);
    heap.collect();
    assert.equal(heap.stats().liveBlocks, 0);
    assertCheckOk(heap);
  });

  it('phases: the memory of 32-byte blocks, freed, serves 4 KiB blocks next', () => {
    const heap = createAllocator();
    const small = [];
    for (let i = 0; i < (32 * MiB) / 32; i++) small.push(heap.malloc(32));
    const phase1 = heap.stats().memorySize;
    for (const p of small) heap.free(p);
    const big = [];
    for (let i = 0; i < (32 * MiB) / 4096; i++) big.push(heap.malloc(4096));
    const phase2 = heap.stats().memorySize;
    assert.ok(phase2 <= phase1 + MiB, `phase 2 grew the memory from ${phase1} to ${phase2}`);
    for (const p of big) heap.free(p);
    assertCheckOk(heap);
  });

  it('a long random workload with a drifting size mix stays within 1.3x of peak live bytes plus a constant', () => {
    const heap = createAllocator();
    const r = rng(2024);
    const n = 30_000;
    const ptrs = new Float64Array(n);
    const sizes = new Float64Array(n);
    let live = 0;
    let peakLive = 0;
    let peakMemory = 0;
    for (let i = 0; i < 20 * n; i++) {
      const j = Math.floor(r() * n);
      if (ptrs[j] !== 0) {
        heap.free(ptrs[j]);
        live -= sizes[j];
      }
      const phase = Math.floor(i / (2 * n)) % 3;
      const size = phase === 0 ? 8 + Math.floor(r() * 504) : phase === 1 ? 16 + Math.floor(r() * r() * 16000) : 8 + Math.floor(r() * 120);
      ptrs[j] = heap.malloc(size);
      sizes[j] = heap.usableSize(ptrs[j]);
      live += sizes[j];
      peakLive = Math.max(peakLive, live);
      if (i % 8192 === 0) peakMemory = Math.max(peakMemory, heap.stats().memorySize);
    }
    peakMemory = Math.max(peakMemory, heap.stats().memorySize);
    assert.ok(peakMemory <= 1.3 * peakLive + 4 * MiB, `memory ${peakMemory} for a peak of ${peakLive} live bytes`);
    assertCheckOk(heap);
  });
});
