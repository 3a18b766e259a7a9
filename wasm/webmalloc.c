/*
 * webmalloc.c: the C allocation API of a wasm32 program, taken from webmalloc (see webmalloc.h).
 *
 * Each call is one call of a wasm import; the C side only does what C specifies and JavaScript does not
 * know: errno, overflow checks, the alignment rules of posix_memalign and aligned_alloc, and aborting on
 * a misuse. Build it with -fno-builtin (or at least -fno-builtin-malloc and friends).
 *
 * The imports (all i32; JS reads pointers and sizes with >>> 0):
 *   malloc(size) -> p           0 when out of memory
 *   calloc(count, size) -> p    zeroed; 0 when out of memory (count * size does not overflow: checked here)
 *   realloc(p, size) -> q       0 when out of memory (p is untouched), or an error code below
 *   aligned_alloc(align, size)  align is a power of two; 0 when out of memory
 *   free(p) -> status           0, or an error code below (nothing was changed)
 *   usable_size(p) -> n         n >= 8, or an error code below
 *   check() -> problems, collect(), stat(which) -> n  (0 live bytes, 1 live blocks, 2 memory size, 3 threads)
 * Error codes are 1 (not a live block: never allocated, interior, outside the heap) and 2 (double free).
 * Blocks are 8-byte aligned, so neither code is ever a pointer, and a usable size is at least 8.
 */
#include "webmalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef __cplusplus /* em++ and clang++ compile a .c file as C++ */
extern "C" {
#endif

#if defined(__EMSCRIPTEN__)
/* Emscripten resolves imports from its JS libraries (module "env"): wasm/webmalloc-emscripten.js. */
#define WM_IMPORT(name)
#else
#define WM_IMPORT(name) __attribute__((import_module("webmalloc"), import_name(#name)))
#endif

WM_IMPORT(malloc) void *webmalloc_js_malloc(size_t size);
WM_IMPORT(calloc) void *webmalloc_js_calloc(size_t count, size_t size);
WM_IMPORT(realloc) void *webmalloc_js_realloc(void *ptr, size_t size);
WM_IMPORT(aligned_alloc) void *webmalloc_js_aligned_alloc(size_t alignment, size_t size);
WM_IMPORT(free) int webmalloc_js_free(void *ptr);
WM_IMPORT(usable_size) size_t webmalloc_js_usable_size(void *ptr);
WM_IMPORT(check) int webmalloc_js_check(void);
WM_IMPORT(collect) void webmalloc_js_collect(void);
WM_IMPORT(stat) size_t webmalloc_js_stat(int which);

#define WM_INVALID 1u
#define WM_DOUBLE_FREE 2u
#define WM_PAGE 4096u

/* -------------------------------------------------------------------------------------------- misuse */

static size_t put(char *out, size_t at, const char *s) {
  while (*s) out[at++] = *s++;
  return at;
}

/* Writes "webmalloc: <call>(0x...): <what>" to stderr and aborts. No allocation, no stdio. */
__attribute__((noinline, cold, noreturn)) static void misuse(const char *call, void *ptr, uintptr_t code) {
  char msg[256];
  size_t n = put(msg, 0, "webmalloc: ");
  n = put(msg, n, call);
  n = put(msg, n, "(0x");
  for (int shift = 28; shift >= 0; shift -= 4) msg[n++] = "0123456789abcdef"[((uintptr_t)ptr >> shift) & 15];
  n = put(msg, n, "): ");
  if (code == WM_DOUBLE_FREE)
    n = put(msg, n, call[0] == 'f' ? "double free: the block was freed already" : "use after free: the block was freed already");
  else
    n = put(msg, n, "invalid pointer: not a live block from malloc (never allocated, inside a block, or freed)");
  n = put(msg, n, "; aborting\n");
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(2, msg + done, n - done);
    if (w <= 0) break;
    done += (size_t)w;
  }
  abort();
}

