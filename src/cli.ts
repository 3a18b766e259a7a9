#!/usr/bin/env node
// The webmalloc command: `webmalloc run program.wasm [args...]` runs a WASI program (built with
// wasm/webmalloc.c) in Node with webmalloc as its malloc. See `webmalloc help`.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const USAGE = `usage: webmalloc run [options] program.wasm [args...]

Runs a WASI program (wasm32-wasi, linked with webmalloc's wasm/webmalloc.c) in Node, with webmalloc as its
malloc: the heap lives in the program's memory above __heap_base and grows it as needed.

options:
  --dir DIR[::GUEST]   let the program open files below DIR (as GUEST, default DIR); repeatable
  --env NAME=VALUE     set an environment variable for the program; repeatable
  --inherit-env        pass this process's environment to the program
  --unchecked          do not track every block (faster; a double free of a small block is then not caught)
  --stats              print the heap statistics when the program ends (also WEBMALLOC_SHOW_STATS=1,
                       or WEBMALLOC_SHOW_STATS=json for JSON)
  --                   end of options

The exit status is the program's; 134 when it aborted (a trap, or a misuse of free webmalloc refused).

other commands:
  webmalloc help       this text
  webmalloc version    the package version`;

interface RunArgs {
  program: string;
  args: string[];
  preopens: Record<string, string>;
  env: Record<string, string>;
  checked: boolean;
  stats: 'text' | 'json' | undefined;
}

class UsageError extends Error {}

function parseRun(argv: string[]): RunArgs {
  const preopens: Record<string, string> = {};
  const env: Record<string, string> = {};
  let checked = true;
  const showStats = process.env.WEBMALLOC_SHOW_STATS;
  let stats: RunArgs['stats'] =
    showStats === undefined || showStats === '' || showStats === '0' ? undefined : showStats === 'json' ? 'json' : 'text';
  let i = 0;
  const value = (flag: string): string => {
    if (i + 1 >= argv.length) throw new UsageError(`${flag} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('--')) break;
    if (a === '--dir') {
      const spec = value(a);
      const [host, guest] = spec.includes('::') ? spec.split('::', 2) : [spec, spec];
      preopens[guest] = resolve(host);
    } else if (a === '--env') {
      const spec = value(a);
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env wants NAME=VALUE, got '${spec}'`);
      env[spec.slice(0, eq)] = spec.slice(eq + 1);
    } else if (a === '--inherit-env') {
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !(k in env)) env[k] = v;
    } else if (a === '--unchecked') {
      checked = false;
    } else if (a === '--checked') {
      checked = true;
    } else if (a === '--stats') {
      stats ??= 'text';
    } else {
      throw new UsageError(`unknown option ${a}`);
    }
  }
  if (i >= argv.length) throw new UsageError('no program given');
  return { program: argv[i], args: argv.slice(i + 1), preopens, env, checked, stats };
}

/** Node warns that WASI is experimental on every run; the program's stderr is not the place for that. */
function quietWasiWarning(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning instanceof Error ? warning.message : '';
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'ExperimentalWarning' && /WASI/.test(text)) return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

async function run(argv: string[]): Promise<number> {
  const opts = parseRun(argv);
  quietWasiWarning();
  const { instantiateWasi, formatStats } = await import('./wasm/wasi.js');
  let bytes: Buffer;
  try {
    bytes = readFileSync(opts.program);
  } catch (e) {
    process.stderr.write(`webmalloc run: cannot read ${opts.program}: ${(e as Error).message}\n`);
    return 1;
  }
  const inst = await instantiateWasi(bytes, {
    programName: opts.program,
    args: opts.args,
    env: opts.env,
    preopens: opts.preopens,
    checked: opts.checked,
  });
  if (!inst.command) {
    process.stderr.write(`webmalloc run: ${opts.program} has no _start (it is a library/reactor module)\n`);
    return 1;
  }
  const result = inst.start();
  if (result.error !== undefined && result.misuse === undefined) {
    process.stderr.write(`webmalloc run: ${opts.program} trapped: ${String((result.error as Error).message ?? result.error)}\n`);
  }
  if (opts.stats !== undefined) {
    const stats = inst.allocator.stats();
    process.stderr.write(opts.stats === 'json' ? JSON.stringify(stats) + '\n' : formatStats(stats, 'webmalloc heap statistics at exit') + '\n');
  }
  return result.exitCode;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(rest);
    case 'version':
    case '--version':
      process.stdout.write(version() + '\n');
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`webmalloc: ${e.message}\n\n${USAGE}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`webmalloc: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  },
);
