/*
 * webmalloc.h: webmalloc as the malloc of a C or C++ program compiled to WebAssembly.
 *
 * Compile wasm/webmalloc.c into the program (it defines malloc, free, calloc, realloc, reallocarray,
 * aligned_alloc, posix_memalign, memalign, valloc, pvalloc, malloc_usable_size and libc's internal
 * __libc_malloc/__libc_calloc/__libc_free), with -fno-builtin so that the compiler keeps every call:
 *
 *   clang --target=wasm32-wasi -O2 -fno-builtin -Wl,--export=__heap_base \
 *         -o program.wasm program.c path/to/webmalloc/wasm/webmalloc.c
 *   npx webmalloc run program.wasm args...
 *
 * The linked module has no allocator of its own (no dlmalloc, no sbrk, no memory.grow): each of those
 * calls is one call of a wasm import, module "webmalloc", which the JS API in webmalloc's package provides
 * (instantiateWithWebmalloc, webmallocImports). webmalloc manages the module's memory above __heap_base,
 * so JavaScript can read, write, allocate and free the same blocks.
 *
 * With Emscripten (-sMALLOC=none), the imports come from wasm/webmalloc-emscripten.js instead; see
 * wasm/README.md. That is also how pthreads work: every worker attaches to the same heap.
 *
 * Errors follow C:
 *   - out of memory: NULL, errno = ENOMEM;
 *   - posix_memalign with an alignment that is not a power of two multiple of sizeof(void *): EINVAL;
 *     aligned_alloc and memalign with an alignment that is not a power of two: NULL, errno = EINVAL;
 *   - free, realloc or malloc_usable_size of a pointer that is not a live block (never allocated, interior,
 *     already freed): a message on stderr and abort(), before anything in the heap changes. Double frees
 *     of small blocks are caught when the heap is in checked mode (the default of the JS API).
 */
#ifndef WEBMALLOC_H
#define WEBMALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEBMALLOC_WASM_ABI 1

void *malloc(size_t size);
void free(void *ptr);
void *calloc(size_t count, size_t size);
void *realloc(void *ptr, size_t size);
void *reallocarray(void *ptr, size_t count, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
int posix_memalign(void **memptr, size_t alignment, size_t size);
void *memalign(size_t alignment, size_t size);
void *valloc(size_t size);
void *pvalloc(size_t size);
size_t malloc_usable_size(void *ptr);

/* Validates the whole heap (call it while no other thread allocates). Returns 0 when it is consistent,
   otherwise the number of problems found; the host prints them. */
int webmalloc_check(void);

/* Returns this thread's unused pages to the shared pool. */
void webmalloc_collect(void);

/* Figures of the heap now (exact when no other thread allocates): the bytes of blocks handed out and not
   freed, their number, and the length of the whole memory in bytes. */
size_t webmalloc_live_bytes(void);
size_t webmalloc_live_blocks(void);
size_t webmalloc_memory_size(void);
/* Allocator threads attached to the heap (the main thread and one per worker that has allocated). */
size_t webmalloc_threads(void);

#ifdef __cplusplus
}
#endif

#endif /* WEBMALLOC_H */
