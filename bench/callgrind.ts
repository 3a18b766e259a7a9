// Instructions per function of compiled JS and wasm: valgrind's callgrind counts every instruction by
// address (--dump-instr=yes), and V8 writes where it put each compiled function (--perf-basic-prof: a
// /tmp/perf-PID.map of "start size name" lines, in hexadecimal). Summed per function over two runs that
// differ only in their number of calls, the difference is what the steady state costs, per function. Used
// by `npm run bench:instructions -- --functions K`.
//
// callgrind's output names each cost line by its positions (here the instruction's address, then its source
// line), written in full (0x...), relative to the previous line's (+N, -N: decimal) or as the same (*), and
// then its counts. A line after `calls=` is the cost of that call, inclusive: not the caller's own.

import { readFileSync } from 'node:fs';

/** One compiled function's code: [start, start + size). */
export interface CodeRange {
  start: number;
  size: number;
  name: string;
}

/** The ranges of a V8 perf map, sorted by start. */
export function parsePerfMap(text: string): CodeRange[] {
  const ranges: CodeRange[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) ranges.push({ start: parseInt(m[1]!, 16), size: parseInt(m[2]!, 16), name: m[3]! });
  }
  return ranges.sort((a, b) => a.start - b.start);
}

/**
 * Instructions executed per function name: each cost line's count goes to the perf-map range that holds its
 * address, else to the function callgrind names it by (native code: `native <name>`).
 */
export function selfCostByFunction(callgrindOut: string, ranges: readonly CodeRange[]): Map<string, number> {
  const out = new Map<string, number>();
  let positions = 1;
  let address = 0;
  let fn = '';
  let callCost = false;
  // Names are compressed: "fn=(12) name" the first time, "fn=(12)" after (and cfn= lines name callees alike).
  const names = new Map<string, string>();
  for (const line of callgrindOut.split('\n')) {
    if (line.startsWith('positions:')) {
      positions = line.slice('positions:'.length).trim().split(/\s+/).length;
      continue;
    }
    const named = /^c?fn=(\(\d+\))?\s*(.*)$/.exec(line);
    if (named) {
      const [, id, text] = named;
      const name = text !== '' ? text!.replace(/\(.*$/, '').trim() : (names.get(id ?? '') ?? '?');
      if (id !== undefined && text !== '') names.set(id, name);
      if (line[0] === 'f') fn = name;
      continue;
    }
    if (line.startsWith('calls=')) {
      callCost = true;
      continue;
    }
    const first = line[0];
    if (first === undefined || !/[0-9+\-*]/.test(first)) continue;
    const fields = line.split(/\s+/);
    const p = fields[0]!;
    if (p.startsWith('0x')) address = parseInt(p, 16);
    else if (p.startsWith('+')) address += Number(p.slice(1));
    else if (p.startsWith('-')) address -= Number(p.slice(1));
    else if (p !== '*') address = parseInt(p, 16);
    if (callCost) {
      callCost = false;
      continue;
    }
    const count = Number(fields[positions] ?? 0);
    if (!Number.isFinite(count) || count === 0) continue;
    const name = rangeAt(ranges, address)?.name ?? `native ${fn || '?'}`;
    out.set(name, (out.get(name) ?? 0) + count);
  }
  return out;
}

/** The range holding `address`, by binary search. */
function rangeAt(ranges: readonly CodeRange[], address: number): CodeRange | undefined {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]!.start <= address) lo = mid + 1;
    else hi = mid - 1;
  }
  const r = ranges[hi];
  return r !== undefined && address < r.start + r.size ? r : undefined;
}

/**
 * Per function, (the second run's instructions minus the first's) / `calls`, where each name is first made
 * readable by `rename` (which may merge several code objects of one function). Largest first.
 */
export function perCallDifference(
  first: Map<string, number>,
  second: Map<string, number>,
  calls: number,
  rename: (name: string) => string,
): { name: string; perCall: number }[] {
  const merged = new Map<string, number>();
  const add = (name: string, n: number) => {
    const key = rename(name);
    merged.set(key, (merged.get(key) ?? 0) + n);
  };
  for (const [name, n] of second) add(name, n);
  for (const [name, n] of first) add(name, -n);
  return [...merged].map(([name, d]) => ({ name, perCall: d / calls })).sort((a, b) => b.perCall - a.perCall);
}

/** selfCostByFunction of the files a run wrote. */
export function readRun(callgrindFile: string, perfMapFile: string): Map<string, number> {
  return selfCostByFunction(readFileSync(callgrindFile, 'utf8'), parsePerfMap(readFileSync(perfMapFile, 'utf8')));
}
