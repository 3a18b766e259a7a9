#!/usr/bin/env bash
# Native reference figures for the webmalloc benchmark: builds bench/native/workloads.c, runs it once with
# glibc's malloc and once with mimalloc (LD_PRELOAD of Debian's libmimalloc2.0), and writes every result line
# into one JSON array, bench/results/native.json by default, each entry with an "allocator" field.
#
# usage: scripts/bench-native.sh [--quick] [--only NAME] [--out FILE] [--no-install] [--no-mimalloc]
#   --quick        small counts (each allocator's run takes a few seconds)
#   --only NAME    one workload (see bench/native/build/workloads --list)
#   --out FILE     where to write the JSON array (default bench/results/native.json)
#   --no-install   never call apt-get; run mimalloc only if it is already installed
#   --no-mimalloc  glibc only
#
# Only one benchmark may run at a time on this machine: the runs hold an flock on
# ${TMPDIR:-/tmp}/webmalloc-bench.lock (other benchmark scripts should take the same lock), unless
# WEBMALLOC_BENCH_LOCK_HELD=1 says that the caller holds it already.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$ROOT/bench/native/workloads.c"
BUILD="$ROOT/bench/native/build"
BIN="$BUILD/workloads"
OUT="$ROOT/bench/results/native.json"
QUICK=()
ONLY=()
INSTALL=1
MIMALLOC=1

say() { printf 'bench-native: %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick) ;;
    --only) [ $# -ge 2 ] || fail "--only needs a workload name"; ONLY=(--only "$2"); shift ;;
    --out) [ $# -ge 2 ] || fail "--out needs a file name"; OUT="$2"; shift ;;
    --no-install) INSTALL=0 ;;
    --no-mimalloc) MIMALLOC=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) fail "unknown argument '$1' (try --help)" ;;
  esac
  shift
done

# ---------------------------------------------------------------------------------------------- build
CC="${CC:-cc}"
command -v "$CC" >/dev/null 2>&1 || fail "no C compiler '$CC' (apt-get install gcc)"
CFLAGS=(-O2 -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
        -fno-builtin-aligned_alloc -pthread -Wall -Wextra)
mkdir -p "$BUILD"
if [ ! -x "$BIN" ] || [ "$SRC" -nt "$BIN" ] || [ "$0" -nt "$BIN" ]; then
  say "building $BIN with $("$CC" --version | head -n 1)"
  "$CC" "${CFLAGS[@]}" -o "$BIN" "$SRC" || fail "compiling $SRC failed"
fi

# ---------------------------------------------------------------------------------------------- mimalloc
find_mimalloc() {
  local f
  for f in /usr/lib/x86_64-linux-gnu/libmimalloc.so.2 /usr/lib/*/libmimalloc.so.2 /usr/lib/libmimalloc.so.2; do
    [ -e "$f" ] && { printf '%s\n' "$f"; return 0; }
  done
  f="$(ldconfig -p 2>/dev/null | awk '/libmimalloc\.so\.2 /{print $NF; exit}')"
  [ -n "$f" ] && [ -e "$f" ] && { printf '%s\n' "$f"; return 0; }
  return 1
}

MI_LIB=""
if [ "$MIMALLOC" = 1 ]; then
  if ! MI_LIB="$(find_mimalloc)"; then
    MI_LIB=""
    if [ "$INSTALL" = 1 ] && command -v apt-get >/dev/null 2>&1; then
      SUDO=""
      [ "$(id -u)" = 0 ] || SUDO="sudo -n"
      say "libmimalloc is not installed: installing Debian's libmimalloc2.0 with apt-get"
      if $SUDO apt-get install -y --no-install-recommends libmimalloc2.0 >/dev/null 2>&1 \
         || { $SUDO apt-get update >/dev/null 2>&1 \
              && $SUDO apt-get install -y --no-install-recommends libmimalloc2.0 >/dev/null 2>&1; }; then
        MI_LIB="$(find_mimalloc || true)"
      fi
    fi
    if [ -z "$MI_LIB" ]; then
      say "WARNING: mimalloc is NOT available (apt-get install libmimalloc2.0 failed or was not allowed):"
      say "         only glibc figures will be written."
    fi
  fi
fi

# ---------------------------------------------------------------------------------------------- run
# WEBMALLOC_BENCH_LOCK_HELD=1: the caller (npm run bench) holds the lock already; taking it again from here
# would wait for ourselves.
LOCK="${TMPDIR:-/tmp}/webmalloc-bench.lock"
if [ "${WEBMALLOC_BENCH_LOCK_HELD:-}" != 1 ]; then
  exec 9>"$LOCK"
  if ! flock -n 9; then
    say "another benchmark holds $LOCK: waiting for it to finish (at most 15 minutes)"
    flock -w 900 9 || fail "gave up waiting for $LOCK"
  fi
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

run_one() { # allocator-name version preload-or-empty
  local name="$1" version="$2" preload="$3" log="$TMP/$1.jsonl"
  say "running workloads with $name $version${QUICK:+ (quick)}"
  local rc=0
  if [ -n "$preload" ]; then
    LD_PRELOAD="$preload" "$BIN" "${QUICK[@]}" "${ONLY[@]}" --label "$name" >"$log" || rc=$?
  else
    "$BIN" "${QUICK[@]}" "${ONLY[@]}" --label "$name" >"$log" || rc=$?
  fi
  [ "$rc" = 0 ] || say "WARNING: the $name run exited with $rc (results it printed are kept)"
  # add the version to every line
  sed -i "s/^{\"allocator\":\"$name\",/{\"allocator\":\"$name\",\"allocator_version\":\"$version\",/" "$log"
  if [ -n "$preload" ] && ! grep -q '"malloc_from":"libmimalloc' "$log"; then
    say "WARNING: LD_PRELOAD=$preload did not take effect (malloc_from is not libmimalloc): dropping those results"
    : >"$log"
  fi
  printf '%s\n' "$log"
}

GLIBC_VERSION="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
LOGS=("$(run_one glibc "${GLIBC_VERSION:-unknown}" "")")
if [ -n "$MI_LIB" ]; then
  MI_VERSION="$(dpkg-query -W -f '${Version}' libmimalloc2.0 2>/dev/null || echo unknown)"
  LOGS+=("$(run_one mimalloc "$MI_VERSION" "$MI_LIB")")
fi

# ---------------------------------------------------------------------------------------------- write
mkdir -p "$(dirname "$OUT")"
cat "${LOGS[@]}" | node -e '
  const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l.trim() !== "");
  const rows = lines.map((l) => JSON.parse(l));
  process.stdout.write("[\n" + rows.map((r) => "  " + JSON.stringify(r)).join(",\n") + "\n]\n");
  for (const r of rows)
    process.stderr.write(`  ${r.allocator.padEnd(9)} ${r.workload.padEnd(13)} threads ${String(r.threads).padStart(2)}` +
      `  ${r.ns_per_op.toFixed(2).padStart(10)} ns/op  ${(r.ops_per_sec / 1e6).toFixed(1).padStart(7)} Mops/s` +
      `  peak RSS ${(r.peak_rss_bytes / 1048576).toFixed(1)} MiB\n`);
' >"$TMP/native.json" || fail "could not assemble the results (is node installed?)"
mv "$TMP/native.json" "$OUT"
say "wrote $(grep -c '"workload"' "$OUT") results to $OUT"
