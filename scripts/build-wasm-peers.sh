#!/usr/bin/env bash
# Builds the wasm peers of the webmalloc benchmark: bench/wasm/dlmalloc.wasm, wasi-libc's malloc (dlmalloc)
# in a small wasm module whose malloc/free/calloc/realloc/aligned_alloc JS calls directly.
#
# usage: scripts/build-wasm-peers.sh [--check] [--force] [--no-install]
#   (none)        build when the module is missing or out of date; do nothing when it is up to date
#   --check       only say whether bench/wasm/dlmalloc.wasm is up to date (exit 0) or not (exit 1)
#   --force       build even when up to date
#   --no-install  never call apt-get (fail when the toolchain is missing)
#
# The module is kept in git with bench/wasm/dlmalloc.wasm.json beside it, which records the sha256 of
# dlmalloc.c, the build flags, the sha256 of the module and the toolchain that made it. "Up to date" means:
# the source's and the flags' hashes match and the module's hash matches. Machines without apt use the
# checked-in module; bench/peers/dlmalloc-wasm.ts refuses a module whose recorded source hash is not that
# of dlmalloc.c.
#
# Toolchain (Debian 12 packages, installed with apt-get when missing): clang, lld (wasm-ld), wasi-libc,
# libclang-rt-<clang major>-dev-wasm32. binaryen's wasm-opt is kept out of clang's reach (see below) so that
# clang cannot run it behind our back: the module is exactly what clang -O2 and wasm-ld made.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/bench/wasm"
SRC="$DIR/dlmalloc.c"
WASM="$DIR/dlmalloc.wasm"
META="$DIR/dlmalloc.wasm.json"
WASI_SYSROOT_LIB=/usr/lib/wasm32-wasi
WASI_SYSROOT_INC=/usr/include/wasm32-wasi

MODE=build
INSTALL=1
say() { printf 'build-wasm-peers: %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --check) MODE=check ;;
    --force) MODE=force ;;
    --no-install) INSTALL=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) fail "unknown argument '$1' (try --help)" ;;
  esac
  shift
done

# The exact flags; part of the freshness hash. Paths that differ between machines are not in here.
EXPORTS="malloc free calloc realloc aligned_alloc posix_memalign"
# -mexec-model=reactor: no _start; an _initialize export (JS calls it once) and, unlike a --no-entry
# "command" link, no wrapper around every export that runs the constructors and destructors on each call.
CFLAGS="--target=wasm32-wasi -mexec-model=reactor -O2 -fno-builtin -nostdinc -Wall -Wextra"
LDFLAGS="-Wl,--strip-debug -Wl,--max-memory=4294967296"
for e in $EXPORTS; do LDFLAGS="$LDFLAGS -Wl,--export=$e"; done
FLAGS="$CFLAGS $LDFLAGS"

sha() { sha256sum "$1" | awk '{print $1}'; }
SRC_SHA="$(sha "$SRC")"
FLAGS_SHA="$(printf '%s' "$FLAGS" | sha256sum | awk '{print $1}')"

meta_field() { # name -> value of a top-level string field of $META ("" when absent)
  [ -f "$META" ] || { echo ""; return; }
  node -e 'const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(String(m[process.argv[2]] ?? ""))' "$META" "$1"
}

up_to_date() {
  [ -f "$WASM" ] && [ -f "$META" ] || { REASON="no built module"; return 1; }
  [ "$(meta_field sourceSha256)" = "$SRC_SHA" ] || { REASON="dlmalloc.c changed since the module was built"; return 1; }
  [ "$(meta_field flagsSha256)" = "$FLAGS_SHA" ] || { REASON="the build flags changed"; return 1; }
  [ "$(meta_field wasmSha256)" = "$(sha "$WASM")" ] || { REASON="dlmalloc.wasm is not the module recorded in dlmalloc.wasm.json"; return 1; }
  return 0
}

REASON=""
if up_to_date; then
  say "bench/wasm/dlmalloc.wasm is up to date (source sha256 ${SRC_SHA:0:12}, built with $(meta_field clang))"
  [ "$MODE" = force ] || exit 0
elif [ "$MODE" = check ]; then
  say "bench/wasm/dlmalloc.wasm is out of date: $REASON (run scripts/build-wasm-peers.sh)"
  exit 1
else
  say "building bench/wasm/dlmalloc.wasm: $REASON"
fi
[ "$MODE" = check ] && exit 0

# ---------------------------------------------------------------------------------------------- toolchain
toolchain_ok() {
  command -v clang >/dev/null 2>&1 && command -v wasm-ld >/dev/null 2>&1 \
    && [ -f "$WASI_SYSROOT_LIB/libc.a" ] && [ -f "$WASI_SYSROOT_INC/stdlib.h" ] \
    && [ -f "$(clang --target=wasm32-wasi -print-libgcc-file-name 2>/dev/null)" ]
}

apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  say "apt-get install $*"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 && return 0
  $sudo apt-get update >/dev/null 2>&1 || true
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1
}

