// Emscripten programs with webmalloc as their malloc (Debian's Emscripten 3.1.6, -sMALLOC=none, wasm/webmalloc.c
// and the JS library wasm/webmalloc-emscripten.js):
// - threads (issue 5, item 4): a C program using pthreads runs on several workers that share one memory and one
//   webmalloc heap; each worker attached as its own allocator thread, and blocks move between threads, which
//   free and realloc each other's blocks;
// - a C++ program without threads: new/delete and the std containers, and memory growth under Emscripten's views.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { DIST_INDEX, ensureBuilt, lastJson, PREBUILT, ROOT } from './wasm/helpers.js';

before(() => ensureBuilt());

interface ThreadsOut {
  threads: number;
  allocations: number;
  remoteFrees: number;
  errors: number;
  heapProblems: number;
  leakedBlocks: number;
  heapThreads: number;
}

function run<T>(program: string, args: string[]): T {
  const r = spawnSync(process.execPath, [PREBUILT + program, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    // The program imports webmalloc in every thread; here, the package being tested.
    env: { ...process.env, WEBMALLOC_MODULE: DIST_INDEX },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`);
  return lastJson<T>(r.stdout);
}

const runThreads = (args: string[]) => run<ThreadsOut>('threads.js', args);

describe('pthreads (Emscripten) share one webmalloc heap', () => {
  it('4 threads allocate, hand blocks over, free and realloc each other\'s blocks; contents and heap intact', () => {
    const out = runThreads(['4', '20000']);
    assert.equal(out.errors, 0);
    assert.equal(out.heapProblems, 0);
    assert.equal(out.leakedBlocks, 0);
    assert.equal(out.threads, 4);
    assert.equal(out.heapThreads, 5, 'the main thread and one allocator thread per worker');
    assert.ok(out.allocations > 20000, `allocations ${out.allocations}`);
    assert.ok(out.remoteFrees > 1000, `remote frees ${out.remoteFrees}`);
  });

  it('2 threads, another seed of work', () => {
    const out = runThreads(['2', '30000']);
    assert.equal(out.errors, 0);
    assert.equal(out.heapProblems, 0);
    assert.equal(out.leakedBlocks, 0);
    assert.equal(out.heapThreads, 3);
  });
});

describe('C++ (Emscripten, no threads)', () => {
  it('new/delete and std containers take their memory from webmalloc, which grows the memory under Emscripten', () => {
    const out = run<{ strings: number; sum: number; grown: number; errors: number; leakedBlocks: number; heapProblems: number }>('cxx.js', []);
    assert.equal(out.errors, 0);
    assert.equal(out.strings, 5000);
    assert.equal(out.sum, (20000 * 19999) / 2);
    assert.equal(out.grown, 1);
    assert.equal(out.leakedBlocks, 0);
    assert.equal(out.heapProblems, 0);
  });
});
