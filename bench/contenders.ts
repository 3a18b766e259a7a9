// The contenders of the benchmark, each behind the BenchAllocator shape: webmalloc (plain and checked) and
// the peers in bench/peers/. One contender per process: the runner never mixes them in one JIT (call sites
// stay monomorphic, as they would be in a program that uses one allocator).
//
// Sharing: webmalloc's workers attach to one heap (attachContender); every peer is single-threaded, so a
// multi-worker workload gives each worker an instance of its own, and cross-thread workloads (xmalloc) run
// for webmalloc only.

import { attach, createAllocator, type Allocator, type LinearMemory } from 'webmalloc';
import { createDlmallocWasmSync, ensureDlmallocWasm } from './peers/dlmalloc-wasm.js';
import { PlainJs } from './peers/plain-js.js';
import { ThingMalloc } from './peers/thing-malloc.js';
import type { BenchAllocator } from './peers/types.js';
import { BareAllocator, FloorClasses, FLOORS, FloorList, type FloorName } from './floors.js';

export const CONTENDERS = ['webmalloc', 'webmalloc-checked', 'dlmalloc-wasm', 'thing-malloc', 'plain-js'] as const;
/** Not allocators: 'none' hands out one fixed block and frees nothing, to show what the workload's own
 *  loop costs (the xmalloc ring above all); the floors show, on xmalloc, what handing blocks between the
 *  cores costs, three ways (FloorAllocator), on the single-thread workloads of one size, what the loops
 *  cost with one bare free list (floor-list, FloorList), and on the random sizes, with one bare free list per
 *  size class (floor-classes, FloorClasses). */
export type ContenderName = (typeof CONTENDERS)[number] | 'none' | FloorName;
/** Every name a JS measurement takes (what the scripts' --contenders lists may name). */
export const ALL_CONTENDERS: readonly ContenderName[] = [...CONTENDERS, 'none', ...FLOORS, 'floor-classes'];

/** The native contenders (bench/native/workloads.c via scripts/bench-native.sh), named as in the report. */
export const NATIVE = ['glibc', 'mimalloc'] as const;

export function isWebmalloc(name: string): boolean {
  return name === 'webmalloc' || name === 'webmalloc-checked';
}

/** webmalloc as a BenchAllocator: its methods, called directly. */
export class WebmallocBench implements BenchAllocator {
  readonly linear = true;
  readonly shared = true;
  constructor(
    readonly name: string,
    readonly heap: Allocator,
  ) {}
  malloc(size: number): number {
    return this.heap.malloc(size);
  }
  free(ptr: number): void {
    this.heap.free(ptr);
  }
  calloc(count: number, size: number): number {
    return this.heap.calloc(count, size);
  }
  realloc(ptr: number, size: number): number {
    return this.heap.realloc(ptr, size);
  }
  alignedAlloc(align: number, size: number): number {
    return this.heap.alignedAlloc(align, size);
  }
  get u8(): Uint8Array {
    return this.heap.u8;
  }
  bytes(ptr: number, size: number): Uint8Array {
    return this.heap.u8.subarray(ptr, ptr + size);
  }
  footprint(): number {
    return this.heap.stats().memorySize;
  }
}

/** A new instance of contender `name` (for webmalloc: a new heap). `poolBytes` sizes @thi.ng/malloc's fixed pool. */
export function makeContender(name: ContenderName, poolBytes = 128 << 20): BenchAllocator {
  switch (name) {
    case 'webmalloc':
      return new WebmallocBench(name, createAllocator());
    case 'webmalloc-checked':
      return new WebmallocBench(name, createAllocator({ checked: true }));
    case 'dlmalloc-wasm':
      ensureDlmallocWasm();
      return createDlmallocWasmSync();
    case 'thing-malloc':
      return new ThingMalloc({ size: poolBytes });
    case 'plain-js':
      return new PlainJs();
    case 'none':
      return new NoAllocator();
    case 'floor-list':
      return new FloorList(); // single-thread: one bare list (xmalloc's floor-list is made by measure.ts)
    case 'floor-classes':
      return new FloorClasses();
    case 'floor':
    case 'floor-batch':
      throw new Error(`${name} runs xmalloc only: a producer and its consumer share its memory (measure.ts makes it)`);
  }
}

/** The workload without an allocator: every malloc returns the same block, free does nothing. */
export class NoAllocator extends BareAllocator {
  readonly name = 'none';
  readonly u8 = new Uint8Array(new SharedArrayBuffer(1 << 20));
  protected readonly alignment = 64;
  malloc(size: number): number {
    return size <= (1 << 20) - 64 ? 64 : 0;
  }
  free(_ptr: number): void {}
  footprint(): number {
    return 0;
  }
}

/** webmalloc in a worker: one more thread on the heap in `memory`. */
export function attachContender(name: ContenderName, memory: LinearMemory): WebmallocBench {
  return new WebmallocBench(name, attach(memory));
}


