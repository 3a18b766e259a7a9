// Shared helpers of the wasm drop-in tests (test/wasm-*.test.ts); not a test file itself (node --test runs it
// too, and it has no side effects besides loading the API).
//
// The C programs are built by scripts/build-wasm-tests.sh into test/wasm/prebuilt/; ensureBuilt() runs that
// script, which does nothing when the committed builds are up to date with their sources, and otherwise
// rebuilds them (installing the compilers with apt-get when they are missing).

import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as WasmApi from '../../dist/wasm/index.js';
import type * as WasiApi from '../../dist/wasm/wasi.js';

/** The repository (this file runs as build/test/wasm/helpers.js). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const PREBUILT = `${ROOT}test/wasm/prebuilt/`;
export const CLI = `${ROOT}dist/cli.js`;
export const DIST_INDEX = `${ROOT}dist/index.js`;

// The wasm API of the package (src/wasm/), from the built package.
export const wasm: typeof WasmApi = await import(new URL('dist/wasm/index.js', `file://${ROOT}`).href);
export const wasi: typeof WasiApi = await import(new URL('dist/wasm/wasi.js', `file://${ROOT}`).href);

let built = false;

/** Make sure test/wasm/prebuilt/ is up to date (building what is not); throws with the script's output. */
export function ensureBuilt(): void {
  if (built) return;
  try {
    execFileSync('bash', [`${ROOT}scripts/build-wasm-tests.sh`], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`scripts/build-wasm-tests.sh failed:\n${err.stderr ?? ''}${err.stdout ?? ''}${err.message}`);
  }
  built = true;
}

/** The bytes of a built file in test/wasm/prebuilt/. */
export function prebuilt(name: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(readFileSync(PREBUILT + name));
}

export interface BuildRecord {
  targets: Record<
    string,
    {
      kind: string;
      malloc: string;
      flags: string;
      toolchain: string;
      outputs: Record<string, string>;
      checks: { namedFunctions: number; allocatorFunctions: string[]; memoryGrow: number; webmallocImports: string[] };
    }
  >;
}

export function buildRecord(): BuildRecord {
  return JSON.parse(readFileSync(PREBUILT + 'build.json', 'utf8')) as BuildRecord;
}

/** `webmalloc run [options] program [args]` in a child process. */
export function cli(args: string[], env: Record<string, string> = {}, timeout = 60_000): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, WEBMALLOC_SHOW_STATS: '', ...env },
    timeout,
  });
}

/** The last line of a program's output that parses as JSON. */
export function lastJson<T = Record<string, unknown>>(out: string): T {
  const lines = out.trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) throw new Error(`no JSON line in the output:\n${out}`);
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** The byte pattern of shared.c: byte i of a block with seed s. */
export function pattern(seed: number, i: number): number {
  return (Math.imul(seed + i, 167) + (i >>> 8)) & 0xff;
}

export function fill(u8: Uint8Array, p: number, n: number, seed: number): void {
  for (let i = 0; i < n; i++) u8[p + i] = pattern(seed, i);
}

export function holds(u8: Uint8Array, p: number, n: number, seed: number): boolean {
  for (let i = 0; i < n; i++) if (u8[p + i] !== pattern(seed, i)) return false;
  return true;
}
