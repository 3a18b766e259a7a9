// Running a WASI program (wasm32-wasi, built with wasm/webmalloc.c) in Node with webmalloc as its malloc:
// what `webmalloc run program.wasm` does, as an API. Needs Node (node:wasi).

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { WASI } from 'node:wasi';
import type { HeapStats, WebmallocError } from '../index.js';
import { type InstantiateOptions, instantiateWithWebmalloc, type ModuleSource, type WebmallocInstance } from './index.js';

export interface WasiOptions extends Omit<InstantiateOptions, 'imports'> {
  /** argv[1..] of the program (argv[0] is `programName`). */
  args?: string[];
  /** argv[0]. Default: the file's base name, or "program". */
  programName?: string;
  /** The environment the program sees. Default: none. */
  env?: Record<string, string>;
  /** Directories the program may open: guest path -> host path. Default: none. */
  preopens?: Record<string, string>;
  /** File descriptors of the host for the program's 0, 1, 2. */
  stdin?: number;
  stdout?: number;
  stderr?: number;
  /** More imports for the module (besides wasi_snapshot_preview1 and webmalloc). */
  imports?: WebAssembly.Imports;
}

export interface WasiInstance extends WebmallocInstance {
  wasi: WASI;
  /** Whether the module is a command (has _start) rather than a reactor (has _initialize, already called). */
  command: boolean;
  /** Runs a command's _start once. */
  start(): WasiRunResult;
}

export interface WasiRunResult {
  /** The program's exit status; 134 (as for SIGABRT) when it trapped, which is how abort() ends in wasm. */
  exitCode: number;
  /** The trap or exception that ended the program, when it did not exit normally. */
  error?: unknown;
  /** The misused pointer when the program aborted because webmalloc refused it. */
  misuse?: WebmallocError;
}

/** The exit status a trapped (aborted) program gets. */
export const ABORT_EXIT_CODE = 134;

/**
 * Instantiate a WASI module with webmalloc as its malloc. A reactor's _initialize runs here; a command runs
 * when start() is called. Node's WASI imports are each wrapped in a plain JS function: called straight from
 * wasm, they can crash Node (nodejs/node#53087).
 */
export async function instantiateWasi(program: string | URL | ModuleSource, options: WasiOptions = {}): Promise<WasiInstance> {
  const source = typeof program === 'string' || program instanceof URL ? await readFile(program) : program;
  const programName = options.programName ?? (typeof program === 'string' ? basename(program) : program instanceof URL ? basename(program.pathname) : 'program');
  const wasi = new WASI({
    version: 'preview1',
    args: [programName, ...(options.args ?? [])],
    env: options.env ?? {},
    preopens: options.preopens ?? {},
    stdin: options.stdin,
    stdout: options.stdout,
    stderr: options.stderr,
    returnOnExit: true,
  });
  const wasiImports: WebAssembly.ModuleImports = {};
  for (const [name, fn] of Object.entries(wasi.wasiImport as Record<string, (...args: unknown[]) => unknown>)) {
    wasiImports[name] = (...args: unknown[]) => fn(...args);
  }
  const inst = await instantiateWithWebmalloc(source, {
    ...options,
    imports: { ...options.imports, wasi_snapshot_preview1: wasiImports },
  });
  const exported = Object.values(inst.exports).some((e) => e === inst.memory);
  // Node's WASI finds the memory in instance.exports; a module that imports its memory gets a stand-in.
  const target = (extra: Record<string, unknown>) =>
    (exported ? inst.instance : { exports: { memory: inst.memory, ...extra } }) as WebAssembly.Instance;
  const command = typeof inst.exports._start === 'function';
  if (!command) wasi.initialize(target(inst.exports._initialize ? { _initialize: inst.exports._initialize } : {}));
  let started = false;
  return {
    ...inst,
    wasi,
    command,
    start(): WasiRunResult {
      if (!command) throw new TypeError('webmalloc: the module is a reactor (no _start): call its exports instead');
      if (started) throw new Error('webmalloc: the program ran already');
      started = true;
      try {
        const exitCode = wasi.start(target({ _start: inst.exports._start }));
        return { exitCode: exitCode ?? 0 };
      } catch (error) {
        if (error instanceof WebAssembly.RuntimeError) {
          return { exitCode: ABORT_EXIT_CODE, error, misuse: inst.imports.lastError };
        }
        throw error;
      }
    },
  };
}

/** Run a WASI command with webmalloc as its malloc, the way `webmalloc run` does. */
export async function runWasi(
  program: string | URL | ModuleSource,
  options: WasiOptions = {},
): Promise<WasiRunResult & { instance: WasiInstance }> {
  const instance = await instantiateWasi(program, options);
  return { ...instance.start(), instance };
}

const KiB = 1024;
const MiB = 1024 * KiB;

function bytes(n: number): string {
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

/** A few lines of text about a heap: where its bytes are, and the busiest size classes. */
export function formatStats(s: HeapStats, title = 'webmalloc heap statistics'): string {
  const row = (name: string, value: string) => `  ${name.padEnd(16)}${value}`;
  const lines = [
    `${title}:`,
    row('memory', `${bytes(s.memorySize)} (${s.memorySize} bytes)`),
    row('below heap', bytes(s.belowHeap)),
    row('metadata', bytes(s.metadata)),
    row('live', `${bytes(s.liveBytes)} in ${s.liveBlocks} blocks`),
    row('free in pages', bytes(s.freeInPages)),
    row('page waste', bytes(s.pageWaste)),
    row('free slices', bytes(s.freeSlices)),
    row('unclaimed', bytes(s.unclaimed)),
    row(
      'structure',
      `${s.segments} segments, ${s.pages} pages (${s.abandonedPages} abandoned), ${s.largeBlocks} large, ${s.hugeBlocks} huge blocks, ${s.threadsAttached} threads`,
    ),
  ];
  const bins = s.bins
    .filter((b) => b.liveBlocks > 0)
    .sort((x, y) => y.liveBlocks * y.blockSize - x.liveBlocks * x.blockSize)
    .slice(0, 8);
  if (bins.length > 0) {
    lines.push(row('live by class', bins.map((b) => `${b.blockSize} B x ${b.liveBlocks}`).join(', ')));
  }
  return lines.join('\n');
}
