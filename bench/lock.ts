// One benchmark at a time on this machine: every benchmark process holds an flock on
// ${TMPDIR:-/tmp}/webmalloc-bench.lock (scripts/bench-native.sh takes the same one). A process that does not
// hold it yet re-runs itself under flock; WEBMALLOC_BENCH_LOCK_HELD=1 tells it, and the steps it starts,
// that the lock is held.

import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Unless this process holds the benchmark lock, run script `self` with `argv` again under it (waiting up to
 * `waitSeconds`) and return its exit status; return undefined when the lock is held already and the caller
 * should go on.
 */
export function rerunUnderBenchLock(self: string, argv: string[], waitSeconds: number): number | undefined {
  if (process.env.WEBMALLOC_BENCH_LOCK_HELD === '1') return undefined;
  const lock = join(process.env.TMPDIR ?? tmpdir(), 'webmalloc-bench.lock');
  if (spawnSync('flock', ['-n', lock, 'true']).status !== 0) console.log(`waiting for ${lock}: another benchmark is running...`);
  const r = spawnSync('flock', ['-w', String(waitSeconds), lock, process.execPath, self, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, WEBMALLOC_BENCH_LOCK_HELD: '1' },
  });
  if (r.error) throw r.error;
  return r.status ?? 1;
}