static inline int is_error(uintptr_t v) { return v == WM_INVALID || v == WM_DOUBLE_FREE; }
static inline int is_power_of_two(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* ------------------------------------------------------------------------------------------ the API */

void *malloc(size_t size) {
  void *p = webmalloc_js_malloc(size);
  if (__builtin_expect(p == NULL, 0)) errno = ENOMEM;
  return p;
}

void free(void *ptr) {
  if (ptr == NULL) return;
  int status = webmalloc_js_free(ptr);
  if (__builtin_expect(status != 0, 0)) misuse("free", ptr, (uintptr_t)status);
}

void *calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = webmalloc_js_calloc(count, size);
  if (p == NULL) errno = ENOMEM;
  return p;
}

void *realloc(void *ptr, size_t size) {
  void *q = webmalloc_js_realloc(ptr, size);
  if (__builtin_expect(is_error((uintptr_t)q), 0)) misuse("realloc", ptr, (uintptr_t)q);
  if (q == NULL) errno = ENOMEM;
  return q;
}

void *reallocarray(void *ptr, size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    if (ptr != NULL) malloc_usable_size(ptr); /* still refuse a bad pointer */
    errno = ENOMEM;
    return NULL;
  }
  return realloc(ptr, count * size);
}

void *aligned_alloc(size_t alignment, size_t size) {
  if (!is_power_of_two(alignment)) {
    errno = EINVAL;
    return NULL;
  }
  void *p = webmalloc_js_aligned_alloc(alignment, size);
  if (p == NULL) errno = ENOMEM;
  return p;
}

void *memalign(size_t alignment, size_t size) { return aligned_alloc(alignment, size); }

int posix_memalign(void **memptr, size_t alignment, size_t size) {
  if (!is_power_of_two(alignment) || alignment < sizeof(void *)) return EINVAL;
  void *p = webmalloc_js_aligned_alloc(alignment, size);
  if (p == NULL) return ENOMEM; /* *memptr is left as it was, errno too (POSIX) */
  *memptr = p;
  return 0;
}

void *valloc(size_t size) { return aligned_alloc(WM_PAGE, size); }

void *pvalloc(size_t size) {
  if (size > SIZE_MAX - (WM_PAGE - 1)) {
    errno = ENOMEM;
    return NULL;
  }
  size_t rounded = (size + WM_PAGE - 1) & ~(size_t)(WM_PAGE - 1);
  return aligned_alloc(WM_PAGE, rounded ? rounded : WM_PAGE);
}

size_t malloc_usable_size(void *ptr) {
  if (ptr == NULL) return 0;
  size_t n = webmalloc_js_usable_size(ptr);
  if (__builtin_expect(is_error(n), 0)) misuse("malloc_usable_size", ptr, n);
  return n;
}

int webmalloc_check(void) { return webmalloc_js_check(); }
void webmalloc_collect(void) { webmalloc_js_collect(); }
size_t webmalloc_live_bytes(void) { return webmalloc_js_stat(0); }
size_t webmalloc_live_blocks(void) { return webmalloc_js_stat(1); }
size_t webmalloc_memory_size(void) { return webmalloc_js_stat(2); }
size_t webmalloc_threads(void) { return webmalloc_js_stat(3); }

/* ----------------------------------------------------------------------- what libc calls internally */

#if defined(__wasi__) && !defined(__EMSCRIPTEN__)
/* wasi-libc's dlmalloc.o defines these too; defining them here keeps the linker from pulling it in. */
void *__libc_malloc(size_t size) { return malloc(size); }
void *__libc_calloc(size_t count, size_t size) { return calloc(count, size); }
void __libc_free(void *ptr) { free(ptr); }
#endif

#if defined(__EMSCRIPTEN__)
/* With -sMALLOC=none Emscripten's runtime (pthread stacks and TLS, environ, mmap) calls these. */
void *emscripten_builtin_malloc(size_t size) { return malloc(size); }
void emscripten_builtin_free(void *ptr) { free(ptr); }
void *emscripten_builtin_memalign(size_t alignment, size_t size) { return aligned_alloc(alignment, size); }

/* The end of the module's static data and stack: webmalloc-emscripten.js puts the heap above it. */
extern unsigned char __heap_base;
__attribute__((used, visibility("default"))) size_t webmalloc_heap_base(void) { return (size_t)&__heap_base; }
#endif

#ifdef __cplusplus
}
#endif
