// Peer: wasi-libc's malloc (dlmalloc) compiled to wasm (bench/wasm/dlmalloc.wasm, built by
// scripts/build-wasm-peers.sh) and called from JS, one wasm call per malloc/free. This is what a JS program
// that keeps its data in a wasm module's memory uses today.
//
// Single-threaded: the module has its own (non-shared) memory and dlmalloc is built without locks, so each
// worker needs its own instance and a block can only be freed by the worker that allocated it.
//
// The module is checked in with bench/wasm/dlmalloc.wasm.json beside it. Loading checks that the module is the
// one recorded there and that the recorded source hash is that of bench/wasm/dlmalloc.c, so a stale build is
// never measured by accident; dlmallocWasmStatus() tells, ensureDlmallocWasm() rebuilds.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type BenchAllocator, repoRoot, validSize } from "./types.js";

interface DlmallocExports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  malloc(size: number): number;
  free(ptr: number): void;
  calloc(count: number, size: number): number;
  realloc(ptr: number, size: number): number;
  aligned_alloc(align: number, size: number): number;
  wm_abi_version(): number;
  wm_pairs(size: number, iters: number): number;
  wm_batch(slots: number, count: number, size: number, rounds: number): number;
}

interface BuildRecord {
  sourceSha256?: string;
  wasmSha256?: string;
  clang?: string;
  wasiLibc?: string;
}

const ABI_VERSION = 1;

export interface DlmallocWasmPaths {
  source: string;
  wasm: string;
  record: string;
  script: string;
}