if ! toolchain_ok; then
  if [ "$INSTALL" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    say "the wasm toolchain is incomplete: installing it with apt-get"
    apt_install clang lld wasi-libc || say "WARNING: apt-get install clang lld wasi-libc failed"
    if command -v clang >/dev/null 2>&1; then
      MAJOR="$(clang -dumpversion | cut -d. -f1)"
      apt_install "libclang-rt-$MAJOR-dev-wasm32" || apt_install libclang-rt-dev-wasm32 \
        || say "WARNING: could not install libclang-rt-$MAJOR-dev-wasm32 (compiler-rt builtins for wasm32)"
    fi
  fi
  if ! toolchain_ok; then
    command -v clang >/dev/null 2>&1 || say "missing: clang (Debian package clang)"
    command -v wasm-ld >/dev/null 2>&1 || say "missing: wasm-ld (Debian package lld)"
    [ -f "$WASI_SYSROOT_LIB/libc.a" ] || say "missing: $WASI_SYSROOT_LIB/libc.a (Debian package wasi-libc)"
    command -v clang >/dev/null 2>&1 && [ ! -f "$(clang --target=wasm32-wasi -print-libgcc-file-name)" ] \
      && say "missing: $(clang --target=wasm32-wasi -print-libgcc-file-name) (Debian package libclang-rt-N-dev-wasm32)"
    if [ -f "$WASM" ]; then
      fail "cannot build: the wasm toolchain is missing and could not be installed; the checked-in bench/wasm/dlmalloc.wasm is out of date ($REASON)"
    fi
    fail "cannot build: the wasm toolchain is missing and could not be installed"
  fi
fi

# Keep binaryen's wasm-opt out of reach. clang runs wasm-opt after linking when it finds one, and it looks
# in its own directory as well as in PATH: /usr/bin/clang is a symlink, so the driver invoked as /usr/bin/clang
# finds /usr/bin/wasm-opt (installed with emscripten's binaryen) whatever PATH says. So: call the driver where
# it really lives (/usr/lib/llvm-N/bin, no wasm-opt there), with a PATH holding only a symlink to the linker,
# and check with -### (the list of commands clang would run) that wasm-opt is not among them.
CLANG="$(readlink -f "$(command -v clang)")"
CLANG_DIR="$(dirname "$CLANG")"
[ ! -e "$CLANG_DIR/wasm-opt" ] || fail "$CLANG_DIR holds a wasm-opt: clang would run it (remove it or build elsewhere)"
MAJOR="$("$CLANG" -dumpversion | cut -d. -f1)"
WASM_LD="$(command -v "wasm-ld-$MAJOR" || command -v wasm-ld)" || fail "no wasm-ld (Debian package lld)"
RESOURCE_INC="$("$CLANG" -print-resource-dir)/include"
CLANG_VERSION="$("$CLANG" --version | head -n 1)"
WASI_VERSION="$(dpkg-query -W -f '${Version}' wasi-libc 2>/dev/null || echo unknown)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/bin"
ln -s "$WASM_LD" "$TMP/bin/wasm-ld"
ln -s "$WASM_LD" "$TMP/bin/wasm-ld-$MAJOR"
# shellcheck disable=SC2086 # the flag strings are meant to split
CLANG_ARGS=($CFLAGS -isystem "$RESOURCE_INC" -isystem "$WASI_SYSROOT_INC" $LDFLAGS -o "$TMP/dlmalloc.wasm" "$SRC")
PLAN="$(env -i PATH="$TMP/bin" HOME="${HOME:-/tmp}" TMPDIR="$TMP" "$CLANG" -### "${CLANG_ARGS[@]}" 2>&1)" \
  || fail "clang -### failed: $PLAN"
if printf '%s\n' "$PLAN" | grep -q 'wasm-opt'; then
  fail "clang would run wasm-opt after linking (the module must be exactly what clang and wasm-ld made):
$PLAN"
fi
env -i PATH="$TMP/bin" HOME="${HOME:-/tmp}" TMPDIR="$TMP" "$CLANG" "${CLANG_ARGS[@]}" || fail "clang failed"

# Smoke test: it loads with no imports, exports what the peer needs, and malloc/free work from JS.
node -e '
  const bytes = require("fs").readFileSync(process.argv[1]);
  const mod = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(mod);
  if (imports.length) console.error("note: the module imports", imports.map((i) => i.module + "." + i.name).join(", "));
  const stub = {};
  for (const i of imports) (stub[i.module] ??= {})[i.name] = () => 52;
  const ex = new WebAssembly.Instance(mod, stub).exports;
  ex._initialize();
  for (const n of ["memory", "_initialize", "malloc", "free", "calloc", "realloc", "aligned_alloc", "wm_abi_version"])
    if (!(n in ex)) throw new Error("missing export " + n);
  const a = ex.malloc(100) >>> 0, b = ex.aligned_alloc(4096, 10) >>> 0, c = ex.malloc(8 << 20) >>> 0;
  if (!a || !b || b % 4096 || !c) throw new Error("malloc smoke test failed");
  ex.free(a); ex.free(b); ex.free(c);
' "$TMP/dlmalloc.wasm" || fail "the built module failed its smoke test"

mv "$TMP/dlmalloc.wasm" "$WASM"
chmod 644 "$WASM"
WASM_SHA="$(sha "$WASM")"
WASM_BYTES="$(stat -c %s "$WASM")"
node -e '
  const [out, src, flags, srcSha, flagsSha, wasmSha, bytes, clang, wasi, exports] = process.argv.slice(1);
  const meta = {
    note: "written by scripts/build-wasm-peers.sh: the checked-in dlmalloc.wasm is the build of this source with these flags",
    source: src, sourceSha256: srcSha, flags, flagsSha256: flagsSha, exports: exports.split(" "),
    wasmSha256: wasmSha, wasmBytes: Number(bytes), clang, wasiLibc: wasi,
  };
  require("fs").writeFileSync(out, JSON.stringify(meta, null, 2) + "\n");
' "$META" "bench/wasm/dlmalloc.c" "$FLAGS" "$SRC_SHA" "$FLAGS_SHA" "$WASM_SHA" "$WASM_BYTES" "$CLANG_VERSION" "$WASI_VERSION" "$EXPORTS"
say "built bench/wasm/dlmalloc.wasm ($WASM_BYTES bytes, sha256 ${WASM_SHA:0:12}) with $CLANG_VERSION, wasi-libc $WASI_VERSION"
