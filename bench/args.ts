// The benchmark scripts' command lines, read with node's util.parseArgs in strict mode: an option a script does
// not know, an option without its value, or a name a list does not know stops the script with its usage. (Each
// script used to look its options up in argv by hand, and ignored the rest: `--ful` ran the quick benchmark,
// `--only pairs16` an empty one.)

import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The options (and, with `positionals`, the other arguments) of `argv`; on an error, the usage and exit code 2. */
export function readArgs<O extends Options>(argv: string[], options: O, usage: string, positionals = false) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: positionals });
  } catch (e) {
    return usageError((e as Error).message, usage);
  }
}

/** The names of a comma-separated list, each one of `known`; undefined when the option was not given. */
export function namesOf<T extends string>(value: string | undefined, known: readonly T[], usage: string): T[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').filter(Boolean);
  const unknown = names.filter((n) => !(known as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) usageError(`unknown name(s) "${unknown.join(',') || value}"; known: ${known.join(', ')}`, usage);
  return names as T[];
}

/** One name of `known` (an option's value or a positional argument); undefined when not given. */
export function nameOf<T extends string>(value: string | undefined, known: readonly T[], usage: string): T | undefined {
  const names = namesOf(value, known, usage);
  if (names !== undefined && names.length !== 1) usageError(`one name only, not "${value}"`, usage);
  return names?.[0];
}

/** A whole number of at least `least` (an option's value), else a usage error; `fallback` when not given. */
export function countOf(value: string | undefined, fallback: number, option: string, usage: string, least = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < least) usageError(`--${option} takes a whole number of at least ${least}, not "${value}"`, usage);
  return n;
}

export function usageError(message: string, usage: string): never {
  console.error(`${message}\nusage: ${usage}`);
  process.exit(2);
}
