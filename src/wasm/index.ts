// webmalloc as the malloc of a WebAssembly module: the "webmalloc" imports that wasm/webmalloc.c calls, and
// instantiating such a module with webmalloc managing its memory above __heap_base. Works in browsers and
// Node alike (the WASI runner, which needs Node, is in ./wasi.ts).
//
// The module and JavaScript then share one heap: a block either side allocated can be read, written,
// reallocated and freed by the other, through the returned Allocator.

import { type Allocator, attach, createAllocator, WebmallocError } from '../index.js';
import { memoryImportOf, type MemoryLimits } from './module.js';

export { memoryImportOf, type MemoryLimits } from './module.js';

/** The import module name that wasm/webmalloc.c uses. */
export const IMPORT_MODULE = 'webmalloc';
/** The version of the import interface (WEBMALLOC_WASM_ABI in wasm/webmalloc.h). */
export const WASM_ABI = 1;
/** What the imports return to C when JS refused a pointer (wasm/webmalloc.c turns them into an abort). */
export const WASM_ERR_INVALID_POINTER = 1;
export const WASM_ERR_DOUBLE_FREE = 2;

export interface ImportHooks {
  /** Called when the module passed free, realloc or malloc_usable_size a pointer that is not a live block,
   *  just before the module aborts. Default: nothing (the C side prints the message). */
  onMisuse?(error: WebmallocError, call: 'free' | 'realloc' | 'usable_size'): void;
  /** Where webmalloc_check() reports problems. Default console.error. */
  log?(message: string): void;
}

/** The "webmalloc" import module, bound to an allocator now or later (see {@link WebmallocImports.bind}). */
export interface WebmallocImports {
  /** Pass as `imports.webmalloc` when instantiating. */
  readonly functions: WebAssembly.ModuleImports;
  /** Set the allocator the functions use (once the module's memory and heap exist). */
  bind(allocator: Allocator): void;
  /** The last pointer the module misused (set when a call returned an error code to C). */
  readonly lastError: WebmallocError | undefined;
}

/** Throws on every call: what the functions use before {@link WebmallocImports.bind}. */
const UNBOUND = new Proxy(
  {},
  {
    get() {
      return () => {
        throw new Error('webmalloc: the module called malloc before its heap was set up (during instantiation)');
      };
    },
  },
) as Allocator;

/**
 * The import functions wasm/webmalloc.c calls. wasm passes i32 arguments signed, so every size and pointer is
 * read with `>>> 0`. Pointers the allocator refuses come back to C as an error code (it aborts with a message),
 * so a misuse never unwinds through C frames as a JS exception and never changes the heap.
 */
export function webmallocImports(allocator?: Allocator, hooks: ImportHooks = {}): WebmallocImports {
  let a: Allocator = allocator ?? UNBOUND;
  let lastError: WebmallocError | undefined;
  const log = hooks.log ?? ((msg: string) => console.error(msg));
  const refuse = (e: unknown, call: 'free' | 'realloc' | 'usable_size'): number => {
    if (!(e instanceof WebmallocError) || e.code === 'DETACHED') throw e;
    lastError = e;
    hooks.onMisuse?.(e, call);
    return e.code === 'DOUBLE_FREE' ? WASM_ERR_DOUBLE_FREE : WASM_ERR_INVALID_POINTER;
  };
  const functions: WebAssembly.ModuleImports = {
    malloc: (size: number): number => a.malloc(size >>> 0),
    calloc: (count: number, size: number): number => a.calloc(count >>> 0, size >>> 0),
    realloc: (p: number, size: number): number => {
      try {
        return a.realloc(p >>> 0, size >>> 0);
      } catch (e) {
        return refuse(e, 'realloc');
      }
    },
    aligned_alloc: (alignment: number, size: number): number => a.alignedAlloc(alignment >>> 0, size >>> 0),
    free: (p: number): number => {
      try {
        a.free(p >>> 0);
        return 0;
      } catch (e) {
        return refuse(e, 'free');
      }
    },
    usable_size: (p: number): number => {
      try {
        return a.usableSize(p >>> 0);
      } catch (e) {
        return refuse(e, 'usable_size');
      }
    },
    check: (): number => {
      const result = a.check();
      for (const error of result.errors) log(`webmalloc check: ${error}`);
      return result.errors.length;
    },
    collect: (): void => a.collect(),
    stat: (which: number): number => {
      const s = a.stats();
      return which === 0 ? s.liveBytes : which === 1 ? s.liveBlocks : which === 2 ? s.memorySize : which === 3 ? s.threadsAttached : 0;
    },
  };
  return {
    functions,
    bind(allocator: Allocator) {
      a = allocator;
    },
    get lastError() {
      return lastError;
    },
  };
}

export interface InstantiateOptions {
  /** The module's other imports (wasi_snapshot_preview1, env, ...). `webmalloc` is added. */
  imports?: WebAssembly.Imports;
  /** The memory, for a module that imports one. Default: a new memory of the declared limits. A module that
   *  defines its own memory always uses that one. */
  memory?: WebAssembly.Memory;
  /** Where the heap may start. Default: the module's exported `__heap_base` (link with
   *  -Wl,--export=__heap_base), else the memory's size right after instantiation, which is where wasm-ld's
   *  layout (data, stack) ends. The heap starts at the next 64 KiB boundary. */
  heapBase?: number;
  /** Catch every double free (default true: a C program's double free aborts instead of corrupting the
   *  heap). false is faster; invalid pointers are still caught. */
  checked?: boolean;
  /** Thread slots of the heap (default 64). */
  maxThreads?: number;
  /** Highest byte offset the heap may grow the memory to. */
  limit?: number;
  /** Join the heap that already lives in `memory` (made by another instance on the same shared memory)
   *  instead of creating one. */
  attach?: boolean;
  /** Hooks of the import functions. */
  hooks?: ImportHooks;
}

