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

let recompileWith: ((body: Body) => void) | undefined;

/** Compile `body` anew (its feedback kept), so that its next calls run code placed elsewhere. */
export function recompile(body: Body): void {
  if (!recompileWith) {
    setFlagsFromString('--allow-natives-syntax');
    // new Function: the intrinsics' `%` syntax parses only where the flag was on when the code was compiled.
    recompileWith = new Function(
      'body',
      '%DeoptimizeFunction(body); %PrepareFunctionForOptimization(body); body(0); %OptimizeFunctionOnNextCall(body); body(0);',
    ) as (body: Body) => void;
  }
  recompileWith(body);
}
