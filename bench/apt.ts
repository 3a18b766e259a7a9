// A tool a benchmark script needs (valgrind, perf), installed with apt-get when it is missing and the machine
// allows it (root, or sudo without a password); else the script says what to install and stops.

import { spawnSync } from 'node:child_process';

/** Make sure `command` runs (`command ...probe` exits 0), installing Debian package `pkg` if not. */
export function ensureInstalled(command: string, probe: string[], pkg: string, script: string): void {
  if (spawnSync(command, probe).status === 0) return;
  console.log(`${command} is not installed: installing it with apt-get (Debian package ${pkg})`);
  const [cmd, ...pre] = process.getuid?.() === 0 ? ['apt-get'] : ['sudo', '-n', 'apt-get'];
  const apt = (args: string[]) => spawnSync(cmd!, [...pre, ...args], { stdio: 'ignore' }).status === 0;
  if (!apt(['install', '-y', '--no-install-recommends', pkg]) && !(apt(['update']) && apt(['install', '-y', '--no-install-recommends', pkg]))) {
    console.error(`${script} needs ${command}, and apt-get could not install it (not root, or no package source): install ${pkg} and run again.`);
    process.exit(1);
  }
}
