// Turning results into the report: the console table, the targets of issue 4 (met or missed, from ratios of
// the same run), the Markdown for the README, and the SVG chart. Pure functions of the results, so the test
// can run them on a tiny run.

import type { Result } from './measure.js';
import { FLOOR_BATCH, FLOORS, isFloor, singleFloorOf } from './floors.js';
import { RANDOM_BLOCKS, THREAD_WORKLOADS } from './workloads.js';

/** A result of any contender; native ones come from scripts/bench-native.sh. */
export interface Row extends Result {
  source?: 'js' | 'native';
  /** A full run's time per call in each pass (the row is the median pass's; see run.ts). */
  passNsPerOp?: number[];
  /** larson-turns: each pass's scaling (x2 over x1 in its own process), in pass order. */
  passScaling?: number[];
}

/** The median of `xs` (of an even count, the mean of the middle two). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** What identifies a measurement across passes. */
function rowKey(r: Row): string {
  return `${r.source ?? ''}|${r.contender}|${r.workload}|${r.threads}|${r.blocks ?? ''}`;
}

/**
 * Per measurement, the pass with the median time (of an even count, the faster of the middle two), with its
 * time in every pass in `passNsPerOp`. Rows keep the order of the first pass they appear in.
 */
export function medianOfPasses(passes: Row[][]): Row[] {
  const byKey = new Map<string, Row[]>();
  for (const rows of passes) {
    for (const r of rows) {
      const k = rowKey(r);
      const list = byKey.get(k);
      if (list) list.push(r);
      else byKey.set(k, [r]);
    }
  }
  return [...byKey.values()].map((list) => {
    const sorted = [...list].sort((a, b) => a.nsPerOp - b.nsPerOp);
    const row: Row = { ...sorted[(sorted.length - 1) >> 1]!, passNsPerOp: list.map((r) => r.nsPerOp) };
    // A scaling is a ratio of its own pass's two times: its median over the passes, not the median-time pass's.
    if (list.every((r) => r.scaling !== undefined)) {
      row.passScaling = list.map((r) => r.scaling!);
      row.scaling = median(row.passScaling);
    }
    return row;
  });
}

export const COLUMNS = ['webmalloc', 'webmalloc-checked', 'dlmalloc-wasm', 'thing-malloc', 'plain-js', 'glibc', 'mimalloc', 'none', 'floor', 'floor-list', 'floor-classes', 'floor-batch'] as const;

export const COLORS: Record<string, string> = {
  webmalloc: '#1f77b4',
  'webmalloc-checked': '#8fbbe0',
  'dlmalloc-wasm': '#ff7f0e',
  'thing-malloc': '#2ca02c',
  'plain-js': '#9467bd',
  glibc: '#7f7f7f',
  mimalloc: '#d62728',
  none: '#c7c7c7',
  floor: '#e0e0e0',
  'floor-list': '#b0b0b0',
  'floor-classes': '#a0a0a0',
  'floor-batch': '#d8d8d8',
};

/** The workloads whose rows differ by their count of live blocks, and those that always name their workers. */
const RANDOM: ReadonlySet<string> = new Set(Object.keys(RANDOM_BLOCKS));
const THREADED: ReadonlySet<string> = new Set(THREAD_WORKLOADS);

/** Rows that compare with each other: same workload, threads and (random workloads) live-block count. */
export function groupKey(r: { workload: string; threads: number; blocks?: number }): string {
  return `${r.workload}|${r.threads}|${RANDOM.has(r.workload) ? (r.blocks ?? '') : ''}`;
}

export function groupLabel(r: { workload: string; threads: number; blocks?: number }, defaultBlocks: Record<string, number>): string {
  let s = r.workload;
  if (THREADED.has(r.workload) || r.threads > 1) s += ` x${r.threads}`;
  if (RANDOM.has(r.workload) && r.blocks !== undefined && r.blocks !== defaultBlocks[r.workload]) s += ` @${r.blocks.toLocaleString('en-US')}`;
  return s;
}

