/*
 * dlmalloc in wasm: the allocator a JS + wasm user has today. wasi-libc's malloc family (Doug Lea's dlmalloc,
 * built into libc.a) is linked into a small wasm module (a WASI "reactor": no main), and the benchmark calls its
 * exported malloc/free/calloc/realloc/aligned_alloc from JS, one call per operation, as a JS program that
 * keeps its data in wasm memory would.
 *
 * The libc functions themselves are exported by the linker (--export=malloc and so on, see
 * scripts/build-wasm-peers.sh), so no wrapper sits between JS and dlmalloc. This file adds only:
 *   - references that make sure the functions are linked in even if an export flag is dropped;
 *   - wm_* helpers that run a workload's loop inside wasm, to show what the JS-to-wasm call costs on top of
 *     dlmalloc itself (not what the benchmark's main figures use).
 *
 * Build: scripts/build-wasm-peers.sh (clang --target=wasm32-wasi -mexec-model=reactor, -O2, -fno-builtin, no
 * wasm-opt). The module imports nothing; JS calls its _initialize export once before anything else.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))

/* Keep the malloc family in the link whatever the flags say. */
EXPORT("wm_functions")
uintptr_t wm_functions(void) {
  return (uintptr_t)&malloc ^ (uintptr_t)&free ^ (uintptr_t)&calloc ^ (uintptr_t)&realloc ^
         (uintptr_t)&aligned_alloc;
}

/* Version of the exported interface, checked by bench/peers/dlmalloc-wasm.ts. */
EXPORT("wm_abi_version")
int wm_abi_version(void) { return 1; }

/* pairs-N inside wasm: `iters` times malloc(size), write its first and last byte, free. Returns a checksum
 * of bytes read back (so that nothing can be optimised away), or -1 when malloc failed. */
EXPORT("wm_pairs")
int wm_pairs(size_t size, uint32_t iters) {
  uint32_t acc = 0;
  for (uint32_t i = 0; i < iters; i++) {
    volatile unsigned char *p = malloc(size);
    if (!p) return -1;
    p[0] = (unsigned char)i;
    p[size - 1] = (unsigned char)(i >> 8);
    acc += p[0];
    free((void *)p);
  }
  return (int)(acc & 0x7fffffff);
}

/* batch inside wasm: `rounds` times allocate `count` blocks of `size` bytes into `slots` (an array of
 * `count` pointers the caller allocated in wasm memory), then free them in allocation order. */
EXPORT("wm_batch")
int wm_batch(void **slots, uint32_t count, size_t size, uint32_t rounds) {
  uint32_t acc = 0;
  for (uint32_t r = 0; r < rounds; r++) {
    for (uint32_t i = 0; i < count; i++) {
      volatile unsigned char *p = malloc(size);
      if (!p) return -1;
      p[0] = (unsigned char)i;
      slots[i] = (void *)p;
    }
    for (uint32_t i = 0; i < count; i++) {
      acc += ((volatile unsigned char *)slots[i])[0];
      free(slots[i]);
    }
  }
  return (int)(acc & 0x7fffffff);
}
