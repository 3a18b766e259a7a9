// One measurement in a process of its own (the runner starts one per contender, workload and thread count):
//   node build/bench/one.js '{"contender":"webmalloc","workload":"larson","threads":2}' [quick|full|tiny]
// Prints the Result (measure.ts) as one JSON line on stdout.

import { FULL, measure, QUICK, TINY, type Spec } from './measure.js';

const [specArg, mode = 'quick'] = process.argv.slice(2);
if (!specArg) {
  console.error("usage: node one.js '{\"contender\":...,\"workload\":...,\"threads\":1}' [quick|full|tiny]");
  process.exit(2);
}
const spec = JSON.parse(specArg) as Spec;
const settings = mode === 'full' ? FULL : mode === 'tiny' ? TINY : QUICK;
const result = await measure(spec, settings);
process.stdout.write(JSON.stringify(result) + '\n');