export interface Group {
  key: string;
  label: string;
  workload: string;
  threads: number;
  blocks?: number;
  byContender: Map<string, Row>;
}

/** Groups in the order their first result appears. */
export function groups(rows: Row[], defaultBlocks: Record<string, number>): Group[] {
  const out = new Map<string, Group>();
  for (const r of rows) {
    const key = groupKey(r);
    let g = out.get(key);
    if (!g) {
      g = { key, label: groupLabel(r, defaultBlocks), workload: r.workload, threads: r.threads, byContender: new Map() };
      if (RANDOM.has(r.workload) && r.blocks !== undefined) g.blocks = r.blocks;
      out.set(key, g);
    }
    g.byContender.set(r.contender, r);
  }
  return [...out.values()];
}

// ------------------------------------------------------------------------------------------------ formatting

/** A time in ns: a bare number below 10 µs, with its unit above (µs, ms). */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '-';
  if (ns >= 1e6) return `${(ns / 1e6).toPrecision(3)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toPrecision(3)} µs`;
  return ns >= 100 ? ns.toFixed(0) : ns >= 10 ? ns.toFixed(1) : ns.toFixed(2);
}

/** A time with its unit always. */
export function fmtTime(ns: number): string {
  const s = fmtNs(ns);
  return /\d$/.test(s) ? `${s} ns` : s;
}

export function fmtBytes(b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '-';
  if (b >= 1 << 30) return `${(b / 2 ** 30).toFixed(2)} GiB`;
  if (b >= 1 << 20) return `${(b / 2 ** 20).toFixed(1)} MiB`;
  if (b >= 1 << 10) return `${(b / 2 ** 10).toFixed(1)} KiB`;
  return `${b} B`;
}

function fmtOps(opsPerSec: number): string {
  const m = opsPerSec / 1e6;
  return m >= 10 ? m.toFixed(1) : m >= 0.1 ? m.toFixed(2) : m.toPrecision(2);
}

/** A ratio's digits: three significant ones or so, whatever its size. */
const ratioDigits = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 0.1 ? x.toFixed(2) : x.toPrecision(2));
const ratio = (x: number): string => ratioDigits(x) + 'x';

/** The full console table: one line per contender and workload. */
export function renderTable(rows: Row[], defaultBlocks: Record<string, number>): string {
  const lines: string[] = [];
  const head = `${'workload'.padEnd(22)}${'contender'.padEnd(19)}${'ns/op'.padStart(10)}${'Mops/s'.padStart(9)}${'memory'.padStart(11)}${'peak live'.padStart(11)}${'vs webmalloc'.padStart(14)}`;
  lines.push(head, '-'.repeat(head.length));
  for (const g of groups(rows, defaultBlocks)) {
    const base = g.byContender.get('webmalloc');
    let first = true;
    for (const c of COLUMNS) {
      const r = g.byContender.get(c);
      if (!r) continue;
      const vs = base ? ratio(r.nsPerOp / base.nsPerOp) : '-';
      lines.push(
        `${(first ? g.label : '').padEnd(22)}${c.padEnd(19)}${fmtNs(r.nsPerOp).padStart(10)}${fmtOps(r.opsPerSec).padStart(9)}` +
          `${fmtBytes(r.memoryBytes).padStart(11)}${fmtBytes(r.peakLiveBytes).padStart(11)}${vs.padStart(14)}`,
      );
      first = false;
    }
  }
  lines.push(
    '',
    'ns/op: wall time per allocator call (malloc, free, realloc, aligned_alloc each count one), median of the rounds;',
    'with several workers it is the wall time over all their calls (1e9 / total throughput). vs webmalloc: time',
    'ratio (above 1x: webmalloc is faster). memory: what the contender holds at its peak (webmalloc: memorySize;',
    'dlmalloc: wasm memory; thing: pool high-water mark; plain-js: JS heap + array buffers growth; native: peak RSS).',
    'peak live: bytes requested and live at once.',
  );
  return lines.join('\n');
}

