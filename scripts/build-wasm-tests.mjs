#!/usr/bin/env node
// Builds the C programs of the wasm drop-in tests and benchmark (test/wasm/*.c) into test/wasm/prebuilt/,
// and keeps a record of each build there (build.json). Run through scripts/build-wasm-tests.sh.
//
// usage: scripts/build-wasm-tests.sh [--check] [--force] [--no-install] [--list] [NAME...]
//   (none)        build the targets that are missing or out of date; do nothing for the others
//   --check       only tell whether every target is up to date (exit 0) or not (exit 1)
//   --force       rebuild even what is up to date
//   --no-install  never call apt-get (fail when a toolchain is needed and missing)
//   --list        list the targets
//   NAME...       only these targets (e.g. threads.js stress.wasm)
//
// The builds are kept in git so that a machine without the toolchains runs the tests too. "Up to date"
// means: for each target, the sha256 of its inputs (the sources' hashes, the exact flags and the toolchain's
// version) is the one recorded, and every output file has its recorded sha256. Where a toolchain is
// installed its own version goes into that hash (so a different compiler rebuilds); where it is not, the
// recorded version is taken. A target that is out of date is rebuilt, with its toolchain installed by
// apt-get when it is missing (Debian 12: clang, lld, wasi-libc, libclang-rt-14-dev-wasm32, wabt;
// emscripten for the pthreads program).
//
// After each build of a webmalloc target the script proves, with wabt's wasm2wat, that the module has no
// allocator of its own: no dlmalloc/sbrk functions, no memory.grow instruction, and its malloc imports
// from webmalloc. The dlmalloc builds (for the benchmark) are checked to have them, which shows the check
// can see them. The findings go into build.json.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = 'test/wasm/prebuilt';
const RECORD = join(ROOT, OUT, 'build.json');
const WASI_LIB = '/usr/lib/wasm32-wasi';
const WASI_INC = '/usr/include/wasm32-wasi';

const say = (msg) => process.stderr.write(`build-wasm-tests: ${msg}\n`);
const fail = (msg) => {
  say(`ERROR: ${msg}`);
  process.exit(1);
};

// ------------------------------------------------------------------------------------------------ targets

const WEBMALLOC_C = ['wasm/webmalloc.c', 'wasm/webmalloc.h'];
const WASI = '--target=wasm32-wasi -O2 -fno-builtin -Wall -Wextra';
const WITH_WEBMALLOC = '-DWITH_WEBMALLOC -Iwasm -Wl,--export=__heap_base';
const EMCC =
  '-O2 -fno-builtin -Wall -pthread -sMALLOC=none -sALLOW_MEMORY_GROWTH=1 -sPTHREAD_POOL_SIZE=4 -sEXIT_RUNTIME=1 ' +
  '--profiling-funcs -Wno-pthreads-mem-growth -Iwasm --js-library wasm/webmalloc-emscripten.js';

const EMXX =
  '-O2 -fno-builtin -Wall -Wno-deprecated -sMALLOC=none -sALLOW_MEMORY_GROWTH=1 -sEXIT_RUNTIME=1 --profiling-funcs ' +
  '-Iwasm --js-library wasm/webmalloc-emscripten.js';

/** kind: wasi (clang + wasi-libc) or emscripten; webmalloc: linked with wasm/webmalloc.c (else libc's dlmalloc). */
const TARGETS = [
  { name: 'conformance.wasm', kind: 'wasi', webmalloc: true, c: ['test/wasm/conformance.c'], flags: `${WASI} ${WITH_WEBMALLOC}` },
  { name: 'stress.wasm', kind: 'wasi', webmalloc: true, c: ['test/wasm/stress.c'], flags: `${WASI} ${WITH_WEBMALLOC}` },
  { name: 'stress.dlmalloc.wasm', kind: 'wasi', webmalloc: false, c: ['test/wasm/stress.c'], flags: WASI },
  { name: 'workloads.wasm', kind: 'wasi', webmalloc: true, c: ['test/wasm/workloads.c'], flags: `${WASI} ${WITH_WEBMALLOC}` },
  { name: 'workloads.dlmalloc.wasm', kind: 'wasi', webmalloc: false, c: ['test/wasm/workloads.c'], flags: WASI },
  {
    name: 'shared.wasm',
    kind: 'wasi',
    webmalloc: true,
    c: ['test/wasm/shared.c'],
    flags: `${WASI} -mexec-model=reactor ${WITH_WEBMALLOC}`,
  },
  {
    name: 'threads.js',
    kind: 'emscripten',
    webmalloc: true,
    c: ['test/wasm/threads.c'],
    extra: ['wasm/webmalloc-emscripten.js'],
    flags: EMCC,
    outputs: ['threads.js', 'threads.wasm', 'threads.worker.js'],
  },
  {
    name: 'cxx.js',
    kind: 'emscripten',
    webmalloc: true,
    cxx: true,
    c: ['test/wasm/cxx.cc'],
    extra: ['wasm/webmalloc-emscripten.js'],
    flags: EMXX,
    outputs: ['cxx.js', 'cxx.wasm'],
  },
];
for (const t of TARGETS) {
  t.sources = [...t.c, ...(t.webmalloc ? WEBMALLOC_C : []), ...(t.extra ?? [])];
  t.outputs ??= [t.name];
}

