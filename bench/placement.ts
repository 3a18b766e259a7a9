// Where V8 places a compiled loop moves its speed: the same machine code ran pairs-4096 at 4.8 ns per call or
// at 11.4, depending only on its address (recompiled in one process, with the same data and stack, it went
// from one speed to the other and back). Which placement a measurement gets is the order of compilation's, so
// it repeats from process to process: all three passes of one full run got the slow one. (And a loop that
// calls into wasm was slower at its first compilation every time: dlmalloc-wasm's pairs-16, 9.6 ns per call
// against 5.7.) A measurement therefore times its bodies under several compilations (measure.ts; in each
// worker too), and this module makes the new ones: V8's test intrinsics, enabled at run time, drop a body's
// compiled code and compile it again, placed wherever the code space has room now.

import { setFlagsFromString } from 'node:v8';
import type { Body } from './workloads.js';

let recompileWith: ((body: Body) => number) | undefined;

/** V8's optimization status bit "optimized" (%GetOptimizationStatus). */
const OPTIMIZED = 16;

/**
 * Compile `body` anew (its feedback kept), so that its next calls run code placed elsewhere. The new code is
 * compiled at once: a concurrent compile the tiering had queued meanwhile is finished and installed
 * (%FinalizeOptimization), because once (in the tests' process) `body` was left running baseline code with
 * such a compile still pending, and the rounds after it would have timed that. Throws if V8 still does not
 * report `body` optimized after three tries.
 */
export function recompile(body: Body): void {
  if (!recompileWith) {
    setFlagsFromString('--allow-natives-syntax');
    // new Function: the intrinsics' `%` syntax parses only where the flag was on when the code was compiled.
    recompileWith = new Function(
      'body',
      '%DeoptimizeFunction(body); %PrepareFunctionForOptimization(body); %OptimizeFunctionOnNextCall(body); body(0);' +
        ' %FinalizeOptimization(); return %GetOptimizationStatus(body);',
    ) as (body: Body) => number;
  }
  let status = 0;
  for (let tries = 0; tries < 3; tries++) {
    status = recompileWith(body);
    if ((status & OPTIMIZED) !== 0) return;
  }
  throw new Error(`recompile: V8 did not optimize the benchmark body again (status ${status.toString(2)})`);
}
