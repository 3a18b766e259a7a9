#!/usr/bin/env bash
# Builds the C programs of the wasm drop-in tests and benchmark (test/wasm/*.c) into test/wasm/prebuilt/ when
# they are missing or out of date, installing the toolchains with apt-get when needed. See
# scripts/build-wasm-tests.mjs for the options (--check, --force, --no-install, --list, NAME...).
set -euo pipefail
here="${BASH_SOURCE[0]%/*}"
[ "$here" != "${BASH_SOURCE[0]}" ] || here=.
exec node "$here/build-wasm-tests.mjs" "$@"