export function dlmallocWasmPaths(): DlmallocWasmPaths {
  const root = repoRoot();
  return {
    source: join(root, "bench", "wasm", "dlmalloc.c"),
    wasm: join(root, "bench", "wasm", "dlmalloc.wasm"),
    record: join(root, "bench", "wasm", "dlmalloc.wasm.json"),
    script: join(root, "scripts", "build-wasm-peers.sh"),
  };
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Whether bench/wasm/dlmalloc.wasm exists and is the recorded build of the current dlmalloc.c. */
export function dlmallocWasmStatus(): { ok: boolean; reason: string; record?: BuildRecord } {
  const p = dlmallocWasmPaths();
  if (!existsSync(p.wasm)) return { ok: false, reason: `${p.wasm} is missing` };
  if (!existsSync(p.record)) return { ok: false, reason: `${p.record} is missing` };
  let record: BuildRecord;
  try {
    record = JSON.parse(readFileSync(p.record, "utf8")) as BuildRecord;
  } catch (e) {
    return { ok: false, reason: `${p.record} is not valid JSON: ${String(e)}` };
  }
  if (record.wasmSha256 !== sha256(readFileSync(p.wasm)))
    return { ok: false, reason: "dlmalloc.wasm is not the module recorded in dlmalloc.wasm.json", record };
  if (existsSync(p.source) && record.sourceSha256 !== sha256(readFileSync(p.source)))
    return { ok: false, reason: "dlmalloc.c changed since dlmalloc.wasm was built", record };
  return { ok: true, reason: "up to date", record };
}

/** Builds the module with scripts/build-wasm-peers.sh when it is missing or stale (installs the toolchain
 *  with apt-get when it can). Throws with the script's message when that fails. */
export function ensureDlmallocWasm(): void {
  if (dlmallocWasmStatus().ok) return;
  execFileSync("bash", [dlmallocWasmPaths().script], { stdio: ["ignore", "inherit", "inherit"] });
  const after = dlmallocWasmStatus();
  if (!after.ok) throw new Error(`dlmalloc-wasm: still not usable after building: ${after.reason}`);
}

export interface DlmallocWasmOptions {
  /** Check the module against its build record and the source (default true). */
  verify?: boolean;
}

/** The dlmalloc peer. Create with {@link loadDlmallocWasm} or {@link createDlmallocWasmSync}. */
export class DlmallocWasm implements BenchAllocator {
  readonly name = "dlmalloc-wasm";
  readonly linear = true;
  readonly shared = false;
  /** Replaced after any call that may have grown the memory (the old buffer is detached by the growth). */
  u8: Uint8Array;
  private readonly ex: DlmallocExports;
  // The hot exports, held directly (one property load less per call).
  private readonly wMalloc: (size: number) => number;
  private readonly wFree: (ptr: number) => void;

  constructor(instance: WebAssembly.Instance) {
    this.ex = instance.exports as unknown as DlmallocExports;
    if (typeof this.ex.wm_abi_version !== "function" || this.ex.wm_abi_version() !== ABI_VERSION)
      throw new Error("dlmalloc-wasm: the module's interface does not match this peer (rebuild it)");
    this.ex._initialize();
    this.wMalloc = this.ex.malloc;
    this.wFree = this.ex.free;
    this.u8 = new Uint8Array(this.ex.memory.buffer);
  }

  // A grown (non-shared) wasm memory detaches its old buffer: a zero length is the cheap sign of that.
  private refresh(): void {
    if (this.u8.byteLength === 0) this.u8 = new Uint8Array(this.ex.memory.buffer);
  }

  malloc(size: number): number {
    if (!validSize(size)) return 0;
    const p = this.wMalloc(size) >>> 0;
    if (this.u8.byteLength === 0) this.refresh();
    return p;
  }

  free(ptr: number): void {
    this.wFree(ptr);
  }

  calloc(count: number, size: number): number {
    if (!validSize(count) || !validSize(size)) return 0;
    const p = this.ex.calloc(count, size) >>> 0; // dlmalloc checks count * size for overflow itself
    if (this.u8.byteLength === 0) this.refresh();
    return p;
  }

  realloc(ptr: number, size: number): number {
    if (!validSize(size)) return 0;
    if (size === 0) {
      // wasi-libc's dlmalloc would return a minimum-size block for realloc(p, 0): make it free, as documented
      this.ex.free(ptr);
      return 0;
    }
    const p = this.ex.realloc(ptr, size) >>> 0;
    if (this.u8.byteLength === 0) this.refresh();
    return p;
  }

  alignedAlloc(align: number, size: number): number {
    if (!validSize(size) || !validSize(align)) return 0;
    const p = this.ex.aligned_alloc(align, size) >>> 0;
    if (this.u8.byteLength === 0) this.refresh();
    return p;
  }

  bytes(ptr: number, size: number): Uint8Array {
    this.refresh();
    return this.u8.subarray(ptr, ptr + size);
  }

  /** The wasm memory's size: dlmalloc never gives memory back to the host (wasm memory cannot shrink). */
  footprint(): number {
    return this.ex.memory.buffer.byteLength;
  }

  /** pairs-N run entirely inside wasm (no JS call per operation), for comparison with the per-call figures.
   *  Returns a checksum, or -1 when malloc failed. */
  pairsInWasm(size: number, iterations: number): number {
    const r = this.ex.wm_pairs(size, iterations);
    this.refresh();
    return r;
  }

  /** batch run inside wasm: `rounds` times, `count` blocks of `size` bytes, then freed in order. */
  batchInWasm(count: number, size: number, rounds: number): number {
    const slots = this.malloc(count * 4);
    if (!slots) return -1;
    const r = this.ex.wm_batch(slots, count, size, rounds);
    this.free(slots);
    this.refresh();
    return r;
  }
}

function moduleBytes(options: DlmallocWasmOptions): Uint8Array<ArrayBuffer> {
  const p = dlmallocWasmPaths();
  if (options.verify !== false) {
    const status = dlmallocWasmStatus();
    if (!status.ok)
      throw new Error(`dlmalloc-wasm: ${status.reason}; run scripts/build-wasm-peers.sh (or call ensureDlmallocWasm())`);
  }
  return new Uint8Array(readFileSync(p.wasm)); // a copy on a plain ArrayBuffer (what BufferSource asks for)
}

// The module imports nothing today. Should a rebuild start importing WASI functions, answer them with
// ENOSYS rather than failing to instantiate (proc_exit throws: nothing here should ever exit).
function stubImports(mod: WebAssembly.Module): WebAssembly.Imports {
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.kind !== "function") throw new Error(`dlmalloc-wasm: unexpected ${imp.kind} import ${imp.module}.${imp.name}`);
    const ENOSYS = 52;
    (imports[imp.module] ??= {})[imp.name] =
      imp.name === "proc_exit"
        ? (code: number) => {
            throw new Error(`dlmalloc-wasm: proc_exit(${code})`);
          }
        : () => ENOSYS;
  }
  return imports;
}

/** Loads the peer with WebAssembly.instantiate (asynchronous compilation). */
export async function loadDlmallocWasm(options: DlmallocWasmOptions = {}): Promise<DlmallocWasm> {
  const mod = await WebAssembly.compile(moduleBytes(options));
  const instance = await WebAssembly.instantiate(mod, stubImports(mod));
  return new DlmallocWasm(instance);
}

/** Loads the peer synchronously (fine in Node for a module this small, e.g. at a worker's start). */
export function createDlmallocWasmSync(options: DlmallocWasmOptions = {}): DlmallocWasm {
  const mod = new WebAssembly.Module(moduleBytes(options));
  return new DlmallocWasm(new WebAssembly.Instance(mod, stubImports(mod)));
}