// ------------------------------------------------------------------------------------------------ arguments

let mode = 'build';
let install = true;
const only = [];
for (const a of process.argv.slice(2)) {
  if (a === '--check') mode = 'check';
  else if (a === '--force') mode = 'force';
  else if (a === '--no-install') install = false;
  else if (a === '--list') mode = 'list';
  else if (a === '-h' || a === '--help') {
    const text = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
    process.stdout.write(text.slice(4, 11).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    process.exit(0);
  } else if (a.startsWith('-')) fail(`unknown option ${a} (try --help)`);
  else if (TARGETS.some((t) => t.name === a)) only.push(a);
  else fail(`unknown target ${a} (see --list)`);
}
if (mode === 'list') {
  for (const t of TARGETS) process.stdout.write(`${t.name}\t${t.kind}\t${t.webmalloc ? 'webmalloc' : 'dlmalloc'}\t${t.sources.join(' ')}\n`);
  process.exit(0);
}
const selected = TARGETS.filter((t) => only.length === 0 || only.includes(t.name));

// ------------------------------------------------------------------------------------------------ toolchains

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
const which = (cmd) => {
  const r = spawnSync('sh', ['-c', `command -v "${cmd}"`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const dpkgVersion = (pkg) => {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
};

/** Where the clang driver really lives: invoked from there, it does not find binaryen's wasm-opt in /usr/bin. */
function wasiToolchain() {
  const clang = which('clang');
  if (!clang || !existsSync(`${WASI_LIB}/libc.a`) || !existsSync(`${WASI_INC}/stdlib.h`)) return undefined;
  const real = realpathSync(clang);
  const builtins = spawnSync(real, ['--target=wasm32-wasi', '-print-libgcc-file-name'], { encoding: 'utf8' }).stdout?.trim();
  if (!builtins || !existsSync(builtins)) return undefined;
  const major = spawnSync(real, ['-dumpversion'], { encoding: 'utf8' }).stdout.trim().split('.')[0];
  const ld = which(`wasm-ld-${major}`) ?? which('wasm-ld');
  if (!ld) return undefined;
  const version = `${spawnSync(real, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]}; wasi-libc ${dpkgVersion('wasi-libc')}`;
  return { clang: real, ld, major, version };
}

function emscriptenToolchain() {
  const emcc = which('emcc');
  if (!emcc) return undefined;
  const r = spawnSync(emcc, ['--version'], { encoding: 'utf8', env: emccEnv() });
  if (r.status !== 0) return undefined;
  return { emcc, version: `${r.stdout.split('\n')[0].trim()}; emscripten ${dpkgVersion('emscripten')}` };
}

/** Debian's emscripten needs Debian's node modules (acorn), which a node that is not Debian's does not search. */
function emccEnv() {
  const paths = [process.env.NODE_PATH, '/usr/share/nodejs', '/usr/lib/nodejs'].filter(Boolean);
  return { ...process.env, NODE_PATH: paths.join(':') };
}

function aptInstall(packages) {
  if (!install || !which('apt-get')) return false;
  const prefix = process.getuid?.() === 0 ? ['apt-get'] : ['sudo', '-n', 'apt-get'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => spawnSync(prefix[0], [...prefix.slice(1), ...args], { stdio: ['ignore', 'ignore', 'pipe'], env }).status === 0;
  say(`apt-get install ${packages.join(' ')}`);
  if (apt(['install', '-y', '--no-install-recommends', ...packages])) return true;
  apt(['update']);
  return apt(['install', '-y', '--no-install-recommends', ...packages]);
}

let wasiTc = wasiToolchain();
let emTc = emscriptenToolchain();
const hasWabt = () => Boolean(which('wasm2wat'));

function ensureWasi() {
  if (wasiTc) return wasiTc;
  say('the wasm32-wasi toolchain is missing or incomplete: installing clang, lld, wasi-libc');
  aptInstall(['clang', 'lld', 'wasi-libc']);
  const clang = which('clang');
  if (clang) {
    const major = spawnSync(clang, ['-dumpversion'], { encoding: 'utf8' }).stdout.trim().split('.')[0];
    aptInstall([`libclang-rt-${major}-dev-wasm32`]);
  }
  wasiTc = wasiToolchain();
  if (!wasiTc) fail('cannot build: clang, lld (wasm-ld), wasi-libc and libclang-rt-N-dev-wasm32 are needed and could not be installed');
  return wasiTc;
}

function ensureEmscripten() {
  if (emTc) return emTc;
  say("Emscripten is missing: installing Debian's emscripten (3.1.6)");
  aptInstall(['emscripten']);
  emTc = emscriptenToolchain();
  if (!emTc) fail('cannot build threads.js: emscripten is needed and could not be installed');
  return emTc;
}

function ensureWabt() {
  if (hasWabt()) return;
  aptInstall(['wabt']);
  if (!hasWabt()) fail('wabt (wasm2wat) is needed to verify the builds and could not be installed');
}

// ------------------------------------------------------------------------------------------------ records

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const fileSha = (path) => sha256(readFileSync(join(ROOT, path)));

function inputsHash(t, toolchainVersion) {
  const sources = t.sources.map((s) => [s, fileSha(s)]);
  return sha256(JSON.stringify({ sources, flags: t.flags, toolchain: toolchainVersion }));
}

function readRecord() {
  if (!existsSync(RECORD)) return { targets: {} };
  try {
    return JSON.parse(readFileSync(RECORD, 'utf8'));
  } catch (e) {
    say(`WARNING: ${OUT}/build.json is not valid JSON (${e.message}): rebuilding everything`);
    return { targets: {} };
  }
}

function currentVersion(t) {
  return t.kind === 'wasi' ? wasiTc?.version : emTc?.version;
}

/** Why target t is out of date, or undefined when it is up to date. */
function staleness(t, record) {
  const r = record.targets?.[t.name];
  if (!r) return 'never built';
  for (const s of t.sources) if (!existsSync(join(ROOT, s))) return `source ${s} is missing`;
  const version = currentVersion(t) ?? r.toolchain;
  if (r.inputsSha256 !== inputsHash(t, version)) {
    if (r.inputsSha256 === inputsHash(t, r.toolchain)) return `built with ${r.toolchain}, the toolchain now is ${version}`;
    return 'its sources or flags changed';
  }
  for (const o of t.outputs) {
    const path = join(ROOT, OUT, o);
    if (!existsSync(path)) return `${OUT}/${o} is missing`;
    if (r.outputs?.[o] !== fileSha(join(OUT, o))) return `${OUT}/${o} is not the recorded build`;
  }
  return undefined;
}

// ------------------------------------------------------------------------------------------------ build

/** A directory holding only the linker under the name clang looks for: PATH for clang, without binaryen. */
function linkerDir(tc) {
  const dir = mkdtempSync(join(tmpdir(), 'wm-ld-'));
  for (const name of ['wasm-ld', `wasm-ld-${tc.major}`]) symlinkSync(tc.ld, join(dir, name));
  return dir;
}

function buildWasi(t, tmp) {
  const tc = ensureWasi();
  const ldDir = linkerDir(tc);
  try {
    const args = [
      ...t.flags.split(' '),
      '-o',
      join(tmp, t.name),
      ...t.c,
      ...(t.webmalloc ? ['wasm/webmalloc.c'] : []),
    ];
    const env = { PATH: ldDir, HOME: process.env.HOME ?? '/tmp', TMPDIR: tmpdir() };
    // Prove that clang will not run wasm-opt: it lists every command it would run.
    const plan = spawnSync(tc.clang, ['-###', ...args], { cwd: ROOT, encoding: 'utf8', env });
    if (/wasm-opt/.test(plan.stderr)) fail(`clang would run wasm-opt for ${t.name}:\n${plan.stderr}`);
    const r = spawnSync(tc.clang, args, { cwd: ROOT, encoding: 'utf8', env });
    if (r.stderr.trim()) process.stderr.write(r.stderr);
    if (r.status !== 0) fail(`clang failed for ${t.name}`);
  } finally {
    rmSync(ldDir, { recursive: true, force: true });
  }
}

function buildEmscripten(t, tmp) {
  const tc = ensureEmscripten();
  // A C++ program links with em++, which would compile webmalloc.c as C++: say it is C.
  const shim = t.cxx ? ['-x', 'c', 'wasm/webmalloc.c', '-x', 'none'] : ['wasm/webmalloc.c'];
  const args = [...t.flags.split(' '), ...t.c, ...shim, '-o', join(tmp, t.name)];
  const compiler = t.cxx ? join(dirname(tc.emcc), 'em++') : tc.emcc;
  const r = spawnSync(compiler, args, { cwd: ROOT, encoding: 'utf8', env: emccEnv() });
  if (r.stderr.trim()) process.stderr.write(r.stderr.slice(0, 4000));
  if (r.status !== 0) fail(`emcc failed for ${t.name}`);
}

/** What the module holds, from wabt's text form: imports, allocator functions, memory.grow. */
function inspect(t, wasmPath) {
  ensureWabt();
  const wat = run('wasm2wat', ['--enable-threads', wasmPath], { maxBuffer: 1 << 28 });
  const imports = [...wat.matchAll(/\(import "([^"]+)" "([^"]+)" \(func/g)].map((m) => `${m[1]}.${m[2]}`);
  const funcs = [...wat.matchAll(/\(func \$([^\s)]+)/g)].map((m) => m[1]);
  const allocatorFunctions = funcs.filter((f) => /^(dlmalloc|dlfree|dlrealloc|dlcalloc|internal_memalign|sbrk|emmalloc.*|__libc_malloc_impl)$/.test(f));
  const memoryGrow = (wat.match(/\bmemory\.grow\b/g) ?? []).length;
  const importsMalloc = imports.filter((i) => /^(webmalloc\.|env\.webmalloc_js_)/.test(i));
  return { namedFunctions: funcs.length, allocatorFunctions, memoryGrow, webmallocImports: importsMalloc };
}

function verify(t, checks) {
  if (checks.namedFunctions === 0) fail(`${t.name} has no name section: the allocator check cannot see function names`);
  if (t.webmalloc) {
    const problems = [];
    if (checks.allocatorFunctions.length) problems.push(`it contains ${checks.allocatorFunctions.join(', ')}`);
    if (checks.memoryGrow) problems.push(`it has ${checks.memoryGrow} memory.grow instructions`);
    const want = t.kind === 'wasi' ? ['webmalloc.malloc', 'webmalloc.free'] : ['env.webmalloc_js_malloc', 'env.webmalloc_js_free'];
    for (const w of want) if (!checks.webmallocImports.includes(w)) problems.push(`it does not import ${w}`);
    if (problems.length) fail(`${t.name} does not take its malloc from webmalloc: ${problems.join('; ')}`);
  } else if (!checks.allocatorFunctions.includes('dlmalloc') || checks.memoryGrow === 0) {
    fail(`${t.name} should contain dlmalloc and memory.grow; the check found ${JSON.stringify(checks)}`);
  }
}

// ------------------------------------------------------------------------------------------------ main

const record = readRecord();
const todo = [];
for (const t of selected) {
  const why = staleness(t, record);
  if (why === undefined && mode !== 'force') continue;
  todo.push([t, why ?? 'forced']);
}

if (mode === 'check') {
  for (const [t, why] of todo) say(`${OUT}/${t.name} is out of date: ${why}`);
  if (todo.length === 0) say(`all ${selected.length} targets in ${OUT} are up to date`);
  process.exit(todo.length === 0 ? 0 : 1);
}
mkdirSync(join(ROOT, OUT), { recursive: true });
// Emscripten's output is CommonJS; the package is "type": "module".
const cjs = join(ROOT, OUT, 'package.json');
if (!existsSync(cjs)) writeFileSync(cjs, '{ "type": "commonjs" }\n');
if (todo.length === 0) {
  say(`all ${selected.length} targets in ${OUT} are up to date`);
  process.exit(0);
}

const tmp = mkdtempSync(join(tmpdir(), 'wm-build-'));
try {
  for (const [t, why] of todo) {
    say(`building ${OUT}/${t.name} (${why})`);
    if (t.kind === 'wasi') buildWasi(t, tmp);
    else buildEmscripten(t, tmp);
    const wasmName = t.outputs.find((o) => o.endsWith('.wasm'));
    const checks = inspect(t, join(tmp, wasmName));
    verify(t, checks);
    for (const o of t.outputs) renameSync(join(tmp, o), join(ROOT, OUT, o));
    const toolchain = currentVersion(t);
    record.targets ??= {};
    record.targets[t.name] = {
      kind: t.kind,
      malloc: t.webmalloc ? 'webmalloc' : 'dlmalloc (wasi-libc)',
      sources: Object.fromEntries(t.sources.map((s) => [s, fileSha(s)])),
      flags: t.flags,
      toolchain,
      inputsSha256: inputsHash(t, toolchain),
      outputs: Object.fromEntries(t.outputs.map((o) => [o, fileSha(join(OUT, o))])),
      checks,
    };
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
record.note =
  'written by scripts/build-wasm-tests.sh: each target is the build of its sources with its flags and toolchain; ' +
  'inputsSha256 = sha256 of {sources, flags, toolchain}; checks = what wasm2wat shows of the module';
const ordered = { note: record.note, targets: Object.fromEntries(TARGETS.filter((t) => record.targets[t.name]).map((t) => [t.name, record.targets[t.name]])) };
writeFileSync(RECORD, JSON.stringify(ordered, null, 2) + '\n');
say(`built ${todo.map(([t]) => t.name).join(', ')}; record in ${OUT}/build.json`);