/** The compact matrix: ns/op (ratio to webmalloc), contenders as columns. Markdown. */
export function renderMatrix(rows: Row[], defaultBlocks: Record<string, number>): string {
  const present = COLUMNS.filter((c) => rows.some((r) => r.contender === c));
  const lines = [`| workload | ${present.join(' | ')} |`, `|---|${present.map(() => '---:').join('|')}|`];
  for (const g of groups(rows, defaultBlocks)) {
    const base = g.byContender.get('webmalloc');
    const cells = present.map((c) => {
      const r = g.byContender.get(c);
      if (!r) return '';
      return base && c !== 'webmalloc' ? `${fmtNs(r.nsPerOp)} (${ratio(r.nsPerOp / base.nsPerOp)})` : fmtNs(r.nsPerOp);
    });
    lines.push(`| ${g.label} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Memory at the peak, per contender (Markdown), for the workloads where it tells something. */
export function renderMemory(rows: Row[], defaultBlocks: Record<string, number>): string {
  const present = COLUMNS.filter((c) => c !== 'none' && !isFloor(c) && rows.some((r) => r.contender === c));
  const lines = [`| workload | peak live | ${present.join(' | ')} |`, `|---|---:|${present.map(() => '---:').join('|')}|`];
  for (const g of groups(rows, defaultBlocks)) {
    if (!RANDOM.has(g.workload) && !THREADED.has(g.workload) && g.workload !== 'large') continue;
    const live = g.byContender.get('webmalloc')?.peakLiveBytes ?? [...g.byContender.values()][0]?.peakLiveBytes;
    const cells = present.map((c) => {
      const r = g.byContender.get(c);
      if (!r) return '';
      return r.peakLiveBytes > 0 ? `${fmtBytes(r.memoryBytes)} (${(r.memoryBytes / r.peakLiveBytes).toFixed(2)}x)` : fmtBytes(r.memoryBytes);
    });
    lines.push(`| ${g.label} | ${fmtBytes(live)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------ targets

export interface TargetCheck {
  /** What is compared, e.g. "pairs-64". */
  what: string;
  value: number | undefined;
  met: boolean | undefined;
  note?: string;
  /** The lowest and highest value over the run's passes (pass i of one contender against pass i of the
   *  other): how far the machine moved the ratio that the verdict reads as a median. */
  passes?: [number, number];
}

export interface Target {
  id: string;
  goal: string;
  /** Met: all checks met; missed: one missed; undefined: nothing could be measured. */
  met: boolean | undefined;
  checks: TargetCheck[];
  note?: string;
}

export interface TargetContext {
  /** Parallel scaling of plain computation on this machine during the run (workers -> x). */
  parallelScaling?: Record<string, number>;
  /** The cap @thi.ng/malloc ran at on random-512. */
  thingCap: number;
  defaultBlocks: Record<string, number>;
}

function find(rows: Row[], contender: string, workload: string, threads = 1, blocks?: number): Row | undefined {
  return rows.find(
    (r) => r.contender === contender && r.workload === workload && r.threads === threads && (!RANDOM.has(workload) || r.blocks === blocks),
  );
}

/** The lowest and highest of a value over the passes (undefined with fewer than two passes). */
function rangeOf(values: number[] | undefined): [number, number] | undefined {
  return values && values.length >= 2 ? [Math.min(...values), Math.max(...values)] : undefined;
}

/** The range of `num`'s time over `den`'s, pass by pass (undefined with fewer than two passes). */
function passRange(num: Row, den: Row): [number, number] | undefined {
  const a = num.passNsPerOp;
  const b = den.passNsPerOp;
  if (!a || !b || a.length !== b.length) return undefined;
  return rangeOf(a.map((x, i) => x / b[i]!));
}

/** A ratio's range over the passes, for the report: "passes 1.31-2.24x", or nothing. */
function passesText(passes: [number, number] | undefined): string {
  return passes ? `passes ${ratioDigits(passes[0])}-${ratio(passes[1])}` : '';
}

function verdict(checks: TargetCheck[]): boolean | undefined {
  const measured = checks.filter((c) => c.met !== undefined);
  if (measured.length === 0) return undefined;
  return measured.every((c) => c.met);
}

export const SINGLE_TIMED = ['pairs-16', 'pairs-64', 'pairs-256', 'pairs-4096', 'batch-64', 'random-512', 'random-64k'];
export const SINGLE_ALL = [...SINGLE_TIMED, 'realloc-grow', 'aligned', 'large'];

export function evaluateTargets(rows: Row[], ctx: TargetContext): Target[] {
  const blocksOf = (w: string) => ctx.defaultBlocks[w];
  const targets: Target[] = [];

  // 1. single-thread per-op time <= 1.5x native mimalloc on pairs, batches and random sizes
  {
    const checks = SINGLE_TIMED.map((w): TargetCheck => {
      const wm = find(rows, 'webmalloc', w, 1, blocksOf(w));
      const mi = find(rows, 'mimalloc', w, 1, blocksOf(w));
      if (!wm || !mi) return { what: w, value: undefined, met: undefined, note: 'not measured' };
      const v = wm.nsPerOp / mi.nsPerOp;
      const passes = passRange(wm, mi);
      return { what: w, value: v, met: v <= 1.5, ...(passes ? { passes } : {}) };
    });
    // The loops' floor (FloorList; FloorClasses on the random sizes): what the same loops cost with bare free
    // lists, against mimalloc. Where it exceeds 1.5x, no allocator called from JS through these loops can meet
    // the target.
    const floors = SINGLE_TIMED.flatMap((w) => {
      const floor = singleFloorOf(w);
      const f = floor && find(rows, floor, w, 1, blocksOf(w));
      const mi = find(rows, 'mimalloc', w, 1, blocksOf(w));
      if (!f || !mi) return [];
      const v = f.nsPerOp / mi.nsPerOp;
      // A floor moves from pass to pass as any contender does: its range beside the median's ratio.
      const passes = passRange(f, mi);
      const range = passes ? `; ${passesText(passes)}` : '';
      // Below the floor only if every pass says so.
      return [{ w, text: `${w} ${fmtTime(f.nsPerOp)} (${ratio(v)}${range})`, below: (passes ? passes[0] : v) > 1.5 }];
    });
    const below = floors.filter((f) => f.below).map((f) => f.w);
    const notes = [
      ...(checks.every((c) => c.met === undefined) ? ['mimalloc was not available: no native mimalloc figures in this run'] : []),
      ...(floors.length
        ? [
            `the loops' floor in this run ("floor-list": one bare free list of one size through the same loops, no allocator; ` +
              `on the random sizes "floor-classes", one bare free list per size class), ` +
              `ratio to mimalloc in parentheses: ${floors.map((f) => f.text).join(', ')}` +
              (below.length ? `; ${below.join(', ')}: the target lies below the floor itself` : ''),
          ]
        : []),
    ];
    targets.push({
      id: 'vs-mimalloc',
      goal: 'single-thread time per call <= 1.5x native mimalloc (pairs, batch, random sizes); value: webmalloc / mimalloc',
      met: verdict(checks),
      checks,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
  }

  // 2. >= 2x faster than dlmalloc-in-wasm called from JS on every single-thread workload
  {
    const ws: [string, number][] = [...SINGLE_ALL.map((w): [string, number] => [w, 1]), ['larson', 1]];
    const checks = ws.map(([w, t]): TargetCheck => {
      const wm = find(rows, 'webmalloc', w, t, blocksOf(w));
      const dl = find(rows, 'dlmalloc-wasm', w, t, blocksOf(w));
      if (!wm || !dl) return { what: w + (t > 1 ? ` x${t}` : ''), value: undefined, met: undefined, note: 'not measured' };
      const v = dl.nsPerOp / wm.nsPerOp;
      const passes = passRange(dl, wm);
      return { what: THREADED.has(w) ? `${w} x1` : w, value: v, met: v >= 2, ...(passes ? { passes } : {}) };
    });
    targets.push({
      id: 'vs-dlmalloc-wasm',
      goal: '>= 2x faster than dlmalloc-in-wasm called from JS, every single-thread workload; value: dlmalloc time / webmalloc time',
      met: verdict(checks),
      checks,
    });
  }

  // 3. >= 100x faster than @thi.ng/malloc on 100k random blocks (measured at the cap)
  {
    const cap = ctx.thingCap;
    const th = find(rows, 'thing-malloc', 'random-512', 1, cap);
    const wmCap = find(rows, 'webmalloc', 'random-512', 1, cap);
    const wmFull = find(rows, 'webmalloc', 'random-512', 1, blocksOf('random-512'));
    const checks: TargetCheck[] = [];
    if (th && wmCap) {
      const v = th.nsPerOp / wmCap.nsPerOp;
      checks.push({ what: `random-512, both at ${cap.toLocaleString('en-US')} live blocks`, value: v, met: v >= 100 });
    } else checks.push({ what: `random-512 @${cap}`, value: undefined, met: undefined, note: 'not measured' });
    const extra: string[] = [];
    if (th && wmFull)
      extra.push(
        `thing-malloc at ${cap.toLocaleString('en-US')} blocks / webmalloc at ${blocksOf('random-512')!.toLocaleString('en-US')}: ${ratio(th.nsPerOp / wmFull.nsPerOp)}`,
      );
    for (const r of rows.filter((x) => x.contender === 'thing-malloc' && x.workload === 'random-512' && x.blocks !== cap)) {
      const w = find(rows, 'webmalloc', 'random-512', 1, r.blocks);
      if (w) checks.push({ what: `random-512, both at ${r.blocks!.toLocaleString('en-US')} live blocks`, value: r.nsPerOp / w.nsPerOp, met: r.nsPerOp / w.nsPerOp >= 100 });
    }
    targets.push({
      id: 'vs-thing-malloc',
      goal: '>= 100x faster than @thi.ng/malloc on 100k random blocks; value: thing time / webmalloc time',
      met: verdict(checks.slice(0, 1)),
      checks,
      note:
        `@thi.ng/malloc's calls cost O(live blocks) (free searches the used list, malloc is first fit), so 100,000 live ` +
        `blocks would take it minutes per round: it runs capped at ${cap.toLocaleString('en-US')} live blocks, and the ` +
        `verdict compares webmalloc at the same cap. At 100,000 blocks its cost per call would be far higher, so the ` +
        `capped ratio understates the real one.` +
        (extra.length ? ` ${extra.join('; ')}.` : ''),
    });
  }

  // 4. 2 workers >= 1.8x the throughput of 1 worker on larson
  {
    // The verdict is larson-turns' (one and two workers taking turns in one process: a change of the machine's
    // load between processes cannot pass for scaling); the separate larson x1 and x2 processes are context.
    const one = find(rows, 'webmalloc', 'larson', 1);
    const two = find(rows, 'webmalloc', 'larson', 2);
    const turns = find(rows, 'webmalloc', 'larson-turns', 2);
    const checks: TargetCheck[] = [];
    const ctxNotes: string[] = [];
    const separate = one && two ? two.opsPerSec / one.opsPerSec : undefined;
    if (turns?.scaling !== undefined && turns.alone) {
      const passes = rangeOf(turns.passScaling);
      checks.push({
        what: 'larson-turns: throughput x2 / x1, rounds taking turns in one process',
        value: turns.scaling,
        met: turns.scaling >= 1.8,
        ...(passes ? { passes } : {}),
      });
      ctxNotes.push(
        `larson-turns: ${fmtTime(turns.alone.nsPerOp)} per call with 1 worker (each worker alone in turn), ${fmtTime(turns.nsPerOp)} with 2 (median of ${turns.alone.rounds} pairs of rounds` +
          (turns.passScaling ? `, in the pass of median time; the verdict is the median of the ${turns.passScaling.length} passes' scaling` : '') +
          ')',
      );
      if (separate !== undefined) ctxNotes.push(`larson x1 and x2 in separate processes: ${ratio(separate)}`);
    } else if (separate !== undefined) {
      checks.push({ what: 'larson: throughput x2 / x1 (separate processes)', value: separate, met: separate >= 1.8 });
    } else checks.push({ what: 'larson x2 / x1', value: undefined, met: undefined, note: 'not measured' });
    const dlTurns = find(rows, 'dlmalloc-wasm', 'larson-turns', 2);
    if (dlTurns?.scaling !== undefined) ctxNotes.push(`dlmalloc-wasm's larson-turns (an instance per worker): ${ratio(dlTurns.scaling)}`);
    const mi1 = find(rows, 'mimalloc', 'larson', 1);
    const mi2 = find(rows, 'mimalloc', 'larson', 2);
    if (mi1 && mi2) ctxNotes.push(`native mimalloc in this run: ${ratio(mi2.opsPerSec / mi1.opsPerSec)}`);
    const dl1 = find(rows, 'dlmalloc-wasm', 'larson', 1);
    const dl2 = find(rows, 'dlmalloc-wasm', 'larson', 2);
    if (dl1 && dl2) ctxNotes.push(`dlmalloc-wasm (a private instance per worker, nothing shared): ${ratio(dl2.opsPerSec / dl1.opsPerSec)}`);
    const ps = ctx.parallelScaling?.['2'];
    if (ps !== undefined) ctxNotes.push(`plain computation with 2 workers on this machine during the run: ${ratio(ps)}`);
    const webScaling = turns?.scaling ?? separate;
    if (ps !== undefined && webScaling !== undefined) ctxNotes.push(`webmalloc's scaling relative to the machine's: ${ratio(webScaling / ps)}`);
    targets.push({
      id: 'larson-scaling',
      goal: '2 workers >= 1.8x the throughput of 1 worker on larson-style churn',
      met: verdict(checks),
      checks,
      note:
        ctxNotes.join('; ') +
        (ps !== undefined && ps < 1.8 ? '. The machine itself gave less than 1.8x to plain computation: the verdict says more about the machine than about webmalloc.' : ''),
    });
  }

  // 5. producer/consumer >= 0.5x of the thread-local throughput
  {
    const checks: TargetCheck[] = [];
    for (const t of [2, 4]) {
      const x = find(rows, 'webmalloc', 'xmalloc', t);
      const l = find(rows, 'webmalloc', 'xmalloc-local', t);
      if (x && l) {
        const v = x.opsPerSec / l.opsPerSec;
        checks.push({ what: `xmalloc x${t} / xmalloc-local x${t}`, value: v, met: v >= 0.5 });
      }
    }
    if (checks.length === 0) checks.push({ what: 'xmalloc', value: undefined, met: undefined, note: 'not measured' });
    const ring = [2, 4]
      .map((t) => [t, find(rows, 'none', 'xmalloc', t)] as const)
      .filter(([, r]) => r !== undefined)
      .map(([t, r]) => `x${t} ${fmtTime(r!.nsPerOp)} per call`);
    // The floors (FloorAllocator): blocks handed between the cores without an allocator, against webmalloc's
    // thread-local figure: what the ratio could be here, with freed blocks coming back three ways.
    const floors = FLOORS.flatMap((f) =>
      [2, 4].flatMap((t) => {
        const r = find(rows, f, 'xmalloc', t);
        const l = find(rows, 'webmalloc', 'xmalloc-local', t);
        return r ? [`${f} x${t} ${fmtTime(r.nsPerOp)} per call${l ? ` (${ratio(r.opsPerSec / l.opsPerSec)})` : ''}`] : [];
      }),
    );
    // The native allocators' own ratio, same workload pair in the same run: how much handing blocks to
    // another core costs on this machine when the allocator itself is as fast as it gets.
    const native = ['mimalloc', 'glibc'].flatMap((n) =>
      [2, 4].flatMap((t) => {
        const x = find(rows, n, 'xmalloc', t);
        const l = find(rows, n, 'xmalloc-local', t);
        return x && l ? [`${n} x${t} ${ratio(x.opsPerSec / l.opsPerSec)} (${fmtTime(x.nsPerOp)} / ${fmtTime(l.nsPerOp)} per call)`] : [];
      }),
    );
    const notes = [
      ...(ring.length ? [`the ring and the loop alone, without an allocator (contender "none"): ${ring.join(', ')}`] : []),
      ...(floors.length
        ? [
            'without an allocator, blocks of one size that never come back ("floor"), that come back through one list linked through them (' +
              `"floor-list", the thread-free list bare), and that come back as batches of ${FLOOR_BATCH} addresses ("floor-batch"), ` +
              `ratio to webmalloc's xmalloc-local in parentheses: ${floors.join(', ')}`,
          ]
        : []),
      ...(native.length ? [`the same ratio for the native allocators in this run: ${native.join(', ')}`] : []),
    ];
    targets.push({
      id: 'xmalloc',
      goal: 'producer/consumer throughput >= 0.5x the thread-local throughput (same workers, blocks and batches, each worker freeing its own)',
      met: verdict(checks),
      checks,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
  }

  // 6. peak memory <= 1.3x peak live bytes on random sizes
  {
    const checks = ['random-512', 'random-64k'].map((w): TargetCheck => {
      const wm = find(rows, 'webmalloc', w, 1, blocksOf(w));
      if (!wm || wm.peakLiveBytes <= 0) return { what: w, value: undefined, met: undefined, note: 'not measured' };
      const v = wm.memoryBytes / wm.peakLiveBytes;
      return {
        what: w,
        value: v,
        met: v <= 1.3,
        note: `memory ${fmtBytes(wm.memoryBytes)}, requested live ${fmtBytes(wm.peakLiveBytes)}` + (wm.heapLiveBytes ? `, live block bytes ${fmtBytes(wm.heapLiveBytes)}` : ''),
      };
    });
    targets.push({
      id: 'memory',
      goal: 'peak memory <= 1.3x peak live bytes on random sizes; value: heap memorySize / bytes requested and live at the peak',
      met: verdict(checks),
      checks,
    });
  }
  return targets;
}

const mark = (met: boolean | undefined): string => (met === undefined ? 'NOT MEASURED' : met ? 'MET' : 'MISSED');

export function renderTargets(targets: Target[]): string {
  const lines: string[] = [];
  for (const t of targets) {
    lines.push(`[${mark(t.met)}] ${t.goal}`);
    for (const c of t.checks)
      lines.push(
        `    ${c.met === undefined ? '  -   ' : c.met ? '  met ' : 'missed'}  ${c.what}: ${c.value === undefined ? '-' : ratio(c.value)}` +
          [c.note, passesText(c.passes)].filter(Boolean).map((x) => `  (${x})`).join(''),
      );
    if (t.note) lines.push(`    note: ${t.note}`);
  }
  return lines.join('\n');
}

export function renderTargetsMarkdown(targets: Target[]): string {
  const lines = ['| target | verdict | measured |', '|---|---|---|'];
  for (const t of targets) {
    const measured = t.checks
      .map((c) => {
        const notes = [c.met === false ? 'missed' : '', passesText(c.passes)].filter(Boolean).join('; ');
        return `${c.what}: ${c.value === undefined ? '-' : ratio(c.value)}${notes ? ` (${notes})` : ''}`;
      })
      .join('; ');
    lines.push(`| ${t.goal.split(';')[0]} | ${mark(t.met)} | ${measured} |`);
  }
  // What each verdict should be read beside (the peers' own ratios, caps): under the table.
  const notes = targets.filter((t) => t.note);
  if (notes.length) lines.push('', ...notes.map((t) => `- ${t.goal.split(/[;(]/)[0]!.trim()}: ${t.note}`));
  if (targets.some((t) => t.checks.some((c) => c.passes)))
    lines.push(
      '- passes: the lowest and highest of a ratio over the run\'s passes, each pass\'s time against the same pass\'s time of the peer; the verdict reads the ratio of the medians.',
    );
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------ chart

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped horizontal bars of ns per call, log scale, one group per workload, one bar per contender. */
export function renderSvg(rows: Row[], defaultBlocks: Record<string, number>, title: string): string {
  const gs = groups(rows, defaultBlocks);
  const present = COLUMNS.filter((c) => rows.some((r) => r.contender === c));
  const values = rows.map((r) => r.nsPerOp).filter((v) => v > 0 && Number.isFinite(v));
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...values, 1))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 10))));
  const W = 980;
  const left = 170;
  const right = 70;
  const plotW = W - left - right;
  const bar = 9;
  const gap = 2;
  const groupGap = 12;
  const top = 78;
  const x = (v: number) => left + ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW;
  let y = top;
  const body: string[] = [];
  for (const g of gs) {
    const bars = present.filter((c) => g.byContender.has(c));
    const h = bars.length * (bar + gap) - gap;
    body.push(`<text x="${left - 8}" y="${y + h / 2 + 4}" text-anchor="end" class="label">${esc(g.label)}</text>`);
    for (const c of bars) {
      const r = g.byContender.get(c)!;
      const w = Math.max(1, x(r.nsPerOp) - left);
      body.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${COLORS[c]}"><title>${esc(`${g.label} · ${c}: ${fmtNs(r.nsPerOp)} ns/op`)}</title></rect>`,
        `<text x="${(left + w + 3).toFixed(1)}" y="${y + bar - 1}" class="value">${esc(fmtNs(r.nsPerOp))}</text>`,
      );
      y += bar + gap;
    }
    y += groupGap - gap;
    body.push(`<line x1="${left}" x2="${left + plotW}" y1="${y - groupGap / 2}" y2="${y - groupGap / 2}" class="sep"/>`);
  }
  const H = y + 36;
  const grid: string[] = [];
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    const gx = x(v).toFixed(1);
    const label = v >= 1e6 ? `${v / 1e6} ms` : v >= 1e3 ? `${v / 1e3} µs` : `${v} ns`;
    grid.push(
      `<line x1="${gx}" x2="${gx}" y1="${top - 6}" y2="${y}" class="grid"/>`,
      `<text x="${gx}" y="${top - 10}" text-anchor="middle" class="axis">${label}</text>`,
      `<text x="${gx}" y="${y + 14}" text-anchor="middle" class="axis">${label}</text>`,
    );
  }
  let lx = left;
  const legend = present.map((c) => {
    const item = `<rect x="${lx}" y="34" width="12" height="12" fill="${COLORS[c]}"/><text x="${lx + 16}" y="44" class="legend">${esc(c)}</text>`;
    lx += 16 + 6.5 * c.length + 18;
    return item;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<style>.label{font-size:11px;fill:#222}.value{font-size:8px;fill:#444}.axis{font-size:10px;fill:#666}.legend{font-size:11px;fill:#222}` +
      `.grid{stroke:#ddd;stroke-width:1}.sep{stroke:#f0f0f0;stroke-width:1}.title{font-size:14px;font-weight:600;fill:#111}.sub{font-size:10px;fill:#666}</style>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="18" class="title">${esc(title)}</text>`,
    ...legend,
    ...grid,
    ...body,
    `<text x="${left}" y="${H - 8}" class="sub">ns per allocator call, log scale (shorter is faster). With several workers: wall time / all calls. xN: N workers; @N: N live blocks.</text>`,
    `</svg>`,
    '',
  ].join('\n');
}