export interface WebmallocInstance {
  module: WebAssembly.Module;
  instance: WebAssembly.Instance;
  exports: WebAssembly.Exports;
  /** The module's memory, which the heap manages above heapBase. */
  memory: WebAssembly.Memory;
  /** The heap, shared with the module: JS may malloc, free and read blocks with it. */
  allocator: Allocator;
  /** The `start` the heap was made with (attach to it from workers with this). */
  heapBase: number;
  /** The import module given to the instance. */
  imports: WebmallocImports;
}

/** A compiled module, or its bytes (an ArrayBuffer, a typed array, a Node Buffer). */
export type ModuleSource = WebAssembly.Module | ArrayBufferView | ArrayBufferLike;
type Source = ModuleSource;

/** Compile (when given bytes) and instantiate a module built with wasm/webmalloc.c; webmalloc manages its memory. */
export async function instantiateWithWebmalloc(source: Source, options: InstantiateOptions = {}): Promise<WebmallocInstance> {
  const module = source instanceof WebAssembly.Module ? source : await WebAssembly.compile(source as BufferSource);
  const plan = prepare(module, source, options);
  const instance = await WebAssembly.instantiate(module, plan.imports);
  return finish(module, instance, plan, options);
}

/** The synchronous form of {@link instantiateWithWebmalloc} (browsers limit synchronous compilation to small modules). */
export function instantiateWithWebmallocSync(source: Source, options: InstantiateOptions = {}): WebmallocInstance {
  const module = source instanceof WebAssembly.Module ? source : new WebAssembly.Module(source as BufferSource);
  const plan = prepare(module, source, options);
  const instance = new WebAssembly.Instance(module, plan.imports);
  return finish(module, instance, plan, options);
}

interface Plan {
  imports: WebAssembly.Imports;
  wm: WebmallocImports;
  /** The memory given to the module, when it imports one. */
  imported?: WebAssembly.Memory;
  /** Whether that memory was created here (so it reads as zero). */
  fresh: boolean;
}

function prepare(module: WebAssembly.Module, source: Source, options: InstantiateOptions): Plan {
  const wm = webmallocImports(undefined, options.hooks);
  const imports: WebAssembly.Imports = { ...options.imports, [IMPORT_MODULE]: wm.functions };
  const memoryImport = WebAssembly.Module.imports(module).find((i) => i.kind === 'memory');
  let imported: WebAssembly.Memory | undefined;
  let fresh = false;
  if (memoryImport !== undefined) {
    const given = options.memory ?? (options.imports?.[memoryImport.module]?.[memoryImport.name] as WebAssembly.Memory | undefined);
    if (given !== undefined) {
      imported = given;
    } else {
      const limits = source instanceof WebAssembly.Module ? undefined : memoryImportOf(source);
      if (limits === undefined) {
        throw new TypeError(
          `webmalloc: the module imports its memory (${memoryImport.module}.${memoryImport.name}): pass options.memory, or the module's bytes instead of a compiled module`,
        );
      }
      imported = newMemory(limits);
      fresh = true;
    }
    imports[memoryImport.module] = { ...imports[memoryImport.module], [memoryImport.name]: imported };
  }
  return { imports, wm, imported, fresh };
}

function newMemory(limits: MemoryLimits): WebAssembly.Memory {
  const descriptor: WebAssembly.MemoryDescriptor & { shared?: boolean } = { initial: limits.initial };
  if (limits.maximum !== undefined) descriptor.maximum = limits.maximum;
  if (limits.shared) descriptor.shared = true;
  return new WebAssembly.Memory(descriptor);
}

function finish(module: WebAssembly.Module, instance: WebAssembly.Instance, plan: Plan, options: InstantiateOptions): WebmallocInstance {
  const exports = instance.exports;
  let memory = plan.imported;
  let fresh = plan.fresh;
  if (memory === undefined) {
    const exported = Object.values(exports).find((e): e is WebAssembly.Memory => e instanceof WebAssembly.Memory);
    if (exported === undefined) {
      throw new TypeError('webmalloc: the module neither exports nor imports its memory, so its heap cannot be managed');
    }
    memory = exported;
    fresh = true; // a memory the instance just created reads as zero above its data
  }
  const heapBase = options.heapBase ?? heapBaseOf(exports) ?? memory.buffer.byteLength;
  if (!Number.isInteger(heapBase) || heapBase < 0) throw new RangeError(`webmalloc: bad heap base ${String(heapBase)}`);
  const allocator = options.attach
    ? attach(memory, { start: heapBase })
    : createAllocator({
        memory,
        start: heapBase,
        checked: options.checked ?? true,
        maxThreads: options.maxThreads,
        limit: options.limit,
        zeroed: fresh,
      });
  plan.wm.bind(allocator);
  return { module, instance, exports, memory, allocator, heapBase, imports: plan.wm };
}

/** The value of an exported `__heap_base` global, if the module exports one. */
export function heapBaseOf(exports: WebAssembly.Exports): number | undefined {
  const g = exports.__heap_base;
  if (g instanceof WebAssembly.Global) return Number(g.value) >>> 0;
  return undefined;
}
